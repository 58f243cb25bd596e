"""EVTX reader: the native parser runs in a guarded worker process, normalising runs here.

The worker (:mod:`sentinelle.readers.evtx_worker`) parses chunk by chunk and streams each chunk's
records as compact JSON through a pipe; this process decodes them with orjson and flattens them.
Parsing and normalising therefore overlap on two cores, and what crosses the pipe is the cheapest
possible form (the JSON text the parser makes anyway, which is also kept as ``Event.raw``).

Guards: the worker caps its address space (``EvtxLimits.memory_mb``); this side gives every
chunk ``EvtxLimits.chunk_seconds`` of wall clock. A chunk that hangs the parser or kills the
worker is reported (file + chunk + reason), the worker is replaced and parsing resumes at the
next chunk, so one poisoned chunk costs only its own records. After ``max_restarts`` such
failures in one file the rest of the file is reported as skipped.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import mmap
import os
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

import orjson

from sentinelle.events import FLAG_UNDECODABLE, Event, EventBatch
from sentinelle.gcpause import collector_paused
from sentinelle.readers import evtx_records
from sentinelle.readers.batches import BatchBuilder
from sentinelle.readers.evtx_records import DECODE_ERRORS, decode_general, decode_record
from sentinelle.readers.evtx_worker import BACKLOG_BYTES, FRAME, HINT, PAGE_SIZE, PROGRESS
from sentinelle.readers.winevent import NO_FLAGS

_U32 = struct.Struct("<I")
_PIPE_SIZE = 1 << 20
_F_SETPIPE_SZ = 1031  # Linux fcntl; absent elsewhere, where the default pipe size is used
_WORKER_SCRIPT = Path(__file__).with_name("evtx_worker.py")
_SHM = "/dev/shm"  # noqa: S108 - memory-backed home of the progress page when present
_READ_AHEAD = 65536


@dataclass(frozen=True, slots=True)
class EvtxLimits:
    """Resource limits of the EVTX worker (documented in docs/ARCHITECTURE.md)."""

    chunk_seconds: float = 15.0  # wall clock for one 64 KiB chunk (normal: milliseconds)
    memory_mb: int = 2048  # RLIMIT_AS of the worker (normal use: under 200 MiB)
    start_seconds: float = 30.0  # interpreter start-up of a new worker
    max_restarts: int = 5  # worker kills/crashes tolerated in one file before giving up on it
    ansi_codec: str = "windows-1252"
    # Unread bytes in the pipe past which the worker normalises records itself (load balancing;
    # 0: always, -1: never). Not a limit, but fixed per worker like the limits.
    backlog_bytes: int = BACKLOG_BYTES


DEFAULT_LIMITS = EvtxLimits()


@runtime_checkable
class WorkerRules(Protocol):
    """A rule set the worker may run (``sentinelle.engine.CompiledRules``): the worker
    unpickles ``pickled()`` and calls its ``hits(fields)``, a list of rule indices."""

    def pickled(self) -> bytes: ...


class _WorkerGone(Exception):
    """The worker hung past its deadline or died; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Worker:
    def __init__(self, limits: EvtxLimits) -> None:
        self.limits = limits
        self.owner = os.getpid()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the worker
        env = dict(os.environ)
        # Few malloc arenas: each one reserves address space that RLIMIT_AS would count.
        env["MALLOC_ARENA_MAX"] = "2"
        # Run as a script (importing the package would slow every start for nothing); -P keeps
        # this folder, whose evtx.py would shadow the parser package, off sys.path.
        # The worker writes (request, chunk) it is on into this shared page before each chunk,
        # with no system call, so a hang or a crash is pinned to its chunk after the fact.
        self._progress_file = tempfile.TemporaryFile(dir=_SHM if Path(_SHM).is_dir() else None)  # noqa: SIM115
        self._progress_file.truncate(PAGE_SIZE)
        self._progress = mmap.mmap(self._progress_file.fileno(), PAGE_SIZE)
        self.seq = 0
        self.rules: bytes | None = None  # the rule set offered to this worker, pickled
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-P",
                str(_WORKER_SCRIPT),
                str(limits.memory_mb),
                str(limits.backlog_bytes),
                str(self._progress_file.fileno()),
            ],
            pass_fds=(self._progress_file.fileno(),),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            close_fds=True,
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self._stdin: IO[bytes] = self.proc.stdin
        self._fd = self.proc.stdout.fileno()
        os.set_blocking(self._fd, False)
        with contextlib.suppress(OSError):
            import fcntl

            fcntl.fcntl(self._fd, _F_SETPIPE_SZ, _PIPE_SIZE)
        self._buf = bytearray(_PIPE_SIZE)
        self._pos = 0  # first unread byte in _buf
        self._end = 0  # end of the bytes read so far
        self.fresh = True

    def request(self, jobs: Iterable[_Job]) -> None:
        """Queue files in one write (each write wakes the worker up); numbers each request."""
        codec = self.limits.ansi_codec
        lines = []
        for job in jobs:
            self.seq += 1
            job.seq = self.seq
            request = {"path": job.path, "start": job.start, "codec": codec, "seq": job.seq}
            lines.append(orjson.dumps(request) + b"\n")
        self._send(lines)

    def _send(self, lines: list[bytes]) -> None:
        try:
            self._stdin.write(b"".join(lines))
            self._stdin.flush()
        except OSError as exc:
            raise _WorkerGone(self._death_reason(f"worker unreachable ({exc})")) from exc

    def offer(self, rules: WorkerRules | None) -> None:
        """Offer the worker a rule set to run on the records it normalises (see _Pace).

        Only an idle worker is offered one: it reads the pickle at once, so this write cannot
        wait on a worker that waits on us to read its frames.
        """
        blob = None if rules is None else rules.pickled()
        if blob is not self.rules:
            head = orjson.dumps({"rules": len(blob or b"")}) + b"\n"
            self._send([head, blob or b""])
            self.rules = blob

    def hint(self, normalise: int, match: bool) -> None:
        """Tell the worker the backlog past which to normalise records itself, and whether to
        run the offered rules on them too."""
        HINT.pack_into(self._progress, PROGRESS.size, 1, normalise, int(match))

    def progress(self) -> tuple[int, int | None]:
        """The request number and the chunk the worker was at (None before its first chunk)."""
        seq, chunk = PROGRESS.unpack_from(self._progress)
        return seq, (chunk - 1 if chunk else None)

    def frame(self) -> tuple[bytes, bytes]:
        """The next frame, or _WorkerGone when it does not come in time."""
        timeout = self.limits.chunk_seconds
        if self.fresh:
            timeout += self.limits.start_seconds
        header = self._read(FRAME.size, timeout)
        self.fresh = False
        kind, length = FRAME.unpack(header)
        return kind, self._read(length, timeout)

    def _read(self, size: int, timeout: float) -> bytes:
        # Bytes arrive into one reusable buffer (readv into its free tail); consumed bytes are
        # dropped only when the buffer is compacted, so no frame costs a large allocation.
        deadline = time.monotonic() + timeout
        while self._end - self._pos < size:
            if self._pos and (self._pos > len(self._buf) // 2 or self._end == len(self._buf)):
                pending = self._end - self._pos
                self._buf[:pending] = self._buf[self._pos : self._end]
                self._pos, self._end = 0, pending
            if len(self._buf) - self._end < max(size - (self._end - self._pos), 65536):
                self._buf.extend(bytes(max(size, len(self._buf))))
            # Read little beyond this frame: what the worker wrote ahead stays in the pipe, where
            # the worker sees it as backlog and starts normalising records itself.
            wanted = max(size - (self._end - self._pos), _READ_AHEAD)
            try:
                got = os.readv(self._fd, [memoryview(self._buf)[self._end : self._end + wanted]])
            except BlockingIOError:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _WorkerGone(
                        f"no answer within {timeout:g} s (parser hung; worker killed)"
                    ) from None
                select.select([self._fd], [], [], remaining)
                continue
            if not got:
                raise _WorkerGone(self._death_reason("worker exited"))
            self._end += got
        data = bytes(memoryview(self._buf)[self._pos : self._pos + size])
        self._pos += size
        return data

    def _death_reason(self, default: str) -> str:
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return default
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            hint = " (memory limit?)" if name in ("SIGABRT", "SIGSEGV", "SIGKILL") else ""
            return f"worker killed by {name}{hint}; limit {self.limits.memory_mb} MiB{self._tail()}"
        return f"worker exited with status {code}{self._tail()}"

    def _tail(self) -> str:
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - 300))
            text = self._stderr.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""
        last = text.splitlines()[-1] if text else ""
        return f": {last}" if last else ""

    def alive(self) -> bool:
        return self.proc.poll() is None and self.owner == os.getpid()

    def kill(self) -> None:
        if self.owner != os.getpid():
            return  # inherited through fork: the process belongs to the parent
        with contextlib.suppress(OSError):
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._stderr.close()
        with contextlib.suppress(OSError, ValueError):
            self._progress.close()
            self._progress_file.close()


class _Pool:
    """Idle workers kept between files: starting an interpreter costs more than a small file."""

    def __init__(self) -> None:
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()

    def acquire(self, limits: EvtxLimits) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.limits == limits and worker.alive():
                    return worker
                worker.kill()
        return _Worker(limits)

    def release(self, worker: _Worker) -> None:
        with self._lock:
            if worker.alive() and len(self._idle) < 4:
                self._idle.append(worker)
                return
        worker.kill()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.kill()


_POOL = _Pool()
atexit.register(_POOL.close)


def prestart_worker() -> None:
    """Start a worker now, idle in the pool: its interpreter boots while the caller does other
    work (a hunt loads its rules meanwhile), instead of when the first EVTX file is read."""
    _POOL.release(_Worker(DEFAULT_LIMITS))


# Files requested ahead of the one being read: small EVTX files are common (a few chunks), and
# without look-ahead the worker would idle while this side normalises, and the reverse. Requests
# are topped up in groups, since every write to the worker costs a wake-up.
_LOOKAHEAD = 64
_TOP_UP_BELOW = 32


def read_evtx(
    path: str | Path,
    source: str | None = None,
    *,
    batch_size: int = 2048,
    limits: EvtxLimits = DEFAULT_LIMITS,
    rules: WorkerRules | None = None,
    keep_raw: bool = True,
) -> Iterator[EventBatch]:
    """Normalised batches of one EVTX file; damage is reported on the batches, never raised."""
    return read_evtx_files(
        [(path, source)], batch_size=batch_size, limits=limits, rules=rules, keep_raw=keep_raw
    )


def read_evtx_files(
    files: Iterable[tuple[str | Path, str | None]],
    *,
    batch_size: int = 2048,
    limits: EvtxLimits = DEFAULT_LIMITS,
    rules: WorkerRules | None = None,
    keep_raw: bool = True,
) -> Iterator[EventBatch]:
    """Batches of several EVTX files ``(path, source name)``, in order, parsed ahead in one worker.

    Each file's batches come in one run; every batch belongs to exactly one file.
    With ``rules``, the worker also runs that rule set on the records it normalises while the
    consumer falls behind: the batches then name it as ``matched_by`` and those events carry
    their ``hits``, which ``CompiledRules.match_batch`` takes instead of matching them again.
    """
    upcoming = iter(files)
    pending: deque[_Job] = deque()
    worker: _Worker | None = None
    pace = _Pace(limits, rules is not None)
    clean = False
    try:
        while True:
            if worker is None:
                worker = _POOL.acquire(limits)
                worker.offer(rules)
                pace.meet(worker)
                # a replaced worker gets the queued files again
                worker.request(pending)
            if len(pending) < _TOP_UP_BELOW:
                added = list(itertools.islice(upcoming, _LOOKAHEAD - len(pending)))
                for path, source in added:
                    name = str(path) if source is None else source
                    pending.append(_Job(os.fspath(path), name, batch_size, rules, keep_raw))
                if added:
                    worker.request(list(pending)[-len(added) :])
            if not pending:
                break
            job = pending[0]
            try:
                done = False
                while not done:
                    started = time.perf_counter()
                    done = _step(worker, job)
                    pace.own += time.perf_counter() - started
                    for batch in job.builder.drain():
                        handed = time.perf_counter()
                        yield batch
                        pace.consumed(worker, time.perf_counter() - handed)
            except _WorkerGone as gone:
                seq, chunk = worker.progress()
                worker.kill()
                worker = None
                job.failed(gone.reason, chunk if seq == job.seq else None, limits.max_restarts)
                if not job.finished:
                    continue
            last = job.builder.finish()
            if last is not None:
                handed = time.perf_counter()
                yield last
                if worker is not None:
                    pace.consumed(worker, time.perf_counter() - handed)
            pending.popleft()
        clean = True
    finally:
        if worker is not None:
            if clean:
                _POOL.release(worker)
            else:  # the consumer stopped early: the worker is mid-file, do not reuse it
                worker.kill()


# Backlog past which the worker normalises while the consumer of the batches is quick: near a
# full pipe, so that only a consumer that really falls behind gets help.
_QUIET_BACKLOG = 768 * 1024


class _Pace:
    """Whether the consumer of the batches is busy, and what the worker is told about it.

    Normalising in the worker costs more CPU in all (the flat fields cross the pipe as JSON
    and are decoded twice) and pays only when this process has more to do than the worker: when
    whoever reads the batches spends real time on them (rules, outputs). So the worker is told
    to normalise past ``limits.backlog_bytes`` while the consumer takes over a quarter of the
    time this side spends decoding, and only near a full pipe otherwise. Limits of 0 (always)
    or -1 (never) are the user's word and stay as they are. With rules offered, the worker is
    told to match what it normalises: a matched record costs less in all than a normalised one
    (its fields cross the pipe, and are decoded here, only if someone asks for them).

    With the C accelerator and no rules, the worker never normalises (unless the limit says
    always): the accelerator makes an event from a raw record for less than this side spends
    on a normalised row, so there is nothing to balance.
    """

    __slots__ = ("busy_at", "consumer", "match", "own", "told")

    def __init__(self, limits: EvtxLimits, rules: bool) -> None:
        self.busy_at = limits.backlog_bytes
        if not rules and self.busy_at > 0 and evtx_records.native_frame is not None:
            self.busy_at = -1
        self.match = rules
        self.consumer = 0.0  # seconds spent outside the reader, holding a batch
        self.own = 0.0  # seconds spent decoding frames
        self.told: int | None = None

    def meet(self, worker: _Worker) -> None:
        """A worker just taken from the pool. When this side will never want help it is told
        so at once: left to the backlog it starts with, it would normalise the chunks that fill
        the pipe before the first batch is consumed (and import the normaliser for them: one
        N frame in a hunt of 2,810 files cost it 30 ms and heavier collections after)."""
        self.told = None  # the pool's worker may hold the word of its last reader
        if self.busy_at < 0:
            worker.hint(self.busy_at, self.match)
            self.told = self.busy_at

    def consumed(self, worker: _Worker, seconds: float) -> None:
        want = self.busy_at
        if want > 0:
            self.consumer += seconds
            if self.consumer <= 0.25 * self.own:
                want = max(want, _QUIET_BACKLOG)
            # Recent batches weigh most: a hunt's consumer may change pace between files.
            self.consumer *= 0.5
            self.own *= 0.5
        if want != self.told:
            worker.hint(want, self.match)
            self.told = want


class _Job:
    """One EVTX file being read: its batches, and where to resume after a worker failure."""

    __slots__ = ("builder", "finished", "keep_raw", "path", "restarts", "seq", "source", "start")

    def __init__(
        self,
        path: str,
        source: str,
        batch_size: int,
        rules: WorkerRules | None = None,
        keep_raw: bool = True,
    ) -> None:
        self.path = path
        self.source = source
        self.keep_raw = keep_raw
        self.builder = BatchBuilder(source, "evtx", batch_size, matched_by=rules)
        self.start = 0
        self.seq = 0  # number of the worker request reading it
        self.restarts = 0
        self.finished = False

    def failed(self, reason: str, chunk: int | None, max_restarts: int) -> None:
        """The worker hung or died on ``chunk`` of this file (None: before reaching a chunk)."""
        if chunk is None:
            self.builder.issue(self.source, f"EVTX parser unavailable: {reason}", "file")
            self.finished = True
            return
        self.restarts += 1
        self.builder.issue(f"{self.source} chunk {chunk}", reason, "chunk")
        if self.restarts >= max_restarts:
            self.builder.issue(
                self.source,
                f"gave up after {self.restarts} worker failures; chunks after {chunk} skipped",
                "file",
            )
            self.finished = True
        self.start = chunk + 1


def _step(worker: _Worker, job: _Job) -> bool:
    """Handle one frame of ``job``; True when the file is done."""
    kind, payload = worker.frame()
    if kind in (b"R", b"N"):
        decode = _decode_records if kind == b"R" else _take_normalised
        # Building a chunk's events allocates two container objects per record and no cycle;
        # pausing the cyclic collector meanwhile saves it scanning them again and again
        # (about a tenth of this process's time per record). It is restored right after.
        with collector_paused():
            decode(payload, job.source, job.builder, job.keep_raw)
    elif kind == b"I":
        _chunk_issue(job.builder, job.source, orjson.loads(payload))
    elif kind == b"E":
        job.builder.issue(job.source, orjson.loads(payload)["reason"], "file")
        return True
    elif kind == b"D":
        return True
    else:
        raise _WorkerGone(f"protocol error (frame {kind!r})")
    return False


def _chunk_issue(builder: BatchBuilder, source: str, issue: dict[str, Any]) -> None:
    chunk = issue.get("chunk")
    location = source if chunk is None else f"{source} chunk {chunk}"
    builder.issue(location, str(issue.get("reason")), "chunk")


def _frame_head(payload: bytes) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """Record ids and text sizes at the start of an ``R`` or ``N`` frame, and where they end
    (struct.error when the frame is shorter than its count says)."""
    count = _U32.unpack_from(payload)[0]
    ids = struct.unpack_from(f"<{count}q", payload, 4)
    sizes = struct.unpack_from(f"<{count}I", payload, 4 + 8 * count)
    return ids, sizes, 4 + 12 * count


def _texts(payload: bytes, start: int, sizes: tuple[int, ...]) -> list[bytes] | None:
    """The texts that fill ``payload`` from ``start``, cut by their sizes (None if they do not
    fill it exactly)."""
    if start + sum(sizes) != len(payload):
        return None
    texts = []
    for size in sizes:
        end = start + size
        texts.append(payload[start:end])
        start = end
    return texts


def _take_normalised(
    payload: bytes, source: str, builder: BatchBuilder, keep_raw: bool = True
) -> None:
    """Records the worker flattened itself: only the flat fields are decoded here (those it
    matched keep their text whatever ``keep_raw`` says: their fields are decoded from it)."""
    try:
        ids, sizes, meta_at = _frame_head(payload)
        meta_len = _U32.unpack_from(payload, meta_at)[0]
        rows = orjson.loads(payload[meta_at + 4 : meta_at + 4 + meta_len])
    except (struct.error, orjson.JSONDecodeError) as exc:
        builder.issue(source, f"malformed record frame: {exc}", "chunk")
        return
    texts = _texts(payload, meta_at + 4 + meta_len, sizes)
    if texts is None or not isinstance(rows, list) or len(rows) != len(ids):
        builder.issue(source, f"malformed record frame ({len(ids)} ids)", "chunk")
        return
    events = builder.events
    for record_id, row, text in zip(ids, rows, texts, strict=True):
        try:
            if len(row) == 4:  # matched by the worker: the fields stay in the text for now
                number, ts, flags, hits = row
                fields = None
            else:
                fields, ts, flags = row
                number = fields.get("EventRecordID")
        except (TypeError, ValueError, AttributeError):
            # Not a row the worker makes (it could not flatten the record): decode it here.
            _decode_one(record_id, text, source, builder, keep_raw)
            continue
        if number.__class__ is not int:
            number = record_id
        if ts.__class__ is not float and ts.__class__ is not int:
            ts = None
        flags = tuple(flags) if flags.__class__ is list else ()
        if fields is None:
            # The hits are checked against the rule set by CompiledRules.match_batch.
            event: Event = _matched_event(
                ts, source, number, text, flags, hits if hits.__class__ is list else None
            )
        else:
            event = Event(fields, ts, source, number, text if keep_raw else None, flags)
        events.append(event)


# The struct's own fields, under _MatchedEvent's properties.
_FIELDS: Any = Event.__dict__["fields"]
_RAW: Any = Event.__dict__["raw"]


class _MatchedEvent(Event):
    """An event the worker normalised and matched: its fields are decoded from ``raw`` again
    on first use only (most events match no rule, and nobody looks at their fields); until
    then its stored fields are None. Dropping ``raw`` (as a hunt does to spill less) decodes
    them first.

    The decoding cannot fail in practice: the worker decoded this very text with the same
    function. If it does all the same (a worker made to send something else), the fields are
    empty and the event is flagged.
    """

    @property  # type: ignore[misc]  # a struct field, read through a property here
    def fields(self) -> dict[str, Any]:
        fields: dict[str, Any] | None = _FIELDS.__get__(self)
        if fields is None:
            try:
                fields = decode_record(_RAW.__get__(self))[0]
            except (*DECODE_ERRORS, ValueError):
                fields = {}
                self.flags = (*self.flags, FLAG_UNDECODABLE)
            _FIELDS.__set__(self, fields)
        return fields

    @fields.setter
    def fields(self, value: dict[str, Any]) -> None:
        _FIELDS.__set__(self, value)

    @property  # type: ignore[misc]  # a struct field, read through a property here
    def raw(self) -> str | bytes | None:
        return _RAW.__get__(self)  # type: ignore[no-any-return]

    @raw.setter
    def raw(self, value: str | bytes | None) -> None:
        if _FIELDS.__get__(self) is None and _RAW.__get__(self) is not None:
            self.fields  # noqa: B018 - decoded while the text is still here
        _RAW.__set__(self, value)


def _matched_event(
    ts: float | None,
    source: str,
    record: int,
    raw: bytes,
    flags: tuple[str, ...],
    hits: list[int] | None,
) -> Event:
    """A :class:`_MatchedEvent`, its fields not decoded yet."""
    return _MatchedEvent(None, ts, source, record, raw, flags, hits)  # type: ignore[arg-type]


def _decode_one(
    record_id: int, text: bytes, source: str, builder: BatchBuilder, keep_raw: bool = True
) -> None:
    event = _decoded_event(record_id, text, source, builder, keep_raw=keep_raw)
    if event is not None:
        builder.events.append(event)


def _decoded_event(
    record_id: int,
    text: bytes,
    source: str,
    builder: BatchBuilder,
    decode: Callable[[bytes], tuple[dict[str, Any], float | None, tuple[str, ...]]] = decode_record,
    keep_raw: bool = True,
) -> Event | None:
    """The event of one record's text (kept as its ``raw`` unless ``keep_raw`` is false), or
    None when it cannot be decoded (then reported).

    The System EventRecordID (what Event Viewer shows) names the record; exported logs renumber
    the record headers, so the header's id is only the fallback."""
    try:
        fields, ts, flags = decode(text)
    except DECODE_ERRORS as exc:
        builder.issue(f"{source} record {record_id}", f"undecodable record: {exc}")
        return None
    number = fields.get("EventRecordID")
    if number.__class__ is not int:
        number = record_id
    return Event(fields, ts, source, number, text if keep_raw else None, flags)


def _decode_records(
    payload: bytes, source: str, builder: BatchBuilder, keep_raw: bool = True
) -> None:
    decode_frame = evtx_records.native_frame
    if decode_frame is not None:
        # The C accelerator makes the events of the usual records; the rest come back here.
        try:
            events, leftovers = decode_frame(payload, source, Event, NO_FLAGS, keep_raw)
        except ValueError as exc:
            builder.issue(source, f"malformed record frame: {exc}", "chunk")
            return
        if leftovers:
            # Shapes the typed path would refuse too, mostly: straight to the general one.
            for index, record_id, text in leftovers:
                events[index] = _decoded_event(
                    record_id, text, source, builder, decode_general, keep_raw
                )
            events = [event for event in events if event is not None]
        builder.events.extend(events)
        return
    try:
        ids, sizes, start = _frame_head(payload)
    except struct.error as exc:
        builder.issue(source, f"malformed record frame: {exc}", "chunk")
        return
    texts = _texts(payload, start, sizes)
    if texts is None:
        builder.issue(source, f"malformed record frame ({len(ids)} ids)", "chunk")
        return
    for record_id, text in zip(ids, texts, strict=True):
        _decode_one(record_id, text, source, builder, keep_raw)
