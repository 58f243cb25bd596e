"""Reading one input of any format, a file or a decompressed stream (an archive member, standard
input): sniffed, then read as text as it comes, spooled for the EVTX worker, or opened as an
archive (:mod:`sentinelle.readers.archives`), with what one input may cost shared down its
members in a :class:`Reading`.
"""

from __future__ import annotations

import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from sentinelle.errors import ReadError
from sentinelle.events import EventBatch
from sentinelle.readers.batches import BatchBuilder, make_issue
from sentinelle.readers.evtx import read_evtx
from sentinelle.readers.limits import DEFAULT_LIMITS, GiB, ReadLimits
from sentinelle.readers.lines import ByteStream
from sentinelle.readers.sniff import ARCHIVES, BLANK_LIMIT, SNIFF_BYTES, skip_blank, sniff_bytes
from sentinelle.readers.textlogs import read_text_stream

# Errors a damaged compressed stream or archive raises while it is read; ReadError is a limit
# reached (a decompression ratio, the spool budget).
STREAM_ERRORS = (
    OSError,
    EOFError,
    zlib.error,
    zipfile.BadZipFile,
    tarfile.TarError,
    ValueError,
    RuntimeError,
    ReadError,
)

# Text with no structure Sentinelle knows is read line by line (one ``message`` per line) only when
# its name says it is a log; READMEs and licences next to the logs are reported and skipped, so
# their words never reach keyword rules.
_PLAIN_LOG_SUFFIXES = frozenset((".log", ".txt", ".out", ".err", ".syslog", ".messages"))
_PLAIN_TEXT_SKIPPED = "plain text that is no log format Sentinelle reads (not a .log/.txt); skipped"


@dataclass(slots=True)
class Reading:
    """What the reading of one top-level input shares down its archive members: its limits, the
    bytes it has spooled, and the bytes all its compressed streams have expanded to."""

    batch_size: int = 2048
    limits: ReadLimits = DEFAULT_LIMITS
    # Bytes of the input as given (a compressed file's size; 0 for a stream): the ratio cap of
    # all its members together is counted against it, so nesting cannot multiply ratios.
    top_size: int = 0
    spooled: int = 0
    expanded: int = 0
    # Whether events keep their original record as ``raw``; a consumer that never reads it
    # (the hunt) saves the EVTX readers a copy of every record.
    keep_raw: bool = True

    def expansion_cap(self) -> int | None:
        """Decompressed bytes all members may reach together (None: no size to scale by)."""
        if self.top_size <= 0:
            return None
        return self.limits.ratio_floor + self.limits.max_ratio * self.top_size


def unreadable(source: str, reason: str, fmt: str = "") -> EventBatch:
    """A batch with one ``file`` issue: ``source`` (or what is left of it) was not read."""
    return EventBatch(source, issues=[make_issue(source, reason, "file")], format=fmt)


def plain_log_name(name: str) -> bool:
    pure = PurePosixPath(name.replace("!", "/"))
    return any(suffix.lower() in _PLAIN_LOG_SUFFIXES for suffix in pure.suffixes) or (
        not pure.suffix
    )


def read_member(
    stream: ByteStream, name: str, source: str, reading: Reading, depth: int
) -> Iterator[EventBatch]:
    """A decompressed stream: sniffed, then read as text, spooled for EVTX, or opened as an
    archive (tar streams as it comes; zip and compressed files need a seekable spool)."""
    from sentinelle.readers import archives  # archives read their members through here

    head = stream.read(SNIFF_BYTES)
    fmt = sniff_bytes(head, PurePosixPath(name).name)
    if fmt == "tar":
        yield from archives.read_tar(Prefixed(head, stream), source, reading, depth + 1)
    elif fmt == "evtx" or fmt in ARCHIVES:
        # The EVTX worker and the zip reader need a real, seekable file: spool to disk.
        with tempfile.NamedTemporaryFile(prefix="sentinelle-", suffix=".spool") as spool:
            refused = _spool(head, stream, spool, reading)
            if refused is not None:
                yield unreadable(source, refused, fmt)
                return
            if fmt == "evtx":
                yield from read_evtx(
                    spool.name, source, batch_size=reading.batch_size, keep_raw=reading.keep_raw
                )
            else:
                yield from archives.read_archive(Path(spool.name), fmt, source, reading, depth + 1)
    else:
        yield from read_text(head, stream, name, source, reading, None)


def _spool(head: bytes, stream: ByteStream, spool: IO[bytes], reading: Reading) -> str | None:
    """Copy ``head`` and the rest of ``stream`` to ``spool`` within the input's spool budget;
    the reason of a refusal, or None."""
    budget = reading.limits.max_spool_bytes
    try:
        block = head
        while block:
            if reading.spooled + len(block) > budget:
                return (
                    f"refused: spooling it would pass the spool budget of"
                    f" {_size(budget)} for this input (max_spool_bytes)"
                )
            spool.write(block)
            reading.spooled += len(block)
            block = stream.read(1 << 20)
    except STREAM_ERRORS as exc:
        return _stream_error(exc)
    spool.flush()
    return None


def read_text(
    head: bytes,
    stream: ByteStream,
    name: str,
    source: str,
    reading: Reading,
    mtime: float | None,
) -> Iterator[EventBatch]:
    """A stream that is no EVTX file or archive, from its ``head``: read as its text format
    from its first line holding text, or reported with the reason it is not read."""
    try:
        head, skipped, whole = skip_blank(head, stream.read)
    except STREAM_ERRORS as exc:
        yield unreadable(source, _stream_error(exc))
        return
    fmt = sniff_bytes(head, PurePosixPath(name).name)
    if not whole:
        yield unreadable(source, f"only blank lines in its first {_size(BLANK_LIMIT)}", "empty")
    elif fmt == "empty":
        reason = "only blank lines: no text to read" if skipped or head else "empty: no bytes"
        yield unreadable(source, reason, fmt)
    elif fmt in {"binary", "evtx", "tar"} or fmt in ARCHIVES:
        yield unreadable(source, "binary content of no supported format", "binary")
    elif fmt == "text" and not plain_log_name(name):
        yield unreadable(source, _PLAIN_TEXT_SKIPPED, fmt)
    else:
        builder = BatchBuilder(source, fmt, reading.batch_size, limits=reading.limits)
        try:
            yield from read_text_stream(
                Prefixed(head, stream), fmt, source, builder, mtime=mtime, first_line=skipped + 1
            )
        except STREAM_ERRORS as exc:
            # A damaged compressed stream, or a limit reached: what was read stays.
            builder.issue(source, _stream_error(exc), "file")
        last = builder.finish()
        if last is not None:
            yield last


def _stream_error(exc: BaseException) -> str:
    if isinstance(exc, ReadError):
        return exc.message
    return f"read stopped: {type(exc).__name__}: {exc}"


def _size(count: int) -> str:
    return f"{count / GiB:g} GiB" if count >= GiB else f"{count >> 20} MiB"


class Prefixed:
    """A read-only stream: the sniffed head again, then the rest of the underlying stream."""

    def __init__(self, head: bytes, rest: ByteStream) -> None:
        self._head = head
        self._rest = rest

    def readline(self, size: int = -1, /) -> bytes:
        if self._head:
            newline = self._head.find(b"\n")
            end = len(self._head) if newline < 0 else newline + 1
            if size >= 0:
                end = min(end, size)
            line, self._head = self._head[:end], self._head[end:]
            if line.endswith(b"\n") or (size >= 0 and len(line) >= size):
                return line
            more = self._rest.readline(-1 if size < 0 else size - len(line))
            return line + more
        return self._rest.readline(size)

    def read(self, size: int = -1, /) -> bytes:
        wanted = size
        if self._head:
            if wanted < 0:
                data, self._head = self._head, b""
                return data + self._rest.read()
            data, self._head = self._head[:wanted], self._head[wanted:]
            return data
        return self._rest.read(wanted)
