"""Syslog over TCP (RFC 6587) and TLS (RFC 5425): a connection is read as fast as the journal
takes it, and no faster.

Each connection is an asyncio protocol. What it reads is framed (``framing``), checked, and
submitted to the journal in batches; at most ``max_inflight_batches`` submissions of one
connection wait to be durable, and while they do (or while the journal refuses, or while the
source is over its rate) the connection is not read: the kernel's buffer fills, TCP's window
closes, and the sender's own queue holds the rest. Nothing read is dropped for being early;
refused batches are submitted again once the journal takes records again.

Caps: connections in total and per source (checked before a TLS handshake is paid for), the
TLS handshake's time, a frame's time from its first byte (a slow sender is cut off), a
connection's idle time. A timed-out connection's unfinished frame is counted ``truncated``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, cast

from sentinelle.service.inputs import metrics
from sentinelle.service.inputs.config import Listen
from sentinelle.service.inputs.framing import Skipped, SyslogFramer, check_message
from sentinelle.service.inputs.handover import Outcome, submit
from sentinelle.service.inputs.limits import InputLimits
from sentinelle.service.inputs.pacing import ConnectionSlots, SourceRates, source_of
from sentinelle.service.log import log_event
from sentinelle.service.records import Record, RecordKind, RecordSink

log = logging.getLogger("sentinelle.inputs")


class _Connection(asyncio.Protocol):
    """One sender's connection: framing, batching, and reading only while the journal keeps up."""

    def __init__(self, server: StreamServer) -> None:
        self.server = server
        self.limits = server.limits
        self.transport: asyncio.Transport | None = None
        self.source = ""
        self.framer = SyslogFramer(server.limits.max_message_bytes)
        self.pending: deque[list[Record]] = deque()  # read, not yet submitted
        self.inflight = 0  # submitted, not yet durable
        self.ready = False  # handshake done (TLS), slot taken
        self.early = bytearray()  # TLS: decrypted before start_tls returned (data_received)
        self.lost = False  # the peer is gone (or we closed): nothing more will be read
        self.timed_out = False
        self.reading = True
        now = time.monotonic()
        self.last_data = now
        self.frame_since: float | None = None
        self.read_after = 0.0  # rate limit: not read before this time
        self.submit_after = 0.0  # the journal refused: not submitted before this time
        self._wake: asyncio.TimerHandle | None = None
        self._slot = False

    # --- life cycle -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.source = source_of(transport.get_extra_info("peername"))
        name = self.server.name
        refusal = "stopping" if self.server.stopping else self.server.slots.take(self.source)
        if refusal:
            metrics.CONNECTIONS.labels(name, refusal).inc()
            self.lost = True
            self.transport.abort()
            return
        self._slot = True
        metrics.CONNECTIONS.labels(name, "accepted").inc()
        metrics.OPEN_CONNECTIONS.labels(name).inc()
        self.server.connections.add(self)
        if self.server.tls is None:
            self.ready = True
            return
        self._pause()
        self.server.spawn(self._handshake())

    async def _handshake(self) -> None:
        assert self.transport is not None and self.server.tls is not None
        loop = asyncio.get_running_loop()
        try:
            upgraded = await loop.start_tls(
                self.transport,
                self,
                self.server.tls,
                server_side=True,
                ssl_handshake_timeout=self.limits.tls_handshake_timeout,
            )
        except (TimeoutError, OSError, ssl.SSLError) as exc:
            metrics.CONNECTIONS.labels(self.server.name, "tls-failed").inc()
            log_event(
                log, "input.tls_failed", input=self.server.name, source=self.source, error=exc
            )
            self.transport.abort()
            self.connection_lost(None)
            return
        if upgraded is None or self.lost:
            return
        self.transport = upgraded
        self.ready = True
        self.last_data = time.monotonic()
        if self.early:
            early = bytes(self.early)
            self.early.clear()
            self._receive(early)
        else:
            self._update()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost and not self._slot:
            return
        self.lost = True
        if self.early:  # read, never handed over: taken like the rest (nothing answered)
            early = bytes(self.early)
            self.early.clear()
            self._receive(early)
        if self._slot:
            self._slot = False
            self.server.slots.give_back(self.source)
            metrics.OPEN_CONNECTIONS.labels(self.server.name).dec()
        if self.timed_out:
            if self.partial():
                metrics.MALFORMED.labels(self.server.name, "truncated").inc()
            self.framer.close()
        else:
            self._take(self.framer.close())
        self._update()

    # --- reading --------------------------------------------------------------------------

    def partial(self) -> bool:
        """A frame has started and is not complete (the slow-sender timeout watches it)."""
        return self.framer.pending

    def data_received(self, data: bytes) -> None:
        if not self.ready:
            # TLS 1.3: the sender's first bytes can come in the same read as its Finished, and
            # asyncio hands them over before start_tls returns. Answered then (RELP), they
            # would go out in clear on the raw transport, inside the TLS stream: kept until the
            # handshake has returned the TLS transport. At most one read's worth.
            self.early += data
            return
        self._receive(data)

    def _receive(self, data: bytes) -> None:
        """What the sender sent (decrypted), once the connection is ready."""
        now = time.monotonic()
        self.last_data = now
        frames = self.framer.feed(data)
        if frames:
            self.frame_since = now if self.framer.pending else None
        elif self.framer.pending and self.frame_since is None:
            self.frame_since = now
        self._take(frames)
        self._update()

    def _take(self, frames: list[bytes | Skipped]) -> None:
        name = self.server.name
        messages: list[bytes] = []
        for frame in frames:
            if isinstance(frame, Skipped):
                if frame.reason == "oversized":
                    metrics.OVERSIZED.labels(name, "message").inc()
                else:
                    metrics.MALFORMED.labels(name, frame.reason).inc()
                continue
            message, reason = check_message(frame)
            if message is None:
                metrics.MALFORMED.labels(name, reason).inc()
            else:
                messages.append(message)
        if not messages:
            return
        received = time.time()
        size = self.limits.batch_records
        for start in range(0, len(messages), size):
            self.pending.append(
                [
                    Record(name, self.source, RecordKind.SYSLOG, message, received)
                    for message in messages[start : start + size]
                ]
            )
        now = time.monotonic()
        delay, over = self.server.rates.charge(self.source, len(messages), now)
        if delay > 0:
            metrics.RATE_LIMITED.labels(name).inc(over)
            self.read_after = max(self.read_after, now + delay)

    # --- handing over ---------------------------------------------------------------------

    def _update(self) -> None:
        """Submit what may be submitted, then read or not, and set the next wake-up."""
        now = time.monotonic()
        while (
            self.pending
            and self.inflight < self.limits.max_inflight_batches
            and now >= self.submit_after
        ):
            batch = self.pending[0]
            refused = submit(self.server.sink, batch, self.server.name, self._completion(batch))
            if refused is not None:
                self._refused(refused)
                break
            self.pending.popleft()
            self.inflight += 1
        self._set_reading(now)
        if self.lost and not self.pending and not self.inflight:
            self.server.connections.discard(self)
            self.server.changed()

    def _completion(self, batch: list[Record]) -> Callable[[Outcome], None]:
        def done(outcome: Outcome) -> None:
            self.inflight -= 1
            if outcome.accepted:
                metrics.EVENTS.labels(self.server.name).inc(len(batch))
            else:
                self.pending.appendleft(batch)
                self._refused(outcome)
            self._update()
            self.server.changed()

        return done

    def _refused(self, outcome: Outcome) -> None:
        metrics.REFUSED.labels(self.server.name, outcome.reason).inc()
        self.submit_after = max(self.submit_after, time.monotonic() + outcome.retry_after)

    def _set_reading(self, now: float) -> None:
        hold = max(self.read_after, self.submit_after)
        want = (
            self.ready
            and not self.lost
            and not self.server.stopping
            and not self.pending
            and self.inflight < self.limits.max_inflight_batches
            and now >= hold
        )
        if want and not self.reading:
            self.reading = True
            if self.partial():
                self.frame_since = now  # waiting on us is not the sender being slow
            assert self.transport is not None
            self.transport.resume_reading()
        elif not want and self.reading:
            self._pause()
        if hold > now and (self.pending or not self.reading) and self._wake is None:
            loop = asyncio.get_running_loop()
            self._wake = loop.call_at(loop.time() + (hold - now), self._woken)

    def _woken(self) -> None:
        self._wake = None
        self._update()

    def _pause(self) -> None:
        self.reading = False
        if self.transport is not None and not self.lost:
            self.transport.pause_reading()

    # --- timeouts -------------------------------------------------------------------------

    def check_timeouts(self, now: float) -> None:
        if self.lost or not self.ready or not self.reading:
            return
        outcome = ""
        if self.frame_since is not None and now - self.frame_since > self.limits.frame_timeout:
            outcome = "slow-sender"
        elif not self.partial() and now - self.last_data > self.limits.idle_timeout:
            outcome = "idle-timeout"
        if outcome:
            metrics.CONNECTIONS.labels(self.server.name, outcome).inc()
            self.timed_out = True
            assert self.transport is not None
            self.transport.abort()

    def close(self) -> None:
        """At the service's stop, once what was read is handed over: abort, not a TLS
        close_notify exchange that could outlive the loop."""
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None
        if self.transport is not None and not self.lost:
            self.transport.abort()


class StreamServer:
    """One syslog listener over TCP (``tls`` None) or TLS."""

    protocol: type[_Connection] = _Connection  # one per connection (RELP's answers its frames)

    def __init__(
        self,
        name: str,
        listen: Listen,
        sink: RecordSink,
        limits: InputLimits,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.name = name
        self.listen = listen
        self.sink = sink
        self.limits = limits
        self.tls = tls
        self.slots = ConnectionSlots(limits.max_connections, limits.max_connections_per_source)
        self.rates = SourceRates.from_limits(limits)
        self.connections: set[_Connection] = set()
        self.stopping = False
        self.address: Listen | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()

    async def start(self) -> Listen:
        loop = asyncio.get_running_loop()
        host, port = self.listen
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            self._server = await loop.create_server(
                lambda: self.protocol(self),
                host,
                port,
                family=family,
                reuse_address=True,
                backlog=min(self.limits.max_connections, 4096),
            )
        except OSError as exc:
            from sentinelle.errors import ConfigError

            raise ConfigError(
                f"cannot listen on {host}:{port} for {self.name}: {exc.strerror or exc}"
            ) from exc
        bound = self._server.sockets[0].getsockname()
        self.address = (str(bound[0]), int(bound[1]))
        self.spawn(self._watch())
        return self.address

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def changed(self) -> None:
        self._changed.set()

    async def _watch(self) -> None:
        # Often enough that a timeout is enforced within a quarter of itself, at most a second.
        limits = self.limits
        interval = min(1.0, limits.frame_timeout / 4, limits.idle_timeout / 4)
        while not self.stopping:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for connection in list(self.connections):
                connection.check_timeouts(now)

    def backlog(self) -> int:
        """Records read from senders and not yet durable."""
        return sum(sum(len(batch) for batch in c.pending) + c.inflight for c in self.connections)

    async def stop(self, timeout: float) -> None:
        """Stop accepting and reading; wait (up to ``timeout``) for what was read to be durable."""
        self.stopping = True
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection._update()
        deadline = time.monotonic() + timeout
        while any(c.pending or c.inflight for c in self.connections):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.5))
        lost = sum(sum(len(batch) for batch in c.pending) for c in self.connections)
        if lost:
            metrics.DROPPED.labels(self.name, "stopping").inc(lost)
            log_event(log, "input.stop_lost", logging.WARNING, input=self.name, records=lost)
        closing = list(self.connections)
        for connection in closing:
            connection.close()
        # Let the transports finish closing (their sockets are released on the loop).
        for _ in range(100):
            if all(c.lost for c in closing):
                break
            await asyncio.sleep(0.01)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self.connections.clear()
        if self._server is not None:
            await self._server.wait_closed()
