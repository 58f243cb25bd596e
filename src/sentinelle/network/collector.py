"""A UDP collector for NetFlow/IPFIX exporters.

The collector only receives datagrams and hands them on as ``Message``s, the same shape the
capture reader yields, so live and captured input go through one decoder and one detector.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from types import TracebackType

from sentinelle.errors import ConfigError, Location
from sentinelle.network.capture import Message

MAX_DATAGRAM = 65535


def parse_listen(text: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` into a (host, port) pair; ConfigError when malformed."""
    where = Location("--listen")
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host:
        raise ConfigError(f"expected HOST:PORT, got {text!r}", where)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ConfigError(f"write IPv6 addresses as [ADDRESS]:PORT, got {text!r}", where)
    if not port_text.isdecimal() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(f"bad port in {text!r}", where)
    return host, int(port_text)


class FlowCollector:
    """A bound UDP socket; ``port=0`` picks a free port (read it back from ``address``)."""

    def __init__(self, host: str, port: int, receive_buffer: int = 4 << 20) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            # A burst of export packets must wait in the kernel while a batch is analysed.
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
        bound = self._sock.getsockname()
        self.address: tuple[str, int] = (bound[0], bound[1])
        self.received = 0
        self.received_bytes = 0

    def receive(self, timeout: float) -> Message | None:
        """The next datagram, or None when nothing came within ``timeout`` seconds."""
        self._sock.settimeout(max(timeout, 0.0))
        try:
            data, sender = self._sock.recvfrom(MAX_DATAGRAM)
        except TimeoutError:
            return None
        self.received += 1
        self.received_bytes += len(data)
        where = f"udp {sender[0]}:{sender[1]} datagram {self.received}"
        return Message(data, str(sender[0]), time.time(), where)

    def messages(
        self,
        duration: float | None = None,
        idle_timeout: float | None = None,
        max_messages: int | None = None,
        poll: float = 0.5,
    ) -> Iterator[Message | None]:
        """Datagrams until ``duration`` passes, nothing came for ``idle_timeout`` seconds, or
        ``max_messages`` arrived. Yields None every ``poll`` seconds of silence, so that the
        caller can let its clock advance (and end attacks) while exporters are quiet."""
        started = last = time.monotonic()
        count = 0
        while True:
            now = time.monotonic()
            if duration is not None and now - started >= duration:
                return
            if idle_timeout is not None and now - last >= idle_timeout:
                return
            wait = poll
            if duration is not None:
                wait = min(wait, duration - (now - started))
            message = self.receive(wait)
            if message is None:
                yield None
                continue
            last = time.monotonic()
            count += 1
            yield message
            if max_messages is not None and count >= max_messages:
                return

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> FlowCollector:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
