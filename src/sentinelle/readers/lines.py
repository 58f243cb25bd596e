"""Reading text logs line by line with hard caps, from any binary stream (file, gzip, zip member).

Caps (documented in docs/ARCHITECTURE.md): a text line longer than ``LINE_CAP`` bytes is skipped
and reported, and so is a JSON document longer than ``DOCUMENT_CAP``; at most ``LINE_CAP`` bytes
are ever held for one line, whatever the input, so a file with no newline cannot exhaust memory.

Invalid UTF-8 is not a reason to drop a line: an attacker could hide a log line from detection
with one bad byte. The line is decoded with U+FFFD in place of the bad bytes, kept, and the
replacement is reported. A line holding NUL or other binary control bytes is binary garbage:
reported and skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

LINE_CAP = 1 << 20  # 1 MiB per text line
DOCUMENT_CAP = 16 << 20  # 16 MiB per JSON document (a JSON line or a pretty-printed document)

# Bytes that never occur in a text log line (tab, CR and LF excluded; ESC kept for ANSI colours).
_BINARY_RE = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f]")


class ByteStream(Protocol):
    """What the text readers need from a stream: files, gzip/bz2 streams and zip members."""

    def readline(self, size: int = -1, /) -> bytes: ...

    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(slots=True)
class Line:
    """One line of input: its 1-based number, its text, and what was wrong with it, if anything."""

    number: int
    text: str
    problem: str | None = None  # set when the line must be skipped
    note: str | None = None  # set when the line is kept but was repaired (invalid UTF-8)


def iter_raw_lines(
    stream: ByteStream, cap: int = LINE_CAP, first_line: int = 1
) -> Iterator[tuple[int, bytes | None]]:
    """``(line number, bytes without the newline)``; bytes is None for a line over ``cap``.

    ``first_line`` numbers the first line read (blank lines before it were passed over).
    """
    number = first_line - 1
    readline = stream.readline
    while True:
        raw = readline(cap + 1)
        if not raw:
            return
        number += 1
        if len(raw) > cap and not raw.endswith(b"\n"):
            # Over the cap: drop the rest of the line without holding it.
            while True:
                more = readline(cap)
                if not more or more.endswith(b"\n"):
                    break
            yield number, None
            continue
        if raw.endswith(b"\n"):
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        yield number, raw


def has_binary_bytes(raw: bytes) -> bool:
    """Control bytes no text log holds (tab, CR, LF and ESC excepted): binary garbage."""
    return _BINARY_RE.search(raw) is not None


def decode_line(number: int, raw: bytes) -> Line:
    """Decode one raw line, flagging binary garbage and repairing invalid UTF-8."""
    if has_binary_bytes(raw):
        return Line(number, "", problem="binary data (control bytes), line skipped")
    try:
        return Line(number, raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return Line(
            number,
            raw.decode("utf-8", "replace"),
            note=f"invalid UTF-8 at byte {exc.start} replaced by U+FFFD (line kept)",
        )


def iter_lines(stream: ByteStream, cap: int = LINE_CAP, first_line: int = 1) -> Iterator[Line]:
    """Decoded lines; over-long and binary lines come with ``problem`` set and no text."""
    first = True
    for number, line_bytes in iter_raw_lines(stream, cap, first_line):
        raw = line_bytes
        if raw is None:
            yield Line(number, "", problem=f"line longer than {cap} bytes, skipped")
            continue
        if first:
            first = False
            if raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
        yield decode_line(number, raw)
