"""Running one probe: HTTP(S), TCP, DNS, SMTP banner, TLS certificate, ICMP echo.

Every check is bounded by the probe's ``timeout`` as a whole (connect, TLS, request, body) and
turns every failure of the target into a ``down`` result with its reason in words; nothing a
server does (hang, reset, answer slowly, send garbage, present an expired certificate) raises
out of :meth:`Prober.check`. What cannot be probed from here (no ICMP socket allowed, a name of
the reserved documentation domains) is ``unknown``, never ``down``.

Names under ``.example``, ``.invalid`` and ``.test`` and the documentation address ranges are
never probed: the worked model uses them, and a probe must not send traffic to a hospital that
does not exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import time
from datetime import UTC, datetime

import httpx

from sentinelle.hospital.probes import ProbeKind, ProbeSpec
from sentinelle.terminal import printable
from sentinelle.watch.icmp import IcmpUnavailable, ping
from sentinelle.watch.outcome import Result, Status

MAX_BODY = 1 << 20  # bytes of an HTTP body searched for ``expect_text``
MAX_BANNER = 4096
_RESERVED_SUFFIXES = (".example", ".invalid", ".test")
_DOCUMENTATION_NETS = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)


def documentation_name(host: str) -> bool:
    """A name or address reserved for documentation (RFC 2606, 5737, 3849): never probed."""
    name = host.strip().rstrip(".").lower()
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return any(name.endswith(s) or name == s[1:] for s in _RESERVED_SUFFIXES)
    return any(address.version == n.version and address in n for n in _DOCUMENTATION_NETS)


class Failed(Exception):
    """A check found the target not working; the message is the reason shown to people."""


class Prober:
    """Runs checks; holds the HTTP clients (pooled connections) between runs. Close it."""

    def __init__(self, max_connections: int = 200) -> None:
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=50)
        self._clients = {
            verify: httpx.AsyncClient(
                verify=verify,
                limits=limits,
                follow_redirects=True,
                max_redirects=5,
                headers={"User-Agent": "sentinelle-probe"},
                trust_env=False,  # a probe goes to the target, never through a proxy
            )
            for verify in (True, False)
        }

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    async def __aenter__(self) -> Prober:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def check(self, spec: ProbeSpec) -> Result:
        """Run ``spec`` once; never raises for anything the target does."""
        started = time.perf_counter()
        reserved = [h for h in (spec.host, spec.server.rpartition(":")[0] or spec.server) if h]
        if any(documentation_name(h) for h in reserved):
            return Result(spec.id, Status.UNKNOWN, "not probed: a documentation name", time.time())
        try:
            async with asyncio.timeout(spec.timeout):
                status, reason, elapsed = await self._run(spec)
        except TimeoutError:
            status, reason, elapsed = Status.DOWN, f"no answer in {spec.timeout:g}s", None
        except Failed as exc:
            status, reason, elapsed = Status.DOWN, str(exc), None
        except IcmpUnavailable as exc:
            status, reason, elapsed = Status.UNKNOWN, f"ICMP unavailable: {exc}", None
        except (OSError, httpx.HTTPError, ssl.SSLError, ValueError, UnicodeError) as exc:
            status, reason, elapsed = Status.DOWN, _reason(exc), None
        if elapsed is None and status is Status.DOWN:
            elapsed = time.perf_counter() - started
        return Result(spec.id, status, printable(reason)[:500], time.time(), elapsed)

    async def _run(self, spec: ProbeSpec) -> tuple[Status, str, float | None]:
        if spec.kind is ProbeKind.HTTP:
            return await self._http(spec)
        if spec.kind is ProbeKind.TCP:
            return await _tcp(spec)
        if spec.kind is ProbeKind.SMTP:
            return await _smtp(spec)
        if spec.kind is ProbeKind.TLS:
            return await _tls(spec)
        if spec.kind is ProbeKind.DNS:
            from sentinelle.watch.dns import resolve

            return await resolve(spec)
        return await _icmp(spec)

    async def _http(self, spec: ProbeSpec) -> tuple[Status, str, float | None]:
        client = self._clients[spec.verify]
        started = time.perf_counter()
        timeout = httpx.Timeout(spec.timeout)
        async with client.stream("GET", spec.target, timeout=timeout) as response:
            elapsed = time.perf_counter() - started
            code = response.status_code
            wanted = code in spec.expect_status if spec.expect_status else 200 <= code < 400
            if not wanted:
                raise Failed(f"HTTP {code} {response.reason_phrase}".strip())
            if spec.expect_text:
                seen = await _read_capped(response, MAX_BODY)
                if spec.expect_text.encode() not in seen:
                    raise Failed(f"HTTP {code}, but the page does not contain the expected text")
        return _timed(spec, elapsed, f"HTTP {code}")


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


def _timed(spec: ProbeSpec, elapsed: float, what: str) -> tuple[Status, str, float]:
    shown = f"{what} in {elapsed * 1000:.0f} ms"
    if spec.max_response is not None and elapsed > spec.max_response:
        return Status.DEGRADED, f"{shown}, slower than {spec.max_response:g}s", elapsed
    return Status.UP, shown, elapsed


async def _tcp(spec: ProbeSpec) -> tuple[Status, str, float | None]:
    started = time.perf_counter()
    _reader, writer = await asyncio.open_connection(spec.host, spec.port)
    elapsed = time.perf_counter() - started
    writer.close()
    await _closed(writer)
    return _timed(spec, elapsed, f"port {spec.port} open")


async def _closed(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ssl.SSLError):  # a reset as we leave changes nothing
        await writer.wait_closed()


async def _smtp(spec: ProbeSpec) -> tuple[Status, str, float | None]:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(spec.host, spec.port, limit=MAX_BANNER)
    try:
        lines: list[str] = []
        while True:  # a greeting may run over several "220-" lines before the "220 " one
            raw = await reader.readline()
            if not raw:
                raise Failed("the server closed the connection without a greeting")
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(line)
            if len(line) < 4 or line[3] != "-" or len(lines) >= 20:
                break
        elapsed = time.perf_counter() - started
        banner = " ".join(lines)
        if not lines[-1].startswith("220"):
            raise Failed(f"greeting is not 220: {banner[:200]}")
        if spec.expect_text and spec.expect_text not in banner:
            raise Failed(f"banner lacks {spec.expect_text!r}: {banner[:200]}")
        writer.write(b"QUIT\r\n")
        return Status.UP, f"{banner[:120]} ({elapsed * 1000:.0f} ms)", elapsed
    finally:
        writer.close()
        await _closed(writer)


async def _tls(spec: ProbeSpec) -> tuple[Status, str, float | None]:
    from cryptography import x509

    started = time.perf_counter()
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    server_name = None if _is_address(spec.host) else spec.host
    _reader, writer = await asyncio.open_connection(
        spec.host, spec.port, ssl=insecure, server_hostname=server_name
    )
    try:
        obj = writer.get_extra_info("ssl_object")
        der = obj.getpeercert(binary_form=True) if obj is not None else None
    finally:
        writer.close()
        await _closed(writer)
    elapsed = time.perf_counter() - started
    if not der:
        raise Failed("the server presented no certificate")
    cert = x509.load_der_x509_certificate(der)
    expires = cert.not_valid_after_utc
    left = (expires - datetime.now(UTC)).total_seconds() / 86_400
    day = expires.strftime("%Y-%m-%d")
    if left < 0:
        raise Failed(f"certificate expired on {day}")
    if cert.not_valid_before_utc > datetime.now(UTC):
        raise Failed(f"certificate not valid before {cert.not_valid_before_utc:%Y-%m-%d}")
    if spec.verify:
        verified = ssl.create_default_context()
        try:
            _r, checked = await asyncio.open_connection(
                spec.host, spec.port, ssl=verified, server_hostname=server_name
            )
        except ssl.SSLCertVerificationError as exc:
            raise Failed(f"certificate not trusted: {exc.verify_message}") from None
        checked.close()
        await _closed(checked)
    if left < spec.min_days:
        return Status.DEGRADED, f"certificate expires on {day} ({int(left)} days left)", elapsed
    return Status.UP, f"certificate valid until {day} ({int(left)} days left)", elapsed


async def _icmp(spec: ProbeSpec) -> tuple[Status, str, float | None]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(spec.host, None, type=socket.SOCK_RAW)
    if not infos:
        raise Failed(f"{spec.host} does not resolve")
    address = str(infos[0][4][0])
    elapsed = await ping(address, spec.timeout)
    return _timed(spec, elapsed, "echo reply")


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _reason(exc: BaseException) -> str:
    """A failure in words: a refused connection, a reset, a name that does not resolve.

    httpx wraps the socket's error in its own (and httpcore's): the chain is walked for the
    first cause that says more than "connect failed".
    """
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 8:
        words = _words(current)
        if words is not None:
            return words
        current = current.__cause__ or current.__context__
        seen += 1
    if isinstance(exc, httpx.TooManyRedirects):
        return "too many redirects"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"broken HTTP answer: {exc}"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    return str(exc) or type(exc).__name__


def _words(exc: BaseException) -> str | None:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by the server"
    if isinstance(exc, socket.gaierror):
        return f"name does not resolve ({exc.strerror})"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate not trusted: {exc.verify_message}"
    if isinstance(exc, httpx.TooManyRedirects):
        return "too many redirects"
    return None
