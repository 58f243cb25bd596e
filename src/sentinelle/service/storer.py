"""The detector's second stage: what matching a slice produced, into the store, with the
checkpoint, in one transaction.

Matching (``service.detector``) and storing each take about half of the detector's work when
alerts are many (an attack: one event in six alerts). In the service they run in two
processes, so that on a machine with two cores slice N is stored while slice N+1 is matched
(:class:`StoreProcess`); tests and tools run both in one process (:class:`Storer` called
inline). Either way each slice is one :class:`SliceOutput`, stored in order, in one
transaction holding its alerts, its incidents, the outbox, the watching counts and the
checkpoint: the position it ends at and the state as of that position (the matcher's part,
pickled by the matcher before it went on, and the live grouping's, which the store owns). A
crash of either process kills the other; the detector starts again from the last checkpoint
and matches again what came after it, and the deterministic ids keep a replay from storing
anything twice.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sentinelle.detections import level_rank
from sentinelle.errors import SentinelleError
from sentinelle.incidents.entities import entities_of
from sentinelle.service.config import ServeConfig
from sentinelle.service.grouping import ImpactCache, IncidentState
from sentinelle.service.log import log_event
from sentinelle.service.store import NewAlert, Places
from sentinelle.watch.hook import Pending

log = logging.getLogger("sentinelle.service.detector")
CHECKPOINT = "detector"
# Slices matched and not yet stored, at most: the matcher waits beyond that (a slow store
# slows matching down instead of growing a queue).
IN_FLIGHT = 2
ACK_POLL_SECONDS = 0.5  # how often a waiting matcher looks whether the store process died


@dataclass(slots=True)
class SliceOutput:
    """What matching one slice produced, for the store: the position it ends at, its alerts
    (every detection with its deterministic id, in order; suppressions and duplicates are the
    store's to sort out), the watching counts due, and the matcher's state as of that position
    (pickled at once: the matcher goes on changing it)."""

    end: int
    alerts: list[NewAlert] = field(default_factory=list)
    counted: Pending = field(default_factory=Pending)
    state: bytes = b""
    digest: str = ""


class Checkpointed:
    """The state a checkpoint holds, pickled as one ``DetectorState``: the matcher's part as
    the matcher pickled it (bytes, not pickled again) and the live grouping's. Unpickled,
    it *is* the detector's state (:func:`joined_state`), so older readers of a checkpoint
    and the detector's ``restore`` see no difference."""

    __slots__ = ("incidents", "matched")

    def __init__(self, matched: bytes, incidents: IncidentState | None) -> None:
        self.matched = matched
        self.incidents = incidents

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (joined_state, (self.matched, self.incidents))


def joined_state(matched: bytes, incidents: IncidentState | None) -> Any:
    """The detector's state from its two parts (the name is in every checkpoint: keep it)."""
    state = pickle.loads(matched)  # noqa: S301 - our own checkpoint
    state.incidents = incidents
    return state


class Storer:
    """Stores slice outputs: enrichment from the hospital model, suppressions, live incidents,
    the outbox, the watching counts, the checkpoint."""

    def __init__(self, config: ServeConfig, model: Any) -> None:
        self.config = config
        self.model = model
        # The model's answers for alerts and incidents, kept for its life.
        self.places = Places(model)
        self.impacts = ImpactCache(model)
        self._suppressions: list[Any] = []
        self._suppressions_at = 0.0

    def suppressions(self) -> list[Any]:
        from sentinelle.service.store import active_suppressions

        now = time.monotonic()
        if now - self._suppressions_at >= self.config.detector.suppressions_seconds:
            self._suppressions = active_suppressions()
            self._suppressions_at = now
        return self._suppressions

    def write(self, out: SliceOutput, incidents: IncidentState) -> None:
        """Store what a slice produced, with its end position, in one transaction.

        The number of queries does not grow with the number of alerts (up to
        ``store.STORED_IDS_CHUNK`` a slice): one looks for those already stored, one inserts
        the new ones, the slice's incidents take four whatever their number, the outbox one,
        the checkpoint one; a merge of incidents and each suppression hit add a few."""
        from django.db import transaction
        from django.db.models import F
        from django.utils import timezone

        from sentinelle.service.bulk import insert_rows
        from sentinelle.service.grouping import (
            Member,
            group_alerts,
            merge_incidents,
            store_incidents,
        )
        from sentinelle.service.store import alert_row, outbox, stored_ids
        from sentinelle.web.alerts.models import Suppression
        from sentinelle.web.pipeline.models import Checkpoint
        from sentinelle.web.watch.silencestore import write_counts

        cfg = self.config.detector
        suppressions = self.suppressions()
        hits: dict[int, int] = {}
        news: dict[str, NewAlert] = {}
        for new in out.alerts:
            cover = next((s for s in suppressions if s.covers(new.detection)), None)
            if cover is not None:
                hits[cover.id] = hits.get(cover.id, 0) + 1
                continue
            news.setdefault(new.id, new)
        now = timezone.now()
        with transaction.atomic():
            existing = stored_ids(list(news))
            members = []
            for new in news.values():
                if new.id not in existing:
                    keys = entities_of(new.detection)
                    row = alert_row(new, self.places, keys, now)
                    members.append(Member(row, new.detection, keys))
            rows = [m.row for m in members]
            # Live incidents: each alert joins (or opens) one, by the grouping's state; the
            # rows get their incident before they are inserted.
            groups, merges = group_alerts(
                incidents,
                members,
                level_rank(cfg.incident_level),
                cfg.incident_gap_seconds,
                cfg.wave_gap_seconds,
            )
            stored = store_incidents(groups, merges, self.impacts)
            insert_rows(rows, skip_conflicts=True)
            merged = merge_incidents(merges, stored, self.impacts)
            incidents.prune(max(cfg.incident_gap_seconds, cfg.wave_gap_seconds))
            # The outbox: one row per (alert, route), sent later by the notifier.
            insert_rows(outbox(rows, self.config.notifications.routes), skip_conflicts=True)
            for sid, count in hits.items():
                Suppression.objects.filter(pk=sid).update(hits=F("hits") + count, last_hit=now)
            # With the checkpoint: a replay never counts twice.
            write_counts(out.counted, self.model, self.config.notifications.routes)
            # Pickled last: the grouping above changed the state this checkpoint must hold.
            blob = pickle.dumps(Checkpointed(out.state, incidents), pickle.HIGHEST_PROTOCOL)
            mark = {"position": out.end, "state": blob, "rules_digest": out.digest}
            if not Checkpoint.objects.filter(name=CHECKPOINT).update(**mark, updated=now):
                Checkpoint.objects.create(name=CHECKPOINT, **mark, updated=now)
        stored_alerts(rows, len(existing), sum(hits.values()), merged)


def stored_alerts(rows: Sequence[Any], replayed: int, suppressed: int, merged: int) -> None:
    """The store's counters (``service.metrics``), once per slice."""
    from sentinelle.service.metrics import detector_metrics

    m = detector_metrics()
    for level, count in Counter(row.level for row in rows).items():
        m.stored.labels(level).inc(count)
    m.replayed.inc(replayed)
    m.suppressed.inc(suppressed)
    m.merged.inc(merged)


class StoreDied(SentinelleError):
    """The store process ended (a crash, the OOM killer): the detector stops, and is started
    again from the last checkpoint."""


class StoreProcess:
    """The store in a process of its own, fed slice outputs in order through a pipe.

    At most :data:`IN_FLIGHT` slices are matched ahead of the last one stored. Each is
    acknowledged once its transaction is committed; :meth:`close` waits for all of them."""

    def __init__(
        self, config: ServeConfig, database_url: str | None, incidents: IncidentState
    ) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(
            target=store_main,
            args=(config, database_url, pickle.dumps(incidents), child, os.getpid()),
            name="sentinelle-store",
            daemon=True,
        )
        self._process.start()
        child.close()
        self._in_flight = 0
        log_event(log, "detector.store_spawned", pid=self._process.pid)

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def send(self, out: SliceOutput) -> None:
        while self._in_flight >= IN_FLIGHT:
            self._acknowledged()
        try:
            self._conn.send_bytes(pickle.dumps(out, pickle.HIGHEST_PROTOCOL))
        except OSError as exc:  # BrokenPipeError: it died
            raise self._died() from exc
        self._in_flight += 1

    def check(self) -> None:
        """Raise :class:`StoreDied` if the store process has ended."""
        if not self._process.is_alive():
            raise self._died()

    def _acknowledged(self) -> None:
        while not self._conn.poll(ACK_POLL_SECONDS):
            if not self._process.is_alive():
                raise self._died()
        try:
            self._conn.recv_bytes()
        except (EOFError, OSError) as exc:
            raise self._died() from exc
        self._in_flight -= 1

    def _died(self) -> StoreDied:
        self._process.join(5)
        return StoreDied(f"the store process ended (exit code {self._process.exitcode})")

    def close(self) -> None:
        """Wait until every slice sent is stored, then end the store process."""
        try:
            while self._in_flight:
                self._acknowledged()
            with contextlib.suppress(OSError):  # it ended already: nothing was left to store
                self._conn.send_bytes(b"")
        finally:
            self._conn.close()
            self._process.join(30)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()


def store_main(
    config: ServeConfig,
    database_url: str | None,
    incidents_blob: bytes,
    conn: Any,
    parent: int,
) -> None:
    """Entry point of the store process: slice outputs from ``conn`` until an empty message
    (or the detector gone), each stored, then acknowledged."""
    from sentinelle.service.detector import die_with, load_model
    from sentinelle.service.runner import setup_logging
    from sentinelle.web import configure

    die_with(parent)
    setup_logging()
    # The detector decides when to stop (it sends an empty message after its last slice); a
    # SIGTERM or Ctrl-C sent to the whole group must not cut the store short before that.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure(config.data_path(), database_url or None)
    incidents: IncidentState = pickle.loads(incidents_blob)  # noqa: S301 - from the detector
    storer = Storer(config, load_model(config))
    serve_slices(storer, incidents, conn.recv_bytes, conn.send_bytes)


def serve_slices(
    storer: Storer,
    incidents: IncidentState,
    receive: Callable[[], bytes],
    acknowledge: Callable[[bytes], None],
) -> None:
    while True:
        try:
            message = receive()
        except (EOFError, OSError):
            return  # the detector is gone: what it sent and was not stored is matched again
        if not message:
            return
        out = pickle.loads(message)  # noqa: S301 - from the detector, our parent
        storer.write(out, incidents)
        with contextlib.suppress(OSError):
            acknowledge(b"1")
