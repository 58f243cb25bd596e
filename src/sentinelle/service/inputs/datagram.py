"""Syslog over UDP (RFC 5426) and NetFlow v5/v9/IPFIX: one datagram, one record.

A UDP sender cannot be slowed down, so what cannot be taken is dropped, and every drop is
counted by reason: over the source's rate (``rate-limited``), more submissions waiting for the
journal than ``max_udp_backlog`` (``backlog``), refused by the journal (``refused``: disk full,
stopping). Datagrams arriving within ``udp_linger`` are submitted together, so the journal
sees batches, not one call per datagram.

Flow datagrams are only checked to be NetFlow or IPFIX (version, header, declared length); the
detector decodes them with the flow decoders, which keep the exporters' templates.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable

from sentinelle.errors import ConfigError
from sentinelle.service.inputs import metrics
from sentinelle.service.inputs.config import Listen
from sentinelle.service.inputs.handover import Outcome, submit
from sentinelle.service.inputs.limits import InputLimits
from sentinelle.service.inputs.pacing import SourceRates, source_of
from sentinelle.service.records import Record, RecordKind, RecordSink

# The kernel's buffer for a burst of datagrams while the loop is busy elsewhere.
RECEIVE_BUFFER = 4 << 20
# Smallest header of each flow export version: v5 (24 bytes), v9 (20), IPFIX (16).
_FLOW_HEADERS = {5: 24, 9: 20, 10: 16}
_V5_RECORD = 48

Check = Callable[[bytes], tuple[bytes | None, str]]


def check_flow(data: bytes) -> tuple[bytes | None, str]:
    """The datagram if it looks like one NetFlow v5/v9 or IPFIX message, else why not."""
    if len(data) < 4:
        return None, "not-netflow"
    version = int.from_bytes(data[:2], "big")
    header = _FLOW_HEADERS.get(version)
    if header is None:
        return None, "not-netflow"
    if len(data) < header:
        return None, "truncated"
    declared = int.from_bytes(data[2:4], "big")
    if version == 5 and header + declared * _V5_RECORD > len(data):
        return None, "truncated"  # v5: the record count
    if version == 10 and declared != len(data):
        return None, "bad-length"  # IPFIX: the message length (one message per datagram)
    return data, ""


class DatagramInput(asyncio.DatagramProtocol):
    """One UDP listener: syslog (``kind`` SYSLOG) or flows (``kind`` FLOW)."""

    def __init__(
        self,
        name: str,
        kind: RecordKind,
        listen: Listen,
        sink: RecordSink,
        limits: InputLimits,
        check: Check,
        max_size: int,
    ) -> None:
        self.name = name
        self.kind = kind
        self.listen = listen
        self.sink = sink
        self.limits = limits
        self.check = check
        self.max_size = max_size
        self.rates = SourceRates.from_limits(limits)
        self.address: Listen | None = None
        self.inflight = 0
        self.stopping = False
        self._batch: list[Record] = []
        self._flush_at: asyncio.TimerHandle | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    async def start(self) -> Listen:
        host, port = self.listen
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise ConfigError(
                f"cannot listen on {host}:{port} for {self.name}: {exc.strerror or exc}"
            ) from exc
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, sock=sock)
        self._transport = transport
        bound = sock.getsockname()
        self.address = (str(bound[0]), int(bound[1]))
        return self.address

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        name = self.name
        if self.stopping:
            metrics.DROPPED.labels(name, "stopping").inc()
            return
        if len(data) > self.max_size:
            metrics.OVERSIZED.labels(name, "datagram").inc()
            return
        source = source_of(addr)
        if not self.rates.allow(source, time.monotonic()):
            metrics.RATE_LIMITED.labels(name).inc()
            metrics.DROPPED.labels(name, "rate-limited").inc()
            return
        payload, reason = self.check(data)
        if payload is None:
            metrics.MALFORMED.labels(name, reason).inc()
            return
        self._batch.append(Record(name, source, self.kind, payload, time.time()))
        if len(self._batch) >= self.limits.batch_records:
            self._flush()
        elif self._flush_at is None:
            loop = asyncio.get_running_loop()
            self._flush_at = loop.call_later(self.limits.udp_linger, self._flush)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors for datagrams we never send (a spoofed source's port unreachable):
        # nothing to do, and nothing a peer should be able to make us log at volume.
        return

    def _flush(self) -> None:
        if self._flush_at is not None:
            self._flush_at.cancel()
            self._flush_at = None
        batch, self._batch = self._batch, []
        if not batch:
            return
        if self.inflight >= self.limits.max_udp_backlog:
            metrics.DROPPED.labels(self.name, "backlog").inc(len(batch))
            return
        refused = submit(self.sink, batch, self.name, self._completion(len(batch)))
        if refused is not None:
            metrics.DROPPED.labels(self.name, refused.reason).inc(len(batch))
            return
        self.inflight += 1
        self._idle.clear()

    def _completion(self, count: int) -> Callable[[Outcome], None]:
        def done(outcome: Outcome) -> None:
            self.inflight -= 1
            if outcome.accepted:
                metrics.EVENTS.labels(self.name).inc(count)
            else:
                metrics.DROPPED.labels(self.name, outcome.reason).inc(count)
            if not self.inflight:
                self._idle.set()

        return done

    async def stop(self, timeout: float) -> None:
        """Stop receiving; submit what was gathered and wait (up to ``timeout``) for it."""
        self.stopping = True
        if self._transport is not None:
            self._transport.close()
        self._flush()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
