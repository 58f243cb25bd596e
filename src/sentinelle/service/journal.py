"""The journal: every accepted record, on disk and synced, in SQLite segments.

An event is *accepted* once it is here: a listener acknowledges its sender only when the future
:meth:`Journal.submit` returned has resolved. Durability is the property of this module alone;
the detector and the store may crash and replay from it.

Why SQLite (WAL, ``synchronous=FULL``) and not a log format of ours: a commit is atomic and
synced, a torn write is rolled back at the next open, and any tool (``sqlite3``, the retro-hunt)
reads a segment. Why segments: retention drops a whole file (no ``DELETE`` and ``VACUUM`` of
a live database), and a reader finds a position by the segment's name.

Grouped commits: :meth:`Journal.submit` only queues; one writer thread takes everything queued
since its last commit, writes it in one transaction and commits (one WAL sync), then resolves
every future of the group. Under load a group grows, so the sync cost is spread over more
records and never sets the rate; when idle a record is committed alone, at once.

Refusal (:class:`~sentinelle.service.records.Refused`): when the disk is full or unwritable,
below its free-space floor, or the journal at its size cap with nothing it may remove, new
records are refused (HTTP 503, TCP not read) and the journal keeps running; it tries again
by itself every ``retry_seconds`` and resumes when space returns. Records already accepted
are never removed before the detector has consumed them (:meth:`Journal.release`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from sentinelle.errors import SentinelleError
from sentinelle.service.log import log_event
from sentinelle.service.records import Record, RecordKind, Refused

log = logging.getLogger("sentinelle.service.journal")

SEGMENT_SUFFIX = ".journal"
_NAME_DIGITS = 20  # a segment is named after its first sequence number, zero-padded
_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    received REAL NOT NULL,
    input TEXT NOT NULL,
    sender TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS segment (name TEXT PRIMARY KEY, value REAL NOT NULL);
"""


class JournalError(SentinelleError):
    """The journal folder cannot be opened (not a folder, a segment that is not SQLite)."""


@dataclass(frozen=True, slots=True)
class JournalLimits:
    """How large and how old the journal may grow, and how it is cut into segments."""

    max_bytes: int = 20 * 1024**3  # all segments together
    max_age_seconds: float = 30 * 86400.0  # consumed segments older than this are removed
    segment_bytes: int = 256 * 1024**2  # a segment is closed past this size ...
    segment_seconds: float = 3600.0  # ... or this age
    min_free_bytes: int = 256 * 1024**2  # refuse below this much free space on the disk
    max_pending_bytes: int = 64 * 1024**2  # queued, not yet committed
    max_group_records: int = 20_000  # records per grouped commit
    retry_seconds: float = 2.0  # after a refusal, when to try the disk again


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """A record as the journal holds it: its sequence number and the record."""

    seq: int
    record: Record


@dataclass(slots=True)
class JournalStats:
    """Counters read by ``/metrics`` (plain numbers: the journal knows nothing of Prometheus)."""

    last_seq: int = 0
    released: int = 0  # the consumer's position (everything up to it may be removed)
    size_bytes: int = 0
    segments: int = 0
    accepted_records: int = 0
    commits: int = 0
    refused_records: int = 0
    removed_segments: int = 0
    removed_records: int = 0
    refusing: str = ""  # the current reason for refusing, or empty


def segment_name(first_seq: int) -> str:
    return f"{first_seq:0{_NAME_DIGITS}d}{SEGMENT_SUFFIX}"


def list_segments(directory: Path) -> list[tuple[int, Path]]:
    """The segments of a journal folder, oldest first, as (first sequence number, path)."""
    found: list[tuple[int, Path]] = []
    try:
        names = [p.name for p in Path(directory).iterdir()]
    except FileNotFoundError:
        return found
    for name in names:
        stem, dot, suffix = name.partition(".")
        named = stem.isdecimal() and len(stem) == _NAME_DIGITS  # isdecimal: what int reads
        if dot and "." + suffix == SEGMENT_SUFFIX and named:
            found.append((int(stem), directory / name))
    found.sort()
    return found


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")  # the WAL is synced at every commit
    return conn


def _files_of(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def _size_of(path: Path) -> int:
    """The bytes a segment holds on disk: the database and its WAL (the ``-shm`` index is a
    fixed 32 KiB of shared memory, rebuilt at will, and not counted)."""
    total = 0
    for part in _files_of(path)[:2]:
        with contextlib.suppress(FileNotFoundError):
            total += part.stat().st_size
    return total


def _is_disk_problem(exc: BaseException) -> bool:
    return isinstance(exc, OSError | sqlite3.OperationalError | sqlite3.DatabaseError)


class _Segment:
    """One open segment file: its connection, first sequence number and creation time."""

    def __init__(self, path: Path, first_seq: int) -> None:
        self.path = path
        self.first_seq = first_seq
        self.conn = _connect(path)
        try:
            self.conn.executescript(_SCHEMA)
            row = self.conn.execute("SELECT value FROM segment WHERE name = 'created'").fetchone()
            if row is None:
                self.created = time.time()
                self.conn.execute(
                    "INSERT INTO segment (name, value) VALUES ('created', ?)", (self.created,)
                )
            else:
                self.created = float(row[0])
            last = self.conn.execute("SELECT max(seq) FROM records").fetchone()[0]
        except sqlite3.Error:
            self.conn.close()
            raise
        self.last_seq = int(last) if last is not None else first_seq - 1

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.close()


class Journal:
    """The writer side: :meth:`submit` records, one thread commits them in groups.

    Implements :class:`~sentinelle.service.records.RecordSink`.
    """

    def __init__(self, directory: Path, limits: JournalLimits | None = None) -> None:
        self.directory = Path(directory)
        self.limits = limits or JournalLimits()
        self.stats = JournalStats()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JournalError(f"cannot create the journal folder {self.directory}: {exc}") from exc
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[Sequence[Record], Future[int]] | None] = (
            queue.SimpleQueue()
        )
        self._pending_bytes = 0
        self._stopping = False
        self._refused_until = 0.0
        self._refusal = ""
        self._free_checked = 0.0
        self._closed: dict[int, tuple[Path, int, float, int]] = {}  # first -> path, last, t, size
        self._segment = self._open_last()
        self._refresh_sizes()
        self._thread = threading.Thread(target=self._run, name="journal-writer", daemon=True)
        self._thread.start()

    # -- the RecordSink contract ---------------------------------------------------------------

    def submit(self, records: Sequence[Record]) -> Future[int]:
        """Queue records for the next grouped commit (see :class:`RecordSink`)."""
        size = sum(len(r.data) + len(r.sender) + len(r.key) + 64 for r in records)
        with self._lock:
            reason = self._refusing_now()
            if not reason and self._pending_bytes + size > self.limits.max_pending_bytes:
                reason = "journal queue full"
            if reason:
                self.stats.refused_records += len(records)
                raise Refused(reason, retry_after=self._retry_after(reason))
            self._pending_bytes += size
        future: Future[int] = Future()
        future.set_running_or_notify_cancel()
        if not records:
            future.set_result(self.stats.last_seq)
            with self._lock:
                self._pending_bytes -= size
            return future
        self._queue.put((records, future))
        return future

    def _retry_after(self, reason: str) -> float:
        if reason == "journal queue full":
            return 0.2
        if reason == "stopping":
            return 10.0
        return self.limits.retry_seconds

    def _refusing_now(self) -> str:
        """The reason to refuse new records now, or empty (called under the lock).

        Free space is looked at twice a second at most; after a refusal, nothing is tried
        before ``retry_seconds``, then the disk is looked at again and, if it has room, the
        next records are tried (and refused again if the commit still fails).
        """
        if self._stopping:
            return "stopping"
        now = time.monotonic()
        if self._refusal and now < self._refused_until:
            return self._refusal
        if self._refusal or now - self._free_checked >= 0.5:
            self._free_checked = now
            reason = self._space_problem()
            if reason:
                self._refuse(reason)
                return reason
            if self._refusal:
                log_event(log, "journal.resumed", after=self._refusal)
                self._refusal = ""
                self.stats.refusing = ""
        return ""

    def _space_problem(self) -> str:
        try:
            st = os.statvfs(self.directory)
        except OSError as exc:
            return f"journal folder unreadable: {exc.strerror}"
        if st.f_bavail * st.f_frsize < self.limits.min_free_bytes:
            return "disk almost full"
        if self.stats.size_bytes >= self.limits.max_bytes:
            self._remove_expired()
            if self.stats.size_bytes >= self.limits.max_bytes:
                return "journal size cap reached"
        return ""

    def _refuse(self, reason: str) -> None:
        if reason != self._refusal:
            log_event(log, "journal.refusing", reason=reason)
        self._refusal = reason
        self.stats.refusing = reason
        self._refused_until = time.monotonic() + self.limits.retry_seconds
        self._free_checked = time.monotonic()

    # -- consumer position and retention -------------------------------------------------------

    def release(self, position: int) -> None:
        """The consumer (the detector) has processed everything up to ``position``: segments
        wholly before it may be removed by retention."""
        with self._lock:
            self.stats.released = max(self.stats.released, position)

    def _remove_expired(self) -> None:
        """Remove consumed segments past the age limit, then oldest first while over the size
        cap. Never a segment holding a record the consumer has not processed, nor the open one."""
        now = time.time()
        for first in sorted(self._closed):
            path, last, newest, size = self._closed[first]
            if last > self.stats.released:
                break
            too_old = now - newest > self.limits.max_age_seconds
            too_big = self.stats.size_bytes > self.limits.max_bytes
            if not (too_old or too_big):
                break
            removed = 0
            for part in _files_of(path):
                with contextlib.suppress(FileNotFoundError):
                    part.unlink()
                    removed += 1
            del self._closed[first]
            self.stats.size_bytes -= size
            self.stats.segments -= 1
            self.stats.removed_segments += 1
            self.stats.removed_records += last - first + 1
            log_event(
                log,
                "journal.segment_removed",
                first=first,
                last=last,
                records=last - first + 1,
                bytes=size,
                why="age" if too_old else "size",
            )

    # -- the writer thread ---------------------------------------------------------------------

    def _open_last(self) -> _Segment:
        segments = list_segments(self.directory)
        try:
            for first, path in segments[:-1]:
                seg = _Segment(path, first)
                kept = seg.conn.execute(
                    "SELECT value FROM segment WHERE name = 'newest'"
                ).fetchone()
                newest = (
                    kept[0]
                    if kept is not None
                    else seg.conn.execute("SELECT max(received) FROM records").fetchone()[0]
                )
                seg.close()
                self._closed[first] = (
                    path,
                    seg.last_seq,
                    float(newest or seg.created),
                    _size_of(path),
                )
            if segments:
                first, path = segments[-1]
                return _Segment(path, first)
            return self._new_segment(1)
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"journal segment unreadable in {self.directory}: {exc}") from exc

    def _new_segment(self, first_seq: int) -> _Segment:
        path = self.directory / segment_name(first_seq)
        try:
            seg = _Segment(path, first_seq)
        except (OSError, sqlite3.Error):
            for part in _files_of(path):  # a file the full disk left half made
                with contextlib.suppress(OSError):
                    part.unlink()
            raise
        # The new file's name must survive a crash as well as its content.
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return seg

    def _refresh_sizes(self) -> None:
        # A closed segment's size was taken when it closed; only the open one grows.
        closed = sum(entry[3] for entry in self._closed.values())
        self.stats.size_bytes = closed + _size_of(self._segment.path)
        self.stats.segments = len(self._closed) + 1
        self.stats.last_seq = self._segment.last_seq

    def _roll_if_due(self) -> None:
        seg = self._segment
        if seg.last_seq < seg.first_seq:
            return  # empty: nothing to close
        size = _size_of(seg.path)
        if size < self.limits.segment_bytes and time.time() - seg.created < (
            self.limits.segment_seconds
        ):
            return
        newest = seg.conn.execute("SELECT max(received) FROM records").fetchone()[0]
        # Kept in the segment, so that opening the journal (a restart) reads one row per closed
        # segment instead of scanning every record of it (seconds for a large journal).
        seg.conn.execute(
            "INSERT OR REPLACE INTO segment (name, value) VALUES ('newest', ?)", (newest,)
        )
        # The next segment first: if the disk cannot hold it, the open one stays open and the
        # journal refuses until space returns, then rolls (closing first left no segment).
        fresh = self._new_segment(seg.last_seq + 1)
        seg.close()
        self._closed[seg.first_seq] = (seg.path, seg.last_seq, float(newest), _size_of(seg.path))
        self._segment = fresh
        log_event(log, "journal.segment_closed", first=seg.first_seq, last=seg.last_seq)

    def _take_group(self) -> tuple[list[tuple[Sequence[Record], Future[int]]], bool]:
        """Block for one submission, then take whatever else is queued (up to the group cap)."""
        item = self._queue.get()
        if item is None:
            return [], True
        group = [item]
        count = len(item[0])
        stop = False
        while count < self.limits.max_group_records:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                stop = True
                break
            group.append(item)
            count += len(item[0])
        return group, stop

    def _run(self) -> None:
        stop = False
        while not stop:
            group, stop = self._take_group()
            if group:
                self._commit(group)
            with self._lock:
                try:
                    self._roll_if_due()
                    self._refresh_sizes()
                    self._remove_expired()
                except (OSError, sqlite3.Error) as exc:
                    self._refuse(f"journal unwritable: {exc}")

    def _commit(self, group: list[tuple[Sequence[Record], Future[int]]]) -> None:
        seg = self._segment
        seq = seg.last_seq
        rows = []
        ends: list[int] = []
        for records, _future in group:
            for r in records:
                seq += 1
                rows.append((seq, r.received, r.input, r.sender, str(r.kind), r.key, r.data))
            ends.append(seq)
        size = sum(len(records) for records, _ in group)
        try:
            seg.conn.execute("BEGIN IMMEDIATE")
            seg.conn.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            seg.conn.execute("COMMIT")
        except Exception as exc:  # the writer's boundary: fail the group, keep running
            with contextlib.suppress(sqlite3.Error):
                seg.conn.execute("ROLLBACK")
            reason = _disk_reason(exc)
            with self._lock:
                self._refuse(reason)
                self.stats.refused_records += size
                self._pending_bytes -= sum(_weight(records) for records, _ in group)
            for _records, future in group:
                future.set_exception(Refused(reason, retry_after=self.limits.retry_seconds))
            if not _is_disk_problem(exc):
                log.error("journal commit failed", exc_info=exc)
            return
        seg.last_seq = seq
        with self._lock:
            self.stats.last_seq = seq
            self.stats.accepted_records += size
            self.stats.commits += 1
            self._pending_bytes -= sum(_weight(records) for records, _ in group)
        for (_records, future), end in zip(group, ends, strict=True):
            future.set_result(end)

    # -- stopping ------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop accepting, commit everything already queued, close the segment."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
        self._queue.put(None)
        self._thread.join()
        self._segment.close()
        log_event(log, "journal.closed", last_seq=self.stats.last_seq)


def _weight(records: Sequence[Record]) -> int:
    return sum(len(r.data) + len(r.sender) + len(r.key) + 64 for r in records)


def _disk_reason(exc: BaseException) -> str:
    text = str(exc).lower()
    if "full" in text or getattr(exc, "errno", None) == 28:
        return "disk full"
    if "readonly" in text or "read-only" in text or "permission" in text:
        return "journal unwritable (read-only)"
    return f"journal unwritable: {exc}"


_KINDS = {kind.value: kind for kind in RecordKind}


def _kind(text: str) -> RecordKind:
    """A stored kind as the enum (a dict lookup: the enum's own costs ~10 us per record)."""
    return _KINDS.get(text) or RecordKind(text)


class JournalReader:
    """The reader side (the detector, the retro-hunt): records after a position, in order.

    Opens each segment it needs read-only in spirit (it never writes) and keeps the last one
    open, so polling the tail costs one indexed query.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._segments: list[tuple[int, Path]] = []
        self._open: tuple[int, sqlite3.Connection] | None = None

    def close(self) -> None:
        if self._open is not None:
            self._open[1].close()
            self._open = None

    def _connection(self, first: int, path: Path) -> sqlite3.Connection | None:
        if self._open is not None and self._open[0] == first:
            return self._open[1]
        self.close()
        if not path.exists():
            return None
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA query_only=ON")
        self._open = (first, conn)
        return conn

    def read(self, after: int, limit: int = 10_000) -> list[JournalEntry]:
        """Up to ``limit`` records with a sequence number above ``after``, oldest first."""
        found: list[JournalEntry] = []
        for attempt in range(2):
            if attempt or not self._segments:
                self._segments = list_segments(self.directory)  # new segments, removed ones
            start = 0
            for i, (first, _path) in enumerate(self._segments):
                if first <= after + 1:
                    start = i
            for first, path in self._segments[start:]:
                if len(found) >= limit:
                    return found
                conn = self._connection(first, path)
                if conn is None:
                    continue
                try:
                    rows = conn.execute(
                        "SELECT seq, received, input, sender, kind, key, data FROM records "
                        "WHERE seq > ? ORDER BY seq LIMIT ?",
                        (after, limit - len(found)),
                    ).fetchall()
                except sqlite3.OperationalError:
                    continue  # a segment being created: its table is not there yet
                for seq, received, input_name, sender, kind, key, data in rows:
                    found.append(
                        JournalEntry(
                            int(seq),
                            Record(input_name, sender, _kind(kind), data, received, key),
                        )
                    )
                    after = int(seq)
            if found:
                return found
        return found

    def iter_records(self, after: int = 0, since: float | None = None) -> Iterator[JournalEntry]:
        """Every record after ``after`` (received at or after ``since`` when given)."""
        while True:
            batch = self.read(after)
            if not batch:
                return
            for entry in batch:
                if since is None or entry.record.received >= since:
                    yield entry
            after = batch[-1].seq

    def last_seq(self) -> int:
        segments = list_segments(self.directory)
        for first, path in reversed(segments):
            conn = self._connection(first, path)
            if conn is None:
                continue
            try:
                value = conn.execute("SELECT max(seq) FROM records").fetchone()[0]
            except sqlite3.OperationalError:
                continue
            if value is not None:
                return int(value)
        return 0
