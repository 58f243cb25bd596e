"""The watched folder: files dropped in (EVTX exports, collection scripts' output, archives of
logs) read once each through the readers, also across restarts.

Each file is read by :func:`sentinelle.readers.read_file`, so it gets exactly the hunt's
normalisation, and each event is journaled as ``Record(kind=event, key="path#record")``: a
file read again (after a restart in the middle of it, or because it changed) gives the same
ids, and the alerts are not made twice.

What "once" rests on: one ``IngestedFile`` row per path (size, modification time, SHA-256,
state). A file is read when it has no row, or when its size or time changed and its content
did too (a file only touched is not read again). Its row says ``reading`` while it is read
and ``done`` or ``failed`` after, so a file cut off by a stop or a crash is read again whole.

A file still being written is not read: its size and time must have stayed the same for
``folder_stable_seconds`` (watched from one listing to the next). Names starting with ``.``
and ending with ``.part``, ``.tmp``, ``.partial`` or ``.crdownload`` (what copy tools write
before a rename) are left alone until renamed. Files are never moved or deleted: the folder
may be read-only.

The scanning runs in a worker thread (the readers and the database block); the loop only
starts it every ``folder_poll_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import stat
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from sentinelle.errors import ConfigError
from sentinelle.events import Event
from sentinelle.service.inputs import metrics
from sentinelle.service.inputs.handover import retry_delay
from sentinelle.service.inputs.limits import InputLimits
from sentinelle.service.log import log_event
from sentinelle.service.records import Record, RecordKind, RecordSink, Refused

log = logging.getLogger("sentinelle.inputs")

INPUT = "folder"
_PARTIAL_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload")


@dataclass(slots=True)
class _Known:
    size: int
    mtime: float
    digest: str
    state: str


class _Stopped(Exception):
    """The input is stopping: the file being read is left for the next start."""


def event_record(event: Event, sender: str, received: float) -> Record:
    """One normalised event as the journal keeps it (``RecordKind.EVENT``)."""
    body = {
        "fields": event.fields,
        "timestamp": event.timestamp,
        "source": event.source,
        "record": event.record,
    }
    data = orjson.dumps(body, default=str, option=orjson.OPT_NON_STR_KEYS)
    return Record(INPUT, sender, RecordKind.EVENT, data, received, event.ref)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _ignored(name: str) -> bool:
    return name.startswith(".") or name.lower().endswith(_PARTIAL_SUFFIXES)


class FolderInput:
    name = INPUT

    def __init__(self, folder: Path, sink: RecordSink, limits: InputLimits) -> None:
        self.folder = Path(folder).resolve()
        self.sink = sink
        self.limits = limits
        self._stop = threading.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._known: dict[str, _Known] | None = None
        self._seen: dict[str, tuple[int, float, float]] = {}  # path -> size, mtime, since

    async def start(self) -> None:
        if not self.folder.is_dir():
            raise ConfigError(f"the watched folder {self.folder} is not a folder")
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self, timeout: float) -> None:
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            if not self._task.done():
                self._task.cancel()

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.to_thread(self.scan)
            except Exception as exc:  # noqa: BLE001 - one bad scan must not end the input
                log_event(log, "input.folder_error", logging.ERROR, error=repr(exc))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.limits.folder_poll_seconds)

    # --- one pass over the folder (worker thread) -------------------------------------------

    def scan(self) -> int:
        """Read every file that is new or changed and stable; the number of files read."""
        from django.db import connection

        try:
            return self._scan()
        finally:
            connection.close()  # this thread's; the next pass may run on another one

    def _scan(self) -> int:
        from sentinelle.web.pipeline.models import IngestedFile

        if self._known is None:
            self._known = {
                row.path: _Known(row.size, row.mtime, row.digest, row.state)
                for row in IngestedFile.objects.all().only(
                    "path", "size", "mtime", "digest", "state"
                )
            }
        read = 0
        now = time.monotonic()
        present: set[str] = set()
        for root, dirs, files in os.walk(self.folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if self._stop.is_set():
                    return read
                if _ignored(name):
                    continue
                path = Path(root) / name
                key = str(path)
                try:
                    st = path.stat()
                except OSError:
                    continue  # gone since it was listed
                if not stat.S_ISREG(st.st_mode):
                    continue
                present.add(key)
                size, mtime = st.st_size, st.st_mtime
                known = self._known.get(key)
                if (
                    known is not None
                    and (known.size, known.mtime) == (size, mtime)
                    and known.state != "reading"
                ):
                    continue
                seen = self._seen.get(key)
                if seen is None or seen[:2] != (size, mtime):
                    self._seen[key] = (size, mtime, now)
                    if self.limits.folder_stable_seconds > 0:
                        continue
                    seen = self._seen[key]
                if now - seen[2] < self.limits.folder_stable_seconds:
                    continue
                try:
                    read += self._ingest(path, size, mtime, known)
                except _Stopped:
                    return read
        for key in set(self._seen) - present:
            del self._seen[key]
        return read

    def _ingest(self, path: Path, size: int, mtime: float, known: _Known | None) -> int:
        from django.utils import timezone

        from sentinelle.readers import read_file
        from sentinelle.web.pipeline.models import IngestedFile

        assert self._known is not None
        key = str(path)
        try:
            digest = file_digest(path)
        except OSError as exc:
            log_event(log, "input.folder_unreadable", logging.WARNING, path=key, error=exc)
            return 0
        if known is not None and known.digest == digest and known.state != "reading":
            # Touched or copied again, same content: read already.
            IngestedFile.objects.filter(path=key).update(size=size, mtime=mtime)
            self._known[key] = _Known(size, mtime, digest, known.state)
            metrics.FILES.labels("unchanged").inc()
            return 0
        IngestedFile.objects.update_or_create(
            path=key,
            defaults={
                "size": size,
                "mtime": mtime,
                "digest": digest,
                "state": "reading",
                "events": 0,
                "issues": [],
                "read_at": timezone.now(),
            },
        )
        self._known[key] = _Known(size, mtime, digest, "reading")
        events, issues, whole_file = self._read(read_file(path), key)
        state = "failed" if whole_file and not events else "done"
        kept, found = self.limits.folder_issues_kept, len(issues)
        if found > kept:
            issues = [*issues[:kept], f"... and {found - kept} more"]
        IngestedFile.objects.filter(path=key).update(
            state=state,
            events=events,
            issues=issues,
            read_at=timezone.now(),
        )
        self._known[key] = _Known(size, mtime, digest, state)
        outcome = "failed" if state == "failed" else ("changed" if known is not None else "read")
        metrics.FILES.labels(outcome).inc()
        log_event(log, "input.folder_read", path=key, events=events, issues=found, state=state)
        return 1

    def _read(self, batches: Any, sender: str) -> tuple[int, list[str], bool]:
        """Journal every event of the file; its events, its issues, and whether the file as a
        whole could not be read. Raises _Stopped when the input stops in the middle."""
        issues: list[str] = []
        whole_file = False
        accepted = 0
        inflight: deque[tuple[list[Record], Future[int]]] = deque()
        try:
            for batch in batches:
                for issue in batch.issues:
                    issues.append(str(issue))
                    if issue.kind == "file":
                        whole_file = True
                        metrics.MALFORMED.labels(INPUT, "unreadable-file").inc()
                    else:
                        metrics.MALFORMED.labels(INPUT, "read-issue").inc()
                if not batch.events:
                    continue
                received = time.time()
                records = [event_record(event, sender, received) for event in batch.events]
                for start in range(0, len(records), self.limits.batch_records):
                    chunk = records[start : start + self.limits.batch_records]
                    inflight.append((chunk, self._submit(chunk)))
                    while len(inflight) >= self.limits.max_inflight_batches:
                        accepted += self._settle(inflight)
            while inflight:
                accepted += self._settle(inflight)
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()  # stops the EVTX worker of a file left half-read
        return accepted, issues, whole_file

    def _submit(self, records: list[Record]) -> Future[int]:
        while True:
            if self._stop.is_set():
                raise _Stopped
            try:
                return self.sink.submit(records)
            except Refused as exc:
                metrics.REFUSED.labels(INPUT, "refused").inc()
                self._stop.wait(retry_delay(exc.retry_after))

    def _settle(self, inflight: deque[tuple[list[Record], Future[int]]]) -> int:
        """Wait for the oldest submission; submit it again if the journal refused it."""
        records, future = inflight[0]
        while True:
            try:
                future.result()
            except Refused as exc:
                metrics.REFUSED.labels(INPUT, "refused").inc()
                self._stop.wait(retry_delay(exc.retry_after))
                future = self._submit(records)
                continue
            inflight.popleft()
            metrics.EVENTS.labels(INPUT).inc(len(records))
            return len(records)
