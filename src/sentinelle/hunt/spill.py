"""Sorted runs of detections, on disk past a bound: how a hunt keeps its memory flat whatever
it finds.

A process may keep its first runs in memory (``RunSink``: at most ``budget`` detections in
all, the hunt in one process does): pickling every detection to a file and reading it back
cost that hunt 0.02 s of CPU over the mitre corpus copied 10 times (16,020 detections, the
median of 10 alternated runs; held, they add 24 MB to its peak memory; docs/PERFORMANCE.md),
for a file it never needed. Past the budget, its
runs go to disk as below, so memory stays bounded whatever the input; the merge takes runs of
both kinds alike.

Each process appends its runs to one spill file of its own (opening a file per run costs more
than matching a small EVTX file), flushing after every run so that a run is complete on disk
before the parent hears of it, even if the process dies next. A run is a byte range of pickle
records of at most ``RECORD`` detections each, sorted by ``Detection.sort_key``.

Merging reads every run through one handle per spill file, seeking to the run's own position
before each record, so the number of runs merged at once is bounded by memory (one record per
run), not by file descriptors.
"""

from __future__ import annotations

import heapq
import operator
import os
import pickle
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sentinelle.detections import Detection

RECORD = 64  # detections per pickle record: what one run being merged holds in memory
FAN_IN = 64  # runs merged at once; more are merged in passes first


@dataclass(frozen=True, slots=True)
class Run:
    path: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class HeldRun:
    """A sorted run kept in the memory of the process that merges it."""

    detections: list[Detection]


AnyRun = Run | HeldRun


# ``Detection.sort_key`` as a key function, called in C: sorting the mitre corpus x10's 16,020
# detections in runs of 2,048 took 10 ms through a Python function reading it, 6 ms so.
sort_key: Callable[[Detection], tuple[float, str, int, str]] = operator.attrgetter("sort_key")


class SpillWriter:
    """Appends sorted runs to one spill file in ``directory``."""

    def __init__(self, directory: Path) -> None:
        fd, self.path = tempfile.mkstemp(dir=directory, suffix=".spill")
        self._fh = os.fdopen(fd, "wb")

    def write(self, dets: Iterable[Detection], presorted: bool = False) -> Run:
        """Write ``dets`` as one run (sorted here unless ``presorted``)."""
        ordered = dets if presorted else sorted(dets, key=sort_key)
        start = self._fh.tell()
        chunk: list[Detection] = []
        for det in ordered:
            chunk.append(det)
            if len(chunk) == RECORD:
                pickle.dump(chunk, self._fh, protocol=pickle.HIGHEST_PROTOCOL)
                chunk = []
        if chunk:
            pickle.dump(chunk, self._fh, protocol=pickle.HIGHEST_PROTOCOL)
        self._fh.flush()
        return Run(self.path, start, self._fh.tell())

    def close(self) -> None:
        self._fh.close()


_WRITERS: dict[tuple[int, str], SpillWriter] = {}


def process_writer(directory: Path) -> SpillWriter:
    """This process's writer for ``directory`` (a forked child gets its own file)."""
    key = (os.getpid(), str(directory))
    writer = _WRITERS.get(key)
    if writer is None:
        writer = _WRITERS[key] = SpillWriter(directory)
    return writer


def close_writers(directory: Path) -> None:
    for key in [k for k in _WRITERS if k == (os.getpid(), str(directory))]:
        _WRITERS.pop(key).close()


class RunSink:
    """Where one process puts its sorted runs: kept in memory while they hold at most
    ``budget`` detections in all, appended to its spill file in ``directory`` past that (a
    forked worker's runs must reach its parent: its budget is 0)."""

    def __init__(self, directory: Path, budget: int = 0) -> None:
        self.directory = directory
        self.budget = budget
        self.held = 0  # detections in the runs kept in memory so far

    def write(self, dets: Iterable[Detection]) -> AnyRun:
        ordered = sorted(dets, key=sort_key)
        if self.held + len(ordered) <= self.budget:
            self.held += len(ordered)
            return HeldRun(ordered)
        return process_writer(self.directory).write(ordered, presorted=True)


def _read(run: AnyRun, handles: dict[str, BinaryIO]) -> Iterator[Detection]:
    if isinstance(run, HeldRun):
        yield from run.detections
        return
    fh = handles.get(run.path)
    if fh is None:
        fh = handles[run.path] = open(run.path, "rb")  # noqa: PTH123, SIM115 (closed by merge)
    pos = run.start
    while pos < run.end:
        fh.seek(pos)
        # Our own file, in a private directory, written moments ago by this hunt.
        chunk: list[Detection] = pickle.load(fh)  # noqa: S301
        pos = fh.tell()
        yield from chunk


def merge_runs(
    runs: Sequence[AnyRun], directory: Path, fan_in: int = FAN_IN
) -> Iterator[Detection]:
    """Every detection of ``runs`` in ``sort_key`` order, at most ``fan_in`` runs at a time."""
    handles: dict[str, BinaryIO] = {}
    try:
        while len(runs) > fan_in:
            writer = SpillWriter(directory)
            try:
                runs = [
                    writer.write(
                        heapq.merge(
                            *(_read(r, handles) for r in runs[i : i + fan_in]), key=sort_key
                        ),
                        presorted=True,
                    )
                    for i in range(0, len(runs), fan_in)
                ]
            finally:
                writer.close()
        yield from heapq.merge(*(_read(r, handles) for r in runs), key=sort_key)
    finally:
        for fh in handles.values():
            fh.close()
