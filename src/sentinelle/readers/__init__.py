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

import functools
import os
import stat
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from sentinelle.errors import Location, ReadError
from sentinelle.events import EventBatch
from sentinelle.readers.archives import MAX_ARCHIVE_DEPTH, read_archive
from sentinelle.readers.evtx import (
    EvtxLimits,
    WorkerRules,
    prestart_worker,
    read_evtx,
    read_evtx_files,
)
from sentinelle.readers.limits import DEFAULT_LIMITS, ReadLimits
from sentinelle.readers.lines import ByteStream
from sentinelle.readers.members import Reading, read_member, read_text, unreadable
from sentinelle.readers.sniff import (
    ARCHIVES,
    MAGIC_BYTES,
    SNIFF_BYTES,
    is_binary_container,
    skip_blank,
    sniff_bytes,
)

__all__ = [
    "MAX_ARCHIVE_DEPTH",
    "STDIN_PATH",
    "STDIN_SOURCE",
    "EvtxLimits",
    "ReadLimits",
    "WorkerRules",
    "expand_paths",
    "prestart_worker",
    "read_file",
    "read_files",
    "read_paths",
    "read_stream",
    "sniff_format",
]

_LINK_FOLDER = "symbolic link to a folder, not followed (--follow-symlinks follows it)"
_LINK = "symbolic link leaving the folder read, not followed (--follow-symlinks follows it)"


def expand_paths(paths: Iterable[str | Path], *, follow_symlinks: bool = False) -> list[Path]:
    """Every file under ``paths``: directories are walked recursively, in sorted order.

    Archives stay single files (their members are read by :func:`read_file`). A path that does
    not exist, and special files (FIFOs, sockets, devices), are kept, so that reading them
    reports them instead of dropping them silently.

    Symbolic links found in a folder: a link to a file inside the folder given is listed as its
    target; a link leaving that folder, or to a folder, is listed as the link, which
    :func:`read_file` then reports (not followed) unless ``follow_symlinks``, which follows
    every link (folders included, each folder once). A path named in ``paths`` that is a link
    is listed as it is, and so reported when read unless ``follow_symlinks``.
    """
    return [Path(name) for name in _file_names(paths, follow_symlinks)]


def _file_names(paths: Iterable[str | Path], follow_symlinks: bool = False) -> list[str]:
    """:func:`expand_paths` as strings, what the readers use: a Path object per file (made,
    compared while sorting, turned back into text) cost more than sniffing the file. Each name
    is the text of its Path, in the Paths' order (by their parts)."""
    out: list[str] = []
    for item in paths:
        top = Path(item)
        if not top.is_dir() or (top.is_symlink() and not follow_symlinks):
            # A link named directly is judged when read, as one met in a folder: these names
            # may be this function's own output, handed back (the hunt reads what it expanded).
            out.append(str(top))
            continue
        inside = os.path.realpath(top).rstrip(os.sep) + os.sep
        seen = {os.path.realpath(top)}
        found: list[tuple[list[str], str]] = []
        for root, dirs, files in os.walk(top, followlinks=follow_symlinks):
            dirs.sort()
            folder = Path(root)  # one per folder; its files are joined as text
            base = str(folder)
            prefix = "" if base == "." else base.rstrip(os.sep) + os.sep
            parts = list(folder.parts)
            for name in list(dirs):
                full = prefix + name
                if not os.path.islink(full):  # noqa: PTH114 - names stay text (see above)
                    continue
                real = os.path.realpath(full)
                if not follow_symlinks:
                    found.append(([*parts, name], full))  # listed: read_file reports it
                elif real in seen:
                    dirs.remove(name)  # a folder already walked (a loop of links)
                else:
                    seen.add(real)
            for name in files:
                full = prefix + name
                if not follow_symlinks and os.path.islink(full):  # noqa: PTH114
                    real = os.path.realpath(full)
                    if real.startswith(inside) and os.path.isfile(real):  # noqa: PTH113
                        full = real  # a link within the input: its target is read
                found.append(([*parts, name], full))
        found.sort()
        # FIFOs, sockets and devices stay in: reading them reports them (never silently).
        out.extend(name for _, name in found)
    return out


def _link_refusal(path: str | Path, follow_symlinks: bool) -> str | None:
    """Why a symbolic link ``path`` is not read (None: not a link, or links are followed)."""
    if follow_symlinks or not os.path.islink(path):  # noqa: PTH114 - one call per file
        return None
    return _LINK_FOLDER if os.path.isdir(path) else _LINK  # noqa: PTH112


def sniff_format(path: str | Path, mode: int | None = None) -> str:
    """``evtx``, ``jsonl``, ``syslog``, ``cef``, ``kv``, ``zeek``, ``csv``, ``text``, ``gzip``,
    ``bzip2``, ``zip``, ``binary`` (unsupported) or ``empty``; raises ReadError if unreadable.

    ``mode``: the file's ``st_mode`` when the caller has just read it (not a link's own).
    """
    try:
        # Plain descriptors: sniffing runs once per file, where a buffered file object costs
        # more than the read. Magic numbers need the first 4 KiB (EVTX: up to the first chunk
        # signature); only text formats need the whole sniff window.
        if mode is None:
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
    path: str | Path,
    *,
    batch_size: int = 2048,
    rules: WorkerRules | None = None,
    limits: ReadLimits = DEFAULT_LIMITS,
    follow_symlinks: bool = False,
    keep_raw: bool = True,
) -> Iterator[EventBatch]:
    """Normalised batches of one file of any supported format, archives included.

    ``-`` reads standard input (see :func:`read_stream`). ``rules``, ``keep_raw``: as for
    :func:`read_paths`. ``limits``: what one hostile input may cost (see :class:`ReadLimits`).
    A symbolic link is reported and not read unless ``follow_symlinks`` (see
    :func:`expand_paths`).
    """
    if str(path) == STDIN_PATH:
        return read_stream(sys.stdin.buffer, STDIN_SOURCE, batch_size=batch_size, limits=limits)
    refusal = _link_refusal(path, follow_symlinks)
    if refusal is not None:
        return iter((unreadable(str(path), refusal),))
    return _read(Path(path), str(path), Reading(batch_size, limits, keep_raw=keep_raw), rules)


def read_stream(
    stream: ByteStream,
    source: str,
    *,
    batch_size: int = 2048,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> Iterator[EventBatch]:
    """Normalised batches of a byte stream (standard input, a pipe, a socket's file).

    The format is sniffed from the first bytes, as for a file. Text formats are read as the
    bytes come, so a live pipe gives its events while it is still open; EVTX and archives need
    a seekable file and are copied to a temporary one first (capped, as archive members are).
    Events carry ``source`` as their provenance, with line or record numbers as usual.
    """
    return read_member(stream, source, source, Reading(batch_size, limits), 0)


def read_paths(
    paths: Iterable[str | Path],
    *,
    batch_size: int = 2048,
    rules: WorkerRules | None = None,
    limits: ReadLimits = DEFAULT_LIMITS,
    follow_symlinks: bool = False,
    keep_raw: bool = True,
) -> Iterator[EventBatch]:
    """Batches of every file under ``paths`` (see :func:`expand_paths`), file after file.

    Runs of consecutive EVTX files share one worker that parses ahead of the consumer. Given
    the compiled ``rules`` the consumer will run, that worker also runs them on part of the
    records while the consumer falls behind (see :func:`read_evtx_files`); the batches are
    the same, and the consumer's ``rules.match_batch`` gives the same detections.
    ``keep_raw=False``: the EVTX readers leave each event's ``raw`` empty instead of copying
    its record (other readers keep the text they have anyway), for a consumer that never reads
    it, such as the hunt.
    """
    yield from read_files(
        _file_names(paths, follow_symlinks),
        batch_size=batch_size,
        rules=rules,
        limits=limits,
        follow_symlinks=follow_symlinks,
        keep_raw=keep_raw,
    )


def read_files(
    names: Iterable[str],
    *,
    batch_size: int = 2048,
    rules: WorkerRules | None = None,
    limits: ReadLimits = DEFAULT_LIMITS,
    follow_symlinks: bool = False,
    keep_raw: bool = True,
) -> Iterator[EventBatch]:
    """:func:`read_paths` for file names already expanded (by :func:`expand_paths`), read as
    named: a hunt expands its inputs once (a stat and a Path per file, again, cost it about
    as much as sniffing the file)."""
    files = iter(names)
    held: list[tuple[str, str]] = []

    def sniffed(path: str) -> str:
        # One lstat tells a link (refused unless followed) and, for anything else, the mode
        # the sniff needs: a system call a file fewer than asking each in turn.
        if path == STDIN_PATH:
            return "stream"  # sniffed when read: reading it now would consume it
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            return _sniff_quietly(path)  # reported as unreadable
        if stat.S_ISLNK(mode):  # refused when read (read_file says why) unless followed
            return _sniff_quietly(path) if follow_symlinks else "link"
        return _sniff_quietly(path, mode)

    def evtx_run(first: str) -> Iterator[tuple[str | Path, str | None]]:
        yield first, first
        for path in files:
            fmt = sniffed(path)
            if fmt != "evtx":
                held.append((path, fmt))
                return
            yield path, path

    for first in files:
        path, fmt = first, sniffed(first)
        while True:
            if fmt == "evtx":
                yield from read_evtx_files(
                    evtx_run(path), batch_size=batch_size, rules=rules, keep_raw=keep_raw
                )
            else:
                yield from read_file(
                    path,
                    batch_size=batch_size,
                    limits=limits,
                    follow_symlinks=follow_symlinks,
                    keep_raw=keep_raw,
                )
            if not held:
                break
            path, fmt = held.pop()


def _sniff_quietly(path: str, mode: int | None = None) -> str:
    try:
        return sniff_format(path, mode)
    except ReadError:
        return "unreadable"


def _read(
    path: Path, source: str, reading: Reading, rules: WorkerRules | None = None
) -> Iterator[EventBatch]:
    try:
        fmt = sniff_format(path)
    except ReadError as exc:
        yield unreadable(source, exc.message)
        return
    if fmt == "evtx":
        yield from read_evtx(
            path, source, batch_size=reading.batch_size, rules=rules, keep_raw=reading.keep_raw
        )
        return
    try:
        info = path.stat()
        if fmt in ARCHIVES:
            reading.top_size = info.st_size
            yield from read_archive(path, fmt, source, reading, 0)
            return
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
            yield from read_text(head, handle, source, source, reading, info.st_mtime)
    except OSError as exc:
        yield unreadable(source, f"cannot read: {exc.strerror or exc}", fmt)
