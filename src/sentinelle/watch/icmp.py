"""ICMP echo without privileges where the kernel allows it, with a raw socket where we may.

Linux lets unprivileged processes send echo requests through ``SOCK_DGRAM``/``IPPROTO_ICMP``
sockets when their group is in ``net.ipv4.ping_group_range``; the kernel then owns the
identifier and hands back only our replies. Otherwise a raw socket works for root (or with
``CAP_NET_RAW``). When neither is allowed the probe is *unavailable*, said as such: a machine
that may not ping is not a machine that is down.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import struct
import time

_SEQUENCE = itertools.count(1)


class IcmpUnavailable(Exception):
    """This process may open no ICMP socket (neither datagram nor raw)."""


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return int(~total & 0xFFFF)


def _open(family: int) -> tuple[socket.socket, bool]:
    proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
    problems: list[str] = []
    for kind, raw in ((socket.SOCK_DGRAM, False), (socket.SOCK_RAW, True)):
        try:
            sock = socket.socket(family, kind, proto)
        except OSError as exc:  # PermissionError, or a kernel without ICMP sockets
            problems.append(f"{'raw' if raw else 'datagram'}: {exc.strerror or exc}")
            continue
        sock.setblocking(False)
        return sock, raw
    raise IcmpUnavailable("no ICMP socket allowed here (" + "; ".join(problems) + ")")


async def ping(address: str, timeout: float) -> float:
    """Send one echo request to ``address`` (an IP address); the round trip in seconds.

    Raises :class:`IcmpUnavailable` when no ICMP socket may be opened, TimeoutError when no
    reply came in ``timeout``.
    """
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock, raw = _open(family)
    loop = asyncio.get_running_loop()
    try:
        ident = os.getpid() & 0xFFFF
        seq = next(_SEQUENCE) & 0xFFFF
        request_type, reply_type = (8, 0) if family == socket.AF_INET else (128, 129)
        payload = b"sentinelle-probe" + struct.pack("!d", time.time())
        header = struct.pack("!BBHHH", request_type, 0, 0, ident, seq)
        checksum = _checksum(header + payload) if family == socket.AF_INET else 0
        packet = struct.pack("!BBHHH", request_type, 0, checksum, ident, seq) + payload
        started = time.perf_counter()
        await loop.sock_sendto(sock, packet, (address, 0))
        async with asyncio.timeout(timeout):
            while True:
                data, _peer = await loop.sock_recvfrom(sock, 2048)
                if raw and family == socket.AF_INET and data:
                    data = data[(data[0] & 0x0F) * 4 :]  # a raw IPv4 socket hands the IP header
                if len(data) < 8:
                    continue
                kind, _code, _sum, got_ident, got_seq = struct.unpack("!BBHHH", data[:8])
                # A datagram socket's kernel rewrites the identifier: only the sequence is ours.
                if kind == reply_type and got_seq == seq and (not raw or got_ident == ident):
                    return time.perf_counter() - started
    finally:
        sock.close()
