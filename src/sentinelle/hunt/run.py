"""Running a hunt: files split across worker processes, one deterministic timeline out.

Stages, each bounded in memory whatever the input size:

1. **Workers** (``--jobs`` processes, forked so the compiled rules are shared, not rebuilt;
   a set from ``load_compiled`` brings its rule buckets built: a worker only unpickles those
   its events meet)
   take tasks of a few files (``plan_tasks``), stream their batches through the engine, keep
   the detections that fall inside ``--since``/``--until``, and append them as sorted *runs* to
   their spill file (``spill.py``; a run is cut every ``RUN_SIZE`` detections). They send back
   per-file counts and read issues. A hunt in one process keeps its runs in memory up to
   ``HELD_DETECTIONS`` detections and spills only past them.
2. **Merge**: the parent merges the runs by ``Detection.sort_key`` (time, source, record, rule),
   so the order never depends on which worker finished first: the output is byte-identical
   whatever ``--jobs`` is.
3. **Correlate**: every base detection is fed to the correlator in that time order; the
   correlation detections it returns are interleaved by the same key.
4. **Select and write**: suppressed base rules (``generate: false``), ``--min-level`` and
   ``--tags`` are applied, and each remaining detection goes to every writer and the summary.

A worker that dies (a parser crash, the OOM killer) costs only the file that killed it: a new
worker takes its place, the files of the task are tried again one by one, and a file that
kills a worker again is reported as unreadable while the hunt goes on.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import multiprocessing
import operator
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sentinelle.detections import Detection, level_rank
from sentinelle.events import EventBatch, ReadIssue
from sentinelle.hunt.outputs import TimelineWriter
from sentinelle.hunt.spill import FAN_IN, AnyRun, RunSink, close_writers, merge_runs
from sentinelle.hunt.summary import FileResult, HuntSummary

if TYPE_CHECKING:
    from sentinelle.hunt.hospital import HospitalView

# Detections a worker holds before sorting them into a run file (about 5 MB): a hunt in one
# process holds them across all its files, so this bounds its memory (20,000 let a 20x corpus
# take 36 % more than one; 2,048: 10 %).
RUN_SIZE = 2048
# Detections the hunt in one process keeps in memory as sorted runs before it spills to disk
# (about 1.5 KB each: 16,020 of them raised the peak by 24 MB; about 50 MB at most; see
# spill.py). Workers always spill: their runs must reach the parent.
HELD_DETECTIONS = 16 * RUN_SIZE
MAX_OPEN_RUNS = FAN_IN  # runs merged at once; more are merged in passes first
MAX_HOSTS = 4096  # computers with detections the parent collects to judge a hospital model
BYTES_PER_AUTO_JOB = 32 * 1024 * 1024  # input that pays for one more worker (see auto_jobs)
TASK_FILES = 16  # files per task at most: small files travel together
TASK_BYTES = 8 * 1024 * 1024  # and at most this much input per task (a bigger file goes alone)
MAX_ATTEMPTS = 2  # a file whose worker dies is tried once more, then reported unreadable
ISSUES_PER_FILE = 20  # read issues a worker sends back verbatim (the rest are counted)
# Detections ``correlate`` holds at most while time stands still. An attacker chooses how many
# lines share one timestamp (101,000 failed logons in one second held 350 MB more than the same
# flood spread over two minutes); past this, the oldest held go out at once.
MAX_HELD = 4096
HOSTS_PER_FILE = 64  # computers with detections a worker names per file (``HospitalView``)


class Matcher(Protocol):
    """What the hunt needs from a compiled rule set (``sentinelle.engine.CompiledRules``)."""

    def match_batch(self, batch: EventBatch) -> list[Detection]: ...

    def correlator(self) -> Any: ...


class ProgressSink(Protocol):
    def start(self, files: int) -> None: ...

    def advance(self, events: int) -> None: ...

    def file_done(self) -> None: ...

    def stop(self) -> None: ...


class FileReader(Protocol):
    """``sentinelle.readers.read_file``: batches of one file; problems ride on the batches."""

    def __call__(self, path: Path, *, batch_size: int) -> Iterable[EventBatch]: ...


@dataclass(frozen=True, slots=True)
class Selection:
    """Which detections a hunt keeps."""

    min_level: str | None = None
    since: float | None = None
    until: float | None = None
    tags: tuple[str, ...] = ()
    # The rules whose detections count (``--status``, ``--exclude-rules``); None: all. Applied
    # before correlation, as if the others were not loaded.
    rules: frozenset[str] | None = None

    def rule_kept(self, det: Detection) -> bool:
        return self.rules is None or det.rule_id in self.rules

    def in_window(self, det: Detection) -> bool:
        if self.since is None and self.until is None:
            return True
        ts = det.timestamp
        if ts is None:
            return False
        if self.since is not None and ts < self.since:
            return False
        return self.until is None or ts <= self.until

    def shown(self, det: Detection) -> bool:
        if self.min_level is not None and level_rank(det.level) < level_rank(self.min_level):
            return False
        return not self.tags or any(tag_matches(t, self.tags) for t in det.tags)


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """How the standard reader reads the hunt's files: its limits (``readers.ReadLimits``;
    None keeps the readers' defaults) and whether symbolic links are followed."""

    limits: Any = None
    follow_symlinks: bool = False

    def kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"follow_symlinks": self.follow_symlinks}
        if self.limits is not None:
            out["limits"] = self.limits
        return out


def tag_matches(tag: str, wanted: Sequence[str]) -> bool:
    """``attack.t1059.001`` matches ``attack.t1059.001``, ``attack.t1059`` and ``t1059``."""
    tag = tag.lower()
    for want in wanted:
        lowered = want.lower()
        for form in (lowered, f"attack.{lowered}"):
            if tag == form or tag.startswith(form + "."):
                return True
    return False


@dataclass(slots=True)
class _Outcome:
    """A worker's answer for one task (a few files): one result per file, and their runs."""

    results: list[FileResult]
    runs: list[AnyRun] = field(default_factory=list)


# -- worker side -------------------------------------------------------------------------------

# Set in the parent before forking; workers inherit it (copy-on-write) instead of unpickling.
_WORKER_STATE: dict[str, Any] = {}
_TIMESTAMP = operator.attrgetter("timestamp")  # counting events without one: mapped in C


def hunt_files(
    paths: Sequence[Path],
    matcher: Matcher,
    reader: FileReader,
    selection: Selection,
    spill: Path,
    batch_size: int,
    progress: Callable[[int], None] | None = None,
    on_file: Callable[[FileResult], None] | None = None,
    read: ReadOptions = ReadOptions(),
    held: int = 0,
) -> _Outcome:
    """Read and match ``paths`` one after the other, spill their detections as sorted runs
    (the first ``held`` detections' runs stay in memory).

    ``on_file`` is given each file's result as soon as the file is done, in order. Never raises
    for a file: what goes wrong with one is reported on its result.
    """
    outcome = _Outcome([FileResult(path=str(path)) for path in paths])
    sink = RunSink(spill, held)
    pending: list[Detection] = []
    reported = 0

    def finished(upto: int) -> None:
        nonlocal reported
        if on_file is not None:
            for result in outcome.results[reported:upto]:
                on_file(result)
        reported = max(reported, upto)

    done = 0  # files before this one are finished (whatever happens next)
    while done < len(paths):
        current = done
        started = time.perf_counter()
        try:
            for index, batch in _batches(paths[done:], reader, batch_size, read):
                if done + index != current:
                    outcome.results[current].seconds += time.perf_counter() - started
                    current, started = done + index, time.perf_counter()
                    finished(current)
                result = outcome.results[current]
                n = len(batch.events)
                result.events += n
                result.events_without_time += list(map(_TIMESTAMP, batch.events)).count(None)
                for issue in batch.issues:
                    _note_issue(result, issue)
                if n:
                    for det in matcher.match_batch(batch):
                        if selection.in_window(det) and selection.rule_kept(det):
                            if det.event is not None:
                                det.event.raw = None  # outputs use the fields; halves the spill
                            pending.append(det)
                            result.detections += 1
                            if len(result.hosts) < HOSTS_PER_FILE:
                                host = det.computer
                                if host:
                                    result.hosts.add(host)
                    if len(pending) >= RUN_SIZE:
                        outcome.runs.append(sink.write(pending))
                        pending = []
                if progress is not None:
                    progress(n)
            done = len(paths)
        except Exception as exc:  # noqa: BLE001 (file boundary: one bad file must not stop the hunt)
            # The file being read when it broke is reported; the hunt resumes after it.
            result = outcome.results[current]
            result.failed = True
            issue = ReadIssue(str(paths[current]), f"{type(exc).__name__}: {exc}", kind="file")
            _note_issue(result, issue)
            done = current + 1
        outcome.results[current].seconds += time.perf_counter() - started
        finished(done)
    if pending:
        # One run for the whole task: fewer, larger runs make the merge cheaper.
        outcome.runs.append(sink.write(pending))
    return outcome


def _batches(
    paths: Sequence[Path],
    reader: FileReader,
    batch_size: int,
    read: ReadOptions = ReadOptions(),
) -> Iterator[tuple[int, EventBatch]]:
    """(index of its file in ``paths``, batch) for every batch of ``paths``, file after file.

    The EVTX worker only parses: the rules are never offered to it (``read_paths(rules=...)``).
    Matching there cost more than it saved on two cores even with the second one idle: with
    a fifth of the records of the mitre corpus x10 matched there, this process spent as much
    CPU as without (handling the worker's rows costs about what decoding and matching a record
    costs here) while the worker spent 0.33 s more (loading the rule set, decoding records one
    by one), and the hunt took 0.22 s longer (docs/PERFORMANCE.md, "Hunt").
    """
    from sentinelle.readers import read_file, read_files

    names = [str(p) for p in paths]
    # No output reads an event's original record (the spill drops it): the EVTX reader need
    # not copy each one (keep_raw).
    # A file named twice (the same folder given twice) could not be told from its twin.
    if reader is not read_file or len(paths) < 2 or len(set(names)) < len(names):
        read_one: FileReader = reader
        if reader is read_file:
            read_one = functools.partial(read_file, keep_raw=False, **read.kwargs())
        for index, path in enumerate(paths):
            for batch in read_one(path, batch_size=batch_size):
                yield index, batch
        return
    # The standard reader's files are read as one stream instead: consecutive EVTX files then
    # share one parser process that parses the next files while this one matches (per file,
    # each side would wait for the other). Its batches come file after file, each named by
    # its file (an archive member: ``file!member``).
    index = 0
    for batch in read_files(names, batch_size=batch_size, keep_raw=False, **read.kwargs()):
        source = batch.source
        for later in range(index, len(names)):
            name = names[later]
            if source == name or source.startswith(name + "!"):
                index = later
                break
        yield index, batch


def _note_issue(result: FileResult, issue: ReadIssue) -> None:
    result.issues += 1
    if len(result.issue_samples) < ISSUES_PER_FILE:
        result.issue_samples.append(issue)


def _worker_main(conn: Connection) -> None:
    state = _WORKER_STATE
    while True:
        task = conn.recv()
        if task is None:
            return
        outcome = hunt_files(
            [Path(p) for p in task],
            state["matcher"],
            state["reader"],
            state["selection"],
            state["spill"],
            state["batch_size"],
            lambda n: conn.send(("progress", n)),
            read=state["read"],
        )
        conn.send(("done", outcome))


# -- parent side -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Worker:
    process: Any  # multiprocessing.context.ForkProcess (not typed in typeshed)
    conn: Connection
    task: tuple[str, ...] | None = None


def _spawn(ctx: Any) -> _Worker:
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_worker_main, args=(child,), daemon=True)
    proc.start()
    child.close()
    return _Worker(proc, parent)


def plan_tasks(files: Sequence[Path]) -> list[tuple[str, ...]]:
    """Files grouped into tasks, largest first: a big file alone, small ones up to
    ``TASK_FILES`` files or ``TASK_BYTES`` together, so that a corpus of many small files does
    not cost a round trip between processes, and a run, per file."""
    tasks: list[tuple[str, ...]] = []
    group: list[str] = []
    size = 0
    # One stat per file (sorted on the sizes read once, in a stable order as before).
    sized = sorted(((_size(p), p) for p in files), key=_first, reverse=True)
    for n, path in sized:
        if group and (len(group) >= TASK_FILES or size + n > TASK_BYTES):
            tasks.append(tuple(group))
            group, size = [], 0
        group.append(str(path))
        size += n
    if group:
        tasks.append(tuple(group))
    return tasks


def _hunt_parallel(
    tasks: list[tuple[str, ...]], jobs: int, progress: ProgressSink | None
) -> Iterator[_Outcome]:
    ctx = multiprocessing.get_context("fork")
    queue = list(reversed(tasks))  # pop() from the end: largest files first
    attempts: dict[tuple[str, ...], int] = {}
    workers: list[_Worker] = []

    def assign(w: _Worker) -> None:
        w.task = queue.pop() if queue else None
        if w.task is not None:
            attempts[w.task] = attempts.get(w.task, 0) + 1
        # Sending to a worker that already died fails; the sentinel check re-queues its task.
        with contextlib.suppress(OSError):
            w.conn.send(w.task)

    try:
        for _ in range(min(jobs, len(tasks))):
            w = _spawn(ctx)
            workers.append(w)
            assign(w)
        while any(w.task is not None for w in workers):
            busy = [w for w in workers if w.task is not None]
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for w in busy:
                if w.conn in ready:
                    try:
                        while w.conn.poll():
                            kind, payload = w.conn.recv()
                            if kind == "progress":
                                if progress is not None:
                                    progress.advance(payload)
                            else:
                                yield payload
                                assign(w)
                                break
                    except (EOFError, OSError):
                        pass  # the worker died mid-message; its sentinel says so below
                if w.task is not None and not w.process.is_alive():
                    if len(w.task) > 1:
                        # Which file killed it is unknown: each gets one try on its own.
                        for single in reversed(w.task):
                            attempts[(single,)] = MAX_ATTEMPTS - 1
                            queue.append((single,))
                    elif attempts[w.task] < MAX_ATTEMPTS:
                        queue.append(w.task)  # maybe not this file's fault: one more try
                    else:
                        yield _lost(w.task[0], w.process.exitcode)
                    w.conn.close()
                    fresh = _spawn(ctx)
                    workers[workers.index(w)] = fresh
                    assign(fresh)
    finally:
        for w in workers:
            if w.process.is_alive():
                w.process.terminate()
            w.process.join(timeout=5)
            w.conn.close()


def _lost(path: str, exitcode: int | None) -> _Outcome:
    """The file a worker was reading when it died, reported as unreadable."""
    reason = f"worker process died (exit code {exitcode}) while reading this file"
    result = FileResult(path=path, failed=True, issues=1)
    result.issue_samples.append(ReadIssue(path, reason, kind="file"))
    return _Outcome([result])


def correlate(base: Iterable[Detection], correlator: Any) -> Iterator[Detection]:
    """Base detections in time order, with the correlator's outputs placed by ``sort_key``.

    The correlator emits in non-decreasing time and never before the detection it was just
    fed, so anything strictly older than the newest detection can be released: the buffer only
    ever holds detections of one timestamp, and at most ``MAX_HELD`` of them. Past that, the
    first in ``sort_key`` order go out: a correlation of the same second arriving later may
    then follow detections that sort after it (order within that second bends, time order and
    determinism do not).
    """
    if correlator is None:
        yield from base
        return
    heap: list[tuple[tuple[float, str, int, str], int, Detection]] = []
    seq = 0
    for det in base:
        ts = det.timestamp if det.timestamp is not None else float("-inf")
        while heap and heap[0][0][0] < ts:
            yield heapq.heappop(heap)[2]
        for out in (det, *correlator.feed(det)):
            heapq.heappush(heap, (out.sort_key, seq, out))
            seq += 1
        while len(heap) > MAX_HELD:
            yield heapq.heappop(heap)[2]
    for out in correlator.flush():
        heapq.heappush(heap, (out.sort_key, seq, out))
        seq += 1
    while heap:
        yield heapq.heappop(heap)[2]


def run_hunt(
    files: Sequence[Path],
    matcher: Matcher,
    reader: FileReader,
    writers: Sequence[TimelineWriter],
    summary: HuntSummary,
    *,
    selection: Selection | None = None,
    jobs: int = 1,
    batch_size: int = 2048,
    progress: ProgressSink | None = None,
    hospital: HospitalView | None = None,
    read: ReadOptions = ReadOptions(),
) -> HuntSummary:
    """Hunt ``files`` with ``matcher``; write the timeline to ``writers``; fill ``summary``.

    With ``hospital``, the detections are placed in the hospital model and grouped into
    incidents (``summary.hospital``) if it ``accepts`` the machines they are about."""
    selection = selection or Selection()
    started, started_cpu = time.perf_counter(), time.process_time()
    spill = Path(tempfile.mkdtemp(prefix="sentinelle-hunt-"))
    # Largest first, so a big file does not start last and leave the other workers idle.
    tasks = plan_tasks(files) if jobs > 1 else []
    runs: list[AnyRun] = []
    if progress is not None:
        progress.start(len(files))
    try:
        hosts: set[str] = set()

        def file_done(result: FileResult) -> None:
            summary.add_file(result)
            if len(hosts) < MAX_HOSTS:
                hosts.update(result.hosts)
            if progress is not None:
                progress.file_done()

        if jobs <= 1 or len(tasks) <= 1:
            # One process: all files in one pass, so that the reader streams them all ahead of
            # the matching (see ``_batches``), in the order given. Not largest first, which
            # only balances workers: there it put the files that cost the EVTX parser process
            # most per record all at the start, where this process then waited for it (the
            # mitre corpus x10: 60 ms of waits, 15 ms in the order given; same timeline).
            outcome = hunt_files(
                list(files),
                matcher,
                reader,
                selection,
                spill,
                batch_size,
                progress.advance if progress is not None else None,
                file_done,
                read=read,
                held=HELD_DETECTIONS,
            )
            runs.extend(outcome.runs)
        else:
            _WORKER_STATE.update(
                matcher=matcher,
                reader=reader,
                selection=selection,
                spill=spill,
                batch_size=batch_size,
                read=read,
            )
            for outcome in _hunt_parallel(tasks, jobs, progress):
                for result in outcome.results:
                    file_done(result)
                runs.extend(outcome.runs)
        if progress is not None:
            progress.stop()
        merging, merging_cpu = time.perf_counter(), time.process_time()
        summary.stages["reading and matching"] = merging - started
        summary.stage_cpu["reading and matching"] = merging_cpu - started_cpu
        if hospital is not None and not hospital.accepts(hosts):
            hospital = None

        # A set without correlation rules needs no correlator (nor the correlation engine and
        # pySigma under it to be imported: about 0.08 s of a short hunt).
        correlations = getattr(matcher, "correlations", None)  # CompiledRules.correlations
        none = correlations is not None and not correlations
        correlator = None if none else matcher.correlator()
        evictions = getattr(correlator, "evictions", None)  # what its caps forgot, at the end
        if correlator is not None and selection.rules is not None:
            correlator = _Kept(correlator, selection)
        suppressed: set[str] = set(getattr(correlator, "suppressed_rule_ids", ()) or ())
        close_writers(spill)  # the parent's own runs (one process, or none)
        stream = correlate(
            merge_runs(runs, spill, MAX_OPEN_RUNS), correlator if _has_rules(correlator) else None
        )
        for det in stream:
            if det.rule_type == "detection" and (
                det.rule_id in suppressed or det.details.get("suppressed")
            ):
                continue
            if hospital is not None:
                hospital.annotate(det)  # before the selection: a raised level counts
            if not selection.shown(det):
                continue
            if hospital is not None:
                hospital.feed(det)
            summary.add(det)
            for w in writers:
                w.write(det)
        if hospital is not None:
            summary.hospital = hospital.findings()
        if evictions is not None:
            summary.state_evictions = [{"rule_id": e.rule_id, **e.as_dict()} for e in evictions()]
    finally:
        _WORKER_STATE.clear()
        # However the hunt ended: this process's writer lives in a module-level table, so a
        # hunt stopped by an exception would keep its spill file open for the life of the process.
        close_writers(spill)
        shutil.rmtree(spill, ignore_errors=True)
    summary.seconds = time.perf_counter() - started
    for w in writers:
        w.close(summary)
    summary.stages["timeline and outputs"] = time.perf_counter() - merging
    summary.stage_cpu["timeline and outputs"] = time.process_time() - merging_cpu
    return summary


def auto_jobs(
    files: Sequence[Path], cores: int | None = None, *, sizes: Mapping[Path, int] | None = None
) -> int:
    """Workers for ``--jobs 0``: the cores the input can keep busy.

    A worker pays a start-up cost the parent cannot share (its own EVTX parser process, and
    the rule buckets its events need, unpickled from the compiled set: about 0.1 s for the
    SigmaHQ Windows rules), so small inputs are faster in one process; from
    ``BYTES_PER_AUTO_JOB`` of input per worker on, more workers win. A worker reading EVTX
    keeps two cores busy (its parser process parses while it matches), so EVTX input gets a
    worker per two cores: on two cores, one worker
    hunted the mitre corpus repeated 20 times in 8.3 to 8.6 s, two in 9.3 to 10.4 s. The EVTX
    share is judged by file name here, only to size the pool. ``sizes``: the files' sizes
    where already known (``cli.inputs.input_files``), else a stat each.
    """
    known = sizes or {}
    sized = [(p, known[p] if p in known else _size(p)) for p in files]
    total = sum(size for _, size in sized)
    evtx = sum(size for p, size in sized if p.suffix.lower() == ".evtx")
    cores_per_worker = 1 + (evtx / total if total else 0)
    usable = int((cores or os.cpu_count() or 1) / cores_per_worker)
    return max(1, min(usable, total // BYTES_PER_AUTO_JOB))


class _Kept:
    """A correlator whose own detections are dropped when their rule is not selected (the
    base rules are dropped before they reach it, in the workers)."""

    def __init__(self, correlator: Any, selection: Selection) -> None:
        self._inner = correlator
        self._selection = selection
        self.rules = getattr(correlator, "rules", None)
        self.suppressed_rule_ids = getattr(correlator, "suppressed_rule_ids", ())

    def feed(self, det: Detection) -> list[Detection]:
        return [d for d in self._inner.feed(det) if self._selection.rule_kept(d)]

    def flush(self) -> list[Detection]:
        return [d for d in self._inner.flush() if self._selection.rule_kept(d)]


def _has_rules(correlator: Any) -> bool:
    rules = getattr(correlator, "rules", None)
    return correlator is not None and (rules is None or len(rules) > 0)


def _first(pair: tuple[int, Path]) -> int:
    return pair[0]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
