"""Syslog over RELP (rsyslog's Reliable Event Logging Protocol): acknowledged once journaled.

Plain syslog over TCP has no acknowledgement: what a sender wrote into its socket just before
the receiver died is lost, and the sender cannot know it. RELP (rsyslog's ``omrelp``, the
protocol of librelp) answers every message: the sender keeps each one until its answer comes,
and sends again, after a reconnection, everything that was not answered. Here the answer
(``rsp 200 OK``) is written only once the journal has made the message durable, so "rsyslog's
queue drained" means "every message accepted". A message sent again because its answer was
lost with a crash has the same content, hence the same event id: matching it again never makes
a second alert.

The protocol (rsyslog's RELP specification): frames ``TXNR SP COMMAND SP DATALEN [SP DATA] LF``
with a transaction number of up to nine digits, a command of letters (``open``, ``syslog``,
``close``; the server's ``rsp`` and ``serverclose``), and the data's length. A session starts
with ``open`` (offers ``relp_version``, ``commands``), answered with ``200 OK`` and ours; then
``syslog`` frames, each answered by number; ``close`` is answered and the connection closed.

The framer is sans-I/O like the plain one (``framing``): bytes in, frames out, never more than
one frame's cap held, fuzzed alone. The connection is the plain TCP input's (``stream``): the
same caps, rates, timeouts and backpressure, with answers instead of silence.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from sentinelle.service.inputs import metrics
from sentinelle.service.inputs.framing import Skipped, check_message
from sentinelle.service.inputs.handover import Outcome
from sentinelle.service.inputs.stream import StreamServer, _Connection
from sentinelle.service.records import Record, RecordKind

_MAX_TXNR_DIGITS: Final = 9
_MAX_COMMAND: Final = 32
_MAX_DATALEN_DIGITS: Final = 9
# The offers of an ``open`` (version, software, commands) are a few dozen bytes; a syslog
# frame's data is one message.
OPEN_BYTES: Final = 4096
OURS: Final = b"relp_version=0\nrelp_software=sentinelle\ncommands=syslog"

_TXNR, _COMMAND, _LENGTH, _DATA, _TRAILER = range(5)


@dataclass(frozen=True, slots=True)
class RelpFrame:
    txnr: int
    command: str
    data: bytes


@dataclass(frozen=True, slots=True)
class RelpError:
    """The stream is not RELP (a header field malformed or too long, a frame over the cap, a
    missing trailer): the session cannot go on, it is closed."""

    reason: str


class RelpFramer:
    """RELP framing of one stream: :meth:`feed` bytes as they come; :attr:`pending` while a
    frame has started. After an error it takes nothing more (the session is over)."""

    __slots__ = ("_buffer", "_command", "_failed", "_length", "_max", "_state", "_txnr")

    def __init__(self, max_message: int) -> None:
        self._max = max(max_message, OPEN_BYTES)
        self._state = _TXNR
        self._buffer = bytearray()
        self._txnr = 0
        self._command = ""
        self._length = 0
        self._failed = False

    @property
    def pending(self) -> bool:
        return self._state != _TXNR or bool(self._buffer)

    def feed(self, data: bytes) -> list[RelpFrame | RelpError]:
        out: list[RelpFrame | RelpError] = []
        if self._failed:
            return out
        position, end = 0, len(data)
        buffer = self._buffer
        while position < end:
            state = self._state
            if state == _DATA:
                take = min(self._length - len(buffer), end - position)
                buffer += data[position : position + take]
                position += take
                if len(buffer) == self._length:
                    self._state = _TRAILER
                continue
            byte = data[position]
            position += 1
            if state == _TRAILER:
                if byte != 0x0A:
                    return self._fail(out, "frame without its LF trailer")
                out.append(RelpFrame(self._txnr, self._command, bytes(buffer)))
                buffer.clear()
                self._state = _TXNR
                continue
            if state == _TXNR:
                if not buffer and byte in b"\n\r":
                    continue  # blank lines between frames are tolerated
                if byte == 0x20 and buffer:
                    self._txnr = int(buffer)
                    buffer.clear()
                    self._state = _COMMAND
                elif 0x30 <= byte <= 0x39 and len(buffer) < _MAX_TXNR_DIGITS:
                    buffer.append(byte)
                else:
                    return self._fail(out, "bad transaction number")
            elif state == _COMMAND:
                if byte == 0x20 and buffer:
                    self._command = buffer.decode("ascii")
                    buffer.clear()
                    self._state = _LENGTH
                elif (0x61 <= byte <= 0x7A or 0x41 <= byte <= 0x5A) and len(buffer) < _MAX_COMMAND:
                    buffer.append(byte)
                else:
                    return self._fail(out, "bad command")
            elif 0x30 <= byte <= 0x39 and len(buffer) < _MAX_DATALEN_DIGITS:
                buffer.append(byte)
            elif buffer and byte in (0x20, 0x0A):
                self._length = int(buffer)
                buffer.clear()
                limit = OPEN_BYTES if self._command == "open" else self._max
                if self._length > limit:
                    return self._fail(out, f"frame of {self._length} bytes over the cap")
                if byte == 0x0A:  # DATALEN 0 and no data: the trailer came at once
                    if self._length:
                        return self._fail(out, "frame shorter than its length")
                    out.append(RelpFrame(self._txnr, self._command, b""))
                    self._state = _TXNR
                else:
                    self._state = _DATA if self._length else _TRAILER
            else:
                return self._fail(out, "bad data length")
        return out

    def _fail(self, out: list[RelpFrame | RelpError], reason: str) -> list[RelpFrame | RelpError]:
        self._failed = True
        self._buffer.clear()
        out.append(RelpError(reason))
        return out

    def close(self) -> list[RelpFrame | RelpError]:
        """The end of the stream: a frame cut short is an error (its sender sends it again)."""
        cut = self.pending and not self._failed
        self._buffer.clear()
        self._state = _TXNR
        return [RelpError("stream ended inside a frame")] if cut else []


def response(txnr: int, code: int, text: str, extra: bytes = b"") -> bytes:
    """An ``rsp`` frame: ``CODE SP TEXT`` and, after an LF, data for the command answered."""
    data = f"{code} {text}".encode() + (b"\n" + extra if extra else b"")
    return b"%d rsp %d %s\n" % (txnr, len(data), data)


class _RelpConnection(_Connection):
    """One RELP session: messages journaled in batches, each answered once durable."""

    def __init__(self, server: StreamServer) -> None:
        super().__init__(server)
        self.relp = RelpFramer(server.limits.max_message_bytes)
        self.opened = False
        self.closing: int | None = None  # the txnr of the client's close, answered at the end
        self.unanswered: list[int] = []  # syslog frames read, not yet in a submitted batch
        self.answers: dict[int, list[int]] = {}  # id(batch) -> the txnrs it answers

    def partial(self) -> bool:
        return self.relp.pending

    def _receive(self, data: bytes) -> None:
        now = time.monotonic()
        self.last_data = now
        frames = self.relp.feed(data)
        if frames:
            self.frame_since = now if self.relp.pending else None
        elif self.relp.pending and self.frame_since is None:
            self.frame_since = now
        self._handle(frames)
        self._update()

    def _handle(self, frames: list[RelpFrame | RelpError]) -> None:
        name = self.server.name
        messages: list[tuple[int, bytes]] = []
        answered: list[bytes] = []
        for frame in frames:
            if isinstance(frame, RelpError):
                metrics.MALFORMED.labels(name, "bad-relp").inc()
                self._end(b"0 serverclose 0\n")
                break
            if frame.command == "open" and not self.opened:
                self.opened = True
                answered.append(response(frame.txnr, 200, "OK", OURS))
            elif frame.command == "syslog" and self.opened and self.closing is None:
                message, reason = check_message(frame.data)
                if message is None:
                    # Skipped and counted, and answered: sending it again would change nothing.
                    metrics.MALFORMED.labels(name, reason).inc()
                    answered.append(response(frame.txnr, 200, "OK"))
                else:
                    messages.append((frame.txnr, message))
            elif frame.command == "close" and self.opened:
                self.closing = frame.txnr
            else:
                metrics.MALFORMED.labels(name, "bad-relp").inc()
                answered.append(response(frame.txnr, 500, f"unexpected command {frame.command}"))
        if answered and self.transport is not None and not self.lost:
            self.transport.write(b"".join(answered))
        if messages:
            self._batch(messages)

    def _batch(self, messages: list[tuple[int, bytes]]) -> None:
        received = time.time()
        size = self.limits.batch_records
        for start in range(0, len(messages), size):
            part = messages[start : start + size]
            batch = [
                Record(self.server.name, self.source, RecordKind.SYSLOG, message, received)
                for _txnr, message in part
            ]
            self.answers[id(batch)] = [txnr for txnr, _message in part]
            self.pending.append(batch)
        now = time.monotonic()
        delay, over = self.server.rates.charge(self.source, len(messages), now)
        if delay > 0:
            metrics.RATE_LIMITED.labels(self.server.name).inc(over)
            self.read_after = max(self.read_after, now + delay)

    def _take(self, frames: list[bytes | Skipped]) -> None:
        """The plain input's end-of-stream hand-over: a RELP frame cut short is not kept (its
        sender has no answer for it, and sends it again)."""

    def _completion(self, batch: list[Record]) -> Callable[[Outcome], None]:
        plain = super()._completion(batch)

        def done(outcome: Outcome) -> None:
            if outcome.accepted:
                txnrs = self.answers.pop(id(batch), [])
                if self.transport is not None and not self.lost:
                    self.transport.write(b"".join(response(t, 200, "OK") for t in txnrs))
            plain(outcome)  # a refused batch goes back to the front: answered when it is taken
            self._close_when_answered()

        return done

    def _close_when_answered(self) -> None:
        if self.closing is None or self.pending or self.inflight or self.lost:
            return
        self._end(b"%d rsp 0\n" % self.closing)

    def _update(self) -> None:
        super()._update()
        self._close_when_answered()

    def _end(self, last: bytes) -> None:
        if self.transport is not None and not self.lost:
            self.transport.write(last)
            self.transport.close()


class RelpServer(StreamServer):
    """The RELP listener: the TCP input's caps and backpressure, RELP's answers."""

    protocol = _RelpConnection
