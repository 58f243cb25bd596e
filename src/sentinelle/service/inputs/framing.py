"""Syslog framing: cutting a TCP or TLS byte stream into messages (RFC 6587, RFC 5425).

Two framings exist on the wire, and RFC 6587 (section 3.4) lets the receiver tell them apart by
the first byte of each frame: a syslog message starts with ``<`` (its PRI), an octet-counted
frame with the length's first digit (``MSG-LEN SP MSG``, 1-9 first). rsyslog, syslog-ng,
``logger --octet-count``, NXLog and RFC 5425 (TLS) senders count octets; ``logger`` without
it and most network devices end each message with LF (non-transparent framing). The framer
decides per frame, so one parser serves every sender and a sender may even switch.

Leniency, kept narrow: a frame that starts with digits not followed by a space within ten
digits (an ISO stamp without PRI, ``2024-05-01T...``) is read as an LF-terminated line; a frame
that starts with any other byte (``Jan  1 ...`` without PRI) too. A line starting with a number
and a space (``1700000000 host ...``) is read as octet counting, as the RFC says.

The framer is sans-I/O (bytes in, messages out) so that it is fuzzed alone: any stream cut
anywhere gives the same messages as uncut, nothing raises, and it never holds more than
``max_message`` bytes (plus ten digits) whatever it is fed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sentinelle.readers.lines import has_binary_bytes

# Bytes skipped between frames: the LF after an octet-counted frame that some senders add,
# CR, and NUL (the trailer some old senders use).
_SEPARATORS: Final = b"\n\r\x00"
_DIGITS: Final = b"0123456789"
_MAX_DIGITS: Final = 10  # 9,999,999,999 bytes: far past any cap, and never an endless number

_START, _COUNT, _OCTETS, _SKIP, _LINE, _DISCARD = range(6)


@dataclass(frozen=True, slots=True)
class Skipped:
    """A frame that was not kept, and why: ``oversized`` (over the message cap: the bytes were
    dropped without being held) or ``truncated`` (the stream ended inside an octet-counted
    frame)."""

    reason: str


Frame = bytes | Skipped


class SyslogFramer:
    """RFC 6587 framing of one stream: :meth:`feed` bytes as they come, :meth:`close` at EOF."""

    __slots__ = ("_buffer", "_max", "_remaining", "_state")

    def __init__(self, max_message: int) -> None:
        self._max = max_message
        self._state = _START
        self._buffer = bytearray()  # digits of a count, or the message being gathered
        self._remaining = 0  # bytes still to take (octets) or to drop (skip)

    @property
    def pending(self) -> bool:
        """A frame has started and is not complete (what the slow-sender timeout watches)."""
        return self._state != _START

    @property
    def buffered(self) -> int:
        """Bytes held: at most ``max_message + 1`` (a line's CR) or eleven digits."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        out: list[Frame] = []
        view = memoryview(data)
        position, end = 0, len(data)
        buffer = self._buffer
        while position < end:
            state = self._state
            if state == _START:
                byte = data[position]
                if byte in _SEPARATORS:
                    position += 1
                    continue
                if 0x31 <= byte <= 0x39:  # 1-9: an octet count begins
                    self._state = _COUNT
                else:
                    self._state = _LINE
                continue
            if state == _COUNT:
                while position < end and data[position] in _DIGITS:
                    buffer.append(data[position])
                    position += 1
                    if len(buffer) > _MAX_DIGITS:
                        self._state = _LINE  # no count is that long: a line of digits
                        break
                if self._state != _COUNT or position == end:
                    continue
                if data[position] == 0x20:  # SP: the count is complete
                    position += 1
                    length = int(buffer)
                    buffer.clear()
                    self._remaining = length
                    self._state = _OCTETS if length <= self._max else _SKIP
                else:
                    self._state = _LINE  # digits, then not a space: a line (kept in buffer)
                continue
            if state == _OCTETS:
                take = min(self._remaining, end - position)
                buffer += view[position : position + take]
                position += take
                self._remaining -= take
                if self._remaining == 0:
                    out.append(bytes(buffer))
                    buffer.clear()
                    self._state = _START
                continue
            if state == _SKIP:
                take = min(self._remaining, end - position)
                position += take
                self._remaining -= take
                if self._remaining == 0:
                    out.append(Skipped("oversized"))
                    self._state = _START
                continue
            newline = data.find(b"\n", position)
            stop = end if newline < 0 else newline
            if state == _LINE:
                # A CR before the LF is not part of the message: allow one byte more for it.
                if len(buffer) + (stop - position) > self._max + 1:
                    buffer.clear()
                    self._state = _DISCARD
                else:
                    buffer += view[position:stop]
            position = stop
            if newline >= 0:
                position += 1
                if self._state == _LINE:
                    self._emit_line(out)
                else:
                    out.append(Skipped("oversized"))
                    self._state = _START
        return out

    def close(self) -> list[Frame]:
        """The end of the stream: a last line without its LF is a message; an octet-counted
        frame cut short is not."""
        out: list[Frame] = []
        state = self._state
        if state in (_LINE, _COUNT):
            self._emit_line(out)
        elif state == _OCTETS:
            out.append(Skipped("truncated"))
        elif state in (_SKIP, _DISCARD):
            out.append(Skipped("oversized"))
        self._buffer.clear()
        self._state = _START
        self._remaining = 0
        return out

    def _emit_line(self, out: list[Frame]) -> None:
        buffer = self._buffer
        if buffer.endswith(b"\r"):
            del buffer[-1]
        if len(buffer) > self._max:
            out.append(Skipped("oversized"))
        elif buffer:
            out.append(bytes(buffer))
        buffer.clear()
        self._state = _START


def check_message(raw: bytes) -> tuple[bytes | None, str]:
    """One syslog message as the journal keeps it, or None and the reason it is skipped.

    Trailing LF, CR and NUL (a datagram's or a frame's trailer) are removed. A message holding
    binary control bytes is garbage (the readers skip such lines too: a TLS handshake sent to
    the plain port looks like this). Invalid UTF-8 is repaired with U+FFFD, never a reason to
    drop a message: one bad byte must not hide a log line from detection.
    """
    end = len(raw)
    while end and raw[end - 1] in _SEPARATORS:
        end -= 1
    if end == 0:
        return None, "empty"
    message = raw[:end] if end != len(raw) else raw
    if has_binary_bytes(message):
        return None, "binary"
    try:
        message.decode("utf-8")
    except UnicodeDecodeError:
        message = message.decode("utf-8", "replace").encode("utf-8")
    return message, ""
