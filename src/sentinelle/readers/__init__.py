"""Readers: every log a hospital keeps, as normalised event batches, whatever the input holds.

Public API (other stages code against exactly these):

* :func:`expand_paths` - files under the given paths (directories recursively, sorted).
* :func:`sniff_format` - the format of a file, from its content first.
* :func:`read_file` / :func:`read_paths` - :class:`~sentinelle.events.EventBatch` es.
* :func:`read_stream` - the same from a byte stream; the path ``-`` names standard input.

Bad input never raises out of ``read_file``/``read_paths``: what cannot be read is reported as
:class:`~sentinelle.events.ReadIssue` on the batches (a file that cannot be read at all gives a
batch with one ``file`` issue and no events), and reading goes on.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import os
import stat
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import IO

from sentinelle.errors import Location, ReadError
from sentinelle.events import EventBatch
from sentinelle.readers.batches import BatchBuilder, make_issue
from sentinelle.readers.evtx import EvtxLimits, WorkerRules, read_evtx, read_evtx_files
from sentinelle.readers.lines import ByteStream
from sentinelle.readers.sniff import (
    ARCHIVES,
    BLANK_LIMIT,
    MAGIC_BYTES,
    SNIFF_BYTES,
    is_binary_container,
    skip_blank,
    sniff_bytes,
)
from sentinelle.readers.textlogs import read_text_stream

__all__ = [
    "STDIN_PATH",
    "STDIN_SOURCE",
    "EvtxLimits",
    "WorkerRules",
    "expand_paths",
    "read_file",
    "read_paths",
    "read_stream",
    "sniff_format",
]

# Archives inside archives are followed this deep (a zip of gzipped logs is depth 2).
MAX_ARCHIVE_DEPTH = 3
# An EVTX file or archive found inside an archive is spooled to a temporary file; a member that
# decompresses past this size (a decompression bomb) is reported and skipped instead.
MAX_SPOOL_BYTES = 8 << 30
# Errors a damaged compressed stream or archive raises while it is read.
_STREAM_ERRORS = (OSError, EOFError, zlib.error, zipfile.BadZipFile, ValueError, RuntimeError)


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Every file under ``paths``: directories are walked recursively, in sorted order.

    Archives stay single files (their members are read by :func:`read_file`). A path that does
    not exist, and special files (FIFOs, sockets, devices), are kept, so that reading them
    reports them instead of dropping them silently.
    """
    return [Path(name) for name in _file_names(paths)]


def _file_names(paths: Iterable[str | Path]) -> list[str]:
    """:func:`expand_paths` as strings, what the readers use: a Path object per file (made,
    compared while sorting, turned back into text) cost more than sniffing the file. Each name
    is the text of its Path, in the Paths' order (by their parts)."""
    out: list[str] = []
    for item in paths:
        top = Path(item)
        if not top.is_dir():
            out.append(str(top))
            continue
        found: list[tuple[list[str], str]] = []
        for root, dirs, files in os.walk(top, followlinks=False):
            dirs.sort()
            folder = Path(root)  # one per folder; its files are joined as text
            base = str(folder)
            prefix = "" if base == "." else base.rstrip(os.sep) + os.sep
            parts = list(folder.parts)
            found.extend(([*parts, name], prefix + name) for name in files)
        found.sort()
        # FIFOs, sockets and devices stay in: reading them reports them (never silently).
        out.extend(name for _, name in found)
    return out


def sniff_format(path: str | Path) -> str:
    """``evtx``, ``jsonl``, ``syslog``, ``cef``, ``kv``, ``zeek``, ``csv``, ``text``, ``gzip``,
    ``bzip2``, ``zip``, ``binary`` (unsupported) or ``empty``; raises ReadError if unreadable.
    """
    try:
        # Plain descriptors: sniffing runs once per file, where a buffered file object costs
        # more than the read. Magic numbers need the first 4 KiB (EVTX: up to the first chunk
        # signature); only text formats need the whole sniff window.
        mode = os.stat(path).st_mode  # noqa: PTH116 - a Path object per file costs more
        if stat.S_ISDIR(mode):
            raise ReadError("is a directory", Location(str(path)))
        if not stat.S_ISREG(mode):
            # FIFOs, sockets and devices could block or never end: reported, not read.
            raise ReadError("not a regular file (fifo, socket or device)", Location(str(path)))
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            head = os.read(fd, MAGIC_BYTES)
            if len(head) == MAGIC_BYTES and not is_binary_container(head):
                head += os.read(fd, SNIFF_BYTES - MAGIC_BYTES)
            if not head.strip():
                head, _, _ = skip_blank(head, functools.partial(os.read, fd))
        finally:
            os.close(fd)
    except OSError as exc:
        raise ReadError(f"cannot read: {exc.strerror or exc}", Location(str(path))) from exc
    return sniff_bytes(head, str(path))


# The path that names standard input, as for most command-line tools; its events' source.
STDIN_PATH = "-"
STDIN_SOURCE = "<stdin>"


def read_file(
    path: str | Path, *, batch_size: int = 2048, rules: WorkerRules | None = None
) -> Iterator[EventBatch]:
    """Normalised batches of one file of any supported format, archives included.

    ``-`` reads standard input (see :func:`read_stream`). ``rules``: as for :func:`read_paths`.
    """
    if str(path) == STDIN_PATH:
        return read_stream(sys.stdin.buffer, STDIN_SOURCE, batch_size=batch_size)
    return _read(Path(path), str(path), batch_size, 0, rules)


def read_stream(stream: ByteStream, source: str, *, batch_size: int = 2048) -> Iterator[EventBatch]:
    """Normalised batches of a byte stream (standard input, a pipe, a socket's file).

    The format is sniffed from the first bytes, as for a file. Text formats are read as the
    bytes come, so a live pipe gives its events while it is still open; EVTX and archives need
    a seekable file and are copied to a temporary one first (capped, as archive members are).
    Events carry ``source`` as their provenance, with line or record numbers as usual.
    """
    return _read_member(stream, source, source, batch_size, 0)


def read_paths(
    paths: Iterable[str | Path], *, batch_size: int = 2048, rules: WorkerRules | None = None
) -> Iterator[EventBatch]:
    """Batches of every file under ``paths`` (see :func:`expand_paths`), file after file.

    Runs of consecutive EVTX files share one worker that parses ahead of the consumer. Given
    the compiled ``rules`` the consumer will run, that worker also runs them on part of the
    records while the consumer falls behind (see :func:`read_evtx_files`); the batches are
    the same, and the consumer's ``rules.match_batch`` gives the same detections.
    """
    files = iter(_file_names(paths))
    held: list[tuple[str, str]] = []

    def evtx_run(first: str) -> Iterator[tuple[str | Path, str | None]]:
        yield first, first
        for path in files:
            fmt = _sniff_quietly(path)
            if fmt != "evtx":
                held.append((path, fmt))
                return
            yield path, path

    for first in files:
        path, fmt = first, _sniff_quietly(first)
        while True:
            if fmt == "evtx":
                yield from read_evtx_files(evtx_run(path), batch_size=batch_size, rules=rules)
            else:
                yield from read_file(path, batch_size=batch_size)
            if not held:
                break
            path, fmt = held.pop()


# Text with no structure Sentinelle knows is read line by line (one ``message`` per line) only when
# its name says it is a log; READMEs and licences next to the logs are reported and skipped, so
# their words never reach keyword rules.
_PLAIN_LOG_SUFFIXES = frozenset((".log", ".txt", ".out", ".err", ".syslog", ".messages"))
_PLAIN_TEXT_SKIPPED = "plain text that is no log format Sentinelle reads (not a .log/.txt); skipped"


def _plain_log_name(name: str) -> bool:
    pure = PurePosixPath(name.replace("!", "/"))
    return any(suffix.lower() in _PLAIN_LOG_SUFFIXES for suffix in pure.suffixes) or (
        not pure.suffix
    )


def _sniff_quietly(path: str | Path) -> str:
    if str(path) == STDIN_PATH:
        return "stream"  # sniffed when read: reading it now would consume it
    try:
        return sniff_format(path)
    except ReadError:
        return "unreadable"


def _unreadable(source: str, reason: str, fmt: str = "") -> EventBatch:
    return EventBatch(source, issues=[make_issue(source, reason, "file")], format=fmt)


def _read(
    path: Path, source: str, batch_size: int, depth: int, rules: WorkerRules | None = None
) -> Iterator[EventBatch]:
    try:
        fmt = sniff_format(path)
    except ReadError as exc:
        yield _unreadable(source, exc.message)
        return
    if fmt == "evtx":
        yield from read_evtx(path, source, batch_size=batch_size, rules=rules)
    elif fmt in ARCHIVES:
        yield from _read_archive(path, fmt, source, batch_size, depth)
    else:
        try:
            mtime = path.stat().st_mtime
            with path.open("rb") as handle:
                head = handle.read(SNIFF_BYTES)
                yield from _read_text(head, handle, source, source, batch_size, mtime)
        except OSError as exc:
            yield _unreadable(source, f"cannot read: {exc.strerror or exc}", fmt)


def _read_text(
    head: bytes,
    stream: ByteStream,
    name: str,
    source: str,
    batch_size: int,
    mtime: float | None,
) -> Iterator[EventBatch]:
    """A stream that is no EVTX file or archive, from its ``head``: read as its text format
    from its first line holding text, or reported with the reason it is not read."""
    head, skipped, whole = skip_blank(head, stream.read)
    fmt = sniff_bytes(head, PurePosixPath(name).name)
    if not whole:
        yield _unreadable(source, f"only blank lines in its first {BLANK_LIMIT >> 20} MiB", "empty")
    elif fmt == "empty":
        reason = "only blank lines: no text to read" if skipped or head else "empty: no bytes"
        yield _unreadable(source, reason, fmt)
    elif fmt in {"binary", "evtx"} or fmt in ARCHIVES:
        yield _unreadable(source, "binary content of no supported format", "binary")
    elif fmt == "text" and not _plain_log_name(name):
        yield _unreadable(source, _PLAIN_TEXT_SKIPPED, fmt)
    else:
        yield from _read_stream(
            _Prefixed(head, stream), fmt, source, batch_size, mtime, skipped + 1
        )


def _read_stream(
    stream: ByteStream,
    fmt: str,
    source: str,
    batch_size: int,
    mtime: float | None,
    first_line: int = 1,
) -> Iterator[EventBatch]:
    builder = BatchBuilder(source, fmt, batch_size)
    try:
        yield from read_text_stream(
            stream, fmt, source, builder, mtime=mtime, first_line=first_line
        )
    except _STREAM_ERRORS as exc:
        # A damaged compressed stream: what was read stays, the rest is reported.
        builder.issue(source, f"read stopped: {type(exc).__name__}: {exc}", "file")
    last = builder.finish()
    if last is not None:
        yield last


def _read_archive(
    path: Path, fmt: str, source: str, batch_size: int, depth: int
) -> Iterator[EventBatch]:
    if depth >= MAX_ARCHIVE_DEPTH:
        yield _unreadable(source, f"archive nested deeper than {MAX_ARCHIVE_DEPTH}", fmt)
        return
    if fmt == "zip":
        yield from _read_zip(path, source, batch_size, depth)
        return
    opener = gzip.open if fmt == "gzip" else bz2.open
    inner_name = source[: -len(Path(source).suffix)] if Path(source).suffix else source
    try:
        with opener(path, "rb") as stream:
            yield from _read_member(stream, inner_name, source, batch_size, depth)
    except _STREAM_ERRORS as exc:
        yield _unreadable(source, f"{fmt} stream unreadable: {type(exc).__name__}: {exc}", fmt)


def _read_zip(path: Path, source: str, batch_size: int, depth: int) -> Iterator[EventBatch]:
    try:
        archive = zipfile.ZipFile(path)
    except (*_STREAM_ERRORS, zipfile.LargeZipFile) as exc:
        yield _unreadable(source, f"zip archive unreadable: {exc}", "zip")
        return
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            member = f"{source}!{info.filename}"
            if info.flag_bits & 0x1:
                yield _unreadable(member, "encrypted zip member, skipped", "zip")
                continue
            try:
                with archive.open(info) as stream:
                    yield from _read_member(stream, member, member, batch_size, depth)
            except (*_STREAM_ERRORS, NotImplementedError) as exc:
                yield _unreadable(member, f"zip member unreadable: {type(exc).__name__}: {exc}")


def _read_member(
    stream: ByteStream, name: str, source: str, batch_size: int, depth: int
) -> Iterator[EventBatch]:
    """A decompressed stream: sniffed, then read as text or spooled for EVTX and archives."""
    head = stream.read(SNIFF_BYTES)
    fmt = sniff_bytes(head, PurePosixPath(name).name)
    if fmt == "evtx" or fmt in ARCHIVES:
        # The EVTX worker and the zip reader need a real, seekable file: spool to disk.
        with tempfile.NamedTemporaryFile(prefix="sentinelle-", suffix=".spool") as spool:
            spool.write(head)
            if len(head) > MAX_SPOOL_BYTES or not _copy_capped(
                stream, spool, MAX_SPOOL_BYTES - len(head)
            ):
                yield _unreadable(
                    source, f"{fmt} member larger than {MAX_SPOOL_BYTES >> 30} GiB, skipped", fmt
                )
                return
            spool.flush()
            if fmt == "evtx":
                yield from read_evtx(spool.name, source, batch_size=batch_size)
            else:
                yield from _read_archive(Path(spool.name), fmt, source, batch_size, depth + 1)
        return
    yield from _read_text(head, stream, name, source, batch_size, None)


def _copy_capped(stream: ByteStream, out: IO[bytes], limit: int) -> bool:
    """Copy ``stream`` to ``out``; False (copy abandoned) past ``limit`` bytes."""
    copied = 0
    while True:
        block = stream.read(1 << 20)
        if not block:
            return True
        copied += len(block)
        if copied > limit:
            return False
        out.write(block)


class _Prefixed:
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
