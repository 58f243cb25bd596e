"""Real servers on loopback for the probe tests: HTTP(S) with chosen behaviours, an SMTP server
(aiosmtpd), a DNS server (dnslib), and sockets that hang or reset.

Each runs in its own thread and stops when its context ends, so a test's probe meets a server
that nobody here wrote (SMTP, DNS) or the exact misbehaviour it is about (hang, reset, slow,
an expired certificate).
"""

from __future__ import annotations

import contextlib
import datetime
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.ports import free_port


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path
    not_after: datetime.datetime


def make_certificate(
    folder: Path, name: str, *, days: float, started_days_ago: float = 1.0
) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost, valid until ``days`` from now
    (negative: already expired)."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    not_after = now + datetime.timedelta(days=days)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=started_days_ago))
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = folder / f"{name}.pem"
    key_path = folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return Certificate(cert_path, key_path, not_after)


class _Handler(BaseHTTPRequestHandler):
    """Paths choose the behaviour: /ok, /slow, /status/503, /text, /redirect, /big."""

    delay: ClassVar[float] = 0.0
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        path = self.path
        if path.startswith("/slow"):
            time.sleep(0.6)
            self._send(200, b"slow but OK")
        elif path.startswith("/status/"):
            self._send(int(path.rsplit("/", 1)[1]), b"status")
        elif path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", "/ok")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path.startswith("/loop"):
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path.startswith("/big"):
            body = b"x" * (3 << 20) + b"NEEDLE"
            self._send(200, body)
        elif path.startswith("/garbage"):
            self.wfile.write(b"\x00\x01 this is not HTTP\r\n\r\n")
            self.wfile.flush()
            self.close_connection = True
        else:
            self._send(200, b"<html>service OK</html>")

    def _send(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # probes hang up mid-answer on purpose (timeouts, capped bodies)


@contextlib.contextmanager
def http_server(certificate: Certificate | None = None) -> Iterator[int]:
    """An HTTP (or HTTPS with ``certificate``) server on 127.0.0.1; yields its port."""
    server = _QuietServer(("127.0.0.1", 0), _Handler)
    if certificate is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate.cert, certificate.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def raw_server(behaviour: str) -> Iterator[int]:
    """A TCP server that accepts and then ``hang``s (never answers) or ``reset``s at once."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.05)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if behaviour == "reset":
                # Linger 0: closing sends a RST instead of a FIN.
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
            else:
                held.append(conn)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        listener.close()
        for conn in held:
            conn.close()


@contextlib.contextmanager
def smtp_server(banner: str = "mail.hospital.test ESMTP ready") -> Iterator[int]:
    """aiosmtpd's SMTP server on loopback, greeting with ``220 <banner>``; yields its port."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    port = free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port, ident=banner)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@contextlib.contextmanager
def dns_server(records: dict[str, str], *, delay: float = 0.0) -> Iterator[int]:
    """dnslib's DNS server on loopback (UDP) answering A records from ``records``; names not
    listed get NXDOMAIN. ``delay`` makes every answer late."""
    from dnslib import QTYPE, RCODE, RR, A
    from dnslib.server import BaseResolver, DNSLogger, DNSServer

    class Resolver(BaseResolver):  # type: ignore[misc]
        def resolve(self, request: Any, handler: Any) -> Any:
            if delay:
                time.sleep(delay)
            reply = request.reply()
            name = str(request.q.qname).rstrip(".").lower()
            if name in records and request.q.qtype == QTYPE.A:
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(records[name]), ttl=60))
            elif name not in records:
                reply.header.rcode = RCODE.NXDOMAIN
            return reply

    port = free_port(socket.SOCK_DGRAM)
    server = DNSServer(
        Resolver(),
        port=port,
        address="127.0.0.1",
        logger=DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data"),
    )
    server.server.handle_error = lambda request, address: None  # late answers at shutdown
    server.start_thread()
    try:
        yield port
    finally:
        server.stop()
        server.server.server_close()
