"""DNS probes through dnspython: a name asked of a named server (or the system's resolvers).

Asking the hospital's own DNS servers, one by one, is the point: a resolver that answers from
its cache elsewhere would say "fine" while a domain controller's DNS is dead.
"""

from __future__ import annotations

import asyncio
import socket
import time

import dns.asyncresolver
import dns.exception
import dns.resolver

from sentinelle.hospital.probes import ProbeSpec
from sentinelle.watch.outcome import Status


async def resolve(spec: ProbeSpec) -> tuple[Status, str, float | None]:
    from sentinelle.watch.checks import Failed, _timed

    if spec.server:
        host, _, port_text = spec.server.rpartition(":") if _has_port(spec.server) else (
            spec.server, "", "")  # fmt: skip
        host = host.strip("[]")
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [str(infos[0][4][0])]
        resolver.port = int(port_text) if port_text else 53
    else:
        try:
            resolver = dns.asyncresolver.Resolver()
        except dns.resolver.NoResolverConfiguration as exc:
            raise Failed(f"no DNS resolver configured here ({exc})") from None
    started = time.perf_counter()
    try:
        answer = await resolver.resolve(spec.host, spec.record, lifetime=spec.timeout)
    except dns.resolver.NXDOMAIN:
        raise Failed(f"{spec.host}: no such name") from None
    except dns.resolver.NoAnswer:
        raise Failed(f"{spec.host}: no {spec.record} record") from None
    except dns.resolver.NoNameservers as exc:
        raise Failed(f"the server refused or failed the query ({exc})") from None
    except dns.exception.Timeout:
        raise TimeoutError from None
    except dns.exception.DNSException as exc:
        raise Failed(f"DNS error: {exc}") from None
    elapsed = time.perf_counter() - started
    got = {_plain(r.to_text()) for r in answer}
    missing = [e for e in spec.expect if _plain(e) not in got]
    if missing:
        shown = ", ".join(sorted(got))[:200]
        raise Failed(f"{spec.host} answers {shown}, not {', '.join(missing)}")
    return _timed(spec, elapsed, f"{spec.host} {spec.record} {', '.join(sorted(got))[:80]}")


def _has_port(server: str) -> bool:
    return server.count(":") == 1 or (server.startswith("[") and "]:" in server)


def _plain(text: str) -> str:
    return text.strip().rstrip(".").lower()
