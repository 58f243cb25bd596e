"""The detector: journal records after the checkpoint, through the hunt's engine, into the store.

It runs in its own process (``runner`` starts it and starts it again if it dies), so a rule
that makes matching slow, or a crash in a parser, never stops the listeners from accepting.
Each slice of the journal is:

1. normalised by the same readers as the hunt (syslog lines by ``parse_syslog``, JSON documents
   by ``normalise_document``, flows by the network decoder, events as the folder's readers
   made them), so ``sentinelle hunt --journal`` sees what live detection saw;
2. matched by the compiled rule set (``engine.load_compiled``, the hunt's rule selection), the
   detections fed to the correlator, the flows to the network detectors;
3. written in one store transaction with the journal position it ends at and the pickled
   window state (correlator, flow decoder and detectors, live incident grouping), by the store
   (``service.storer``): in the service a second process, which stores slice N while this
   one matches slice N+1.

A crash anywhere replays from the last checkpoint; ids are deterministic, so nothing is stored
twice. Rule changes are switched at a slice boundary: every record before it was matched by
the old set, every one after by the new, none by both.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentinelle.detections import Detection
from sentinelle.errors import SentinelleError
from sentinelle.events import EventBatch
from sentinelle.service.config import ServeConfig
from sentinelle.service.journal import JournalEntry, JournalReader
from sentinelle.service.log import log_event
from sentinelle.service.normalise import Normalised, Normaliser
from sentinelle.service.store import NewAlert, identify
from sentinelle.service.storer import CHECKPOINT, SliceOutput, StoreDied, StoreProcess, Storer
from sentinelle.watch.hook import count_slice, due_counts

log = logging.getLogger("sentinelle.service.detector")
__all__ = ["CHECKPOINT", "Detector", "DetectorState", "detector_main"]
RULES_LOOK_SECONDS = 10.0  # how often the rule folders are looked at for changes
REFUSED_RULES_LOGGED = 50  # refused rules logged one by one at each load
# Arrival time that must pass after the last flow delivery before the flow clock is moved
# without flows (a step of the network detectors is 5 s; closing is cheap when nothing is due).
QUIET_STEP_SECONDS = 1.0


@dataclass(slots=True)
class DetectorState:
    """Everything the detector carries from one slice to the next (checkpointed, pickled).

    Only ``correlator`` depends on the rules: a rule change replaces it and keeps the rest
    (the flow decoder's templates, the network detectors' windows, the live grouping)."""

    correlator: Any = None
    flow_decoder: Any = None
    network: Any = None
    incidents: Any = None
    sources: Any = None  # events per source since the last flush (sentinelle.watch.hook)
    fields: Any = None  # fields seen per channel and event id (sentinelle.watch.hook)
    # The flow clock's anchor: (the network detectors' newest flow time, the arrival time of
    # the delivery that brought it). While exporters are quiet, arrival time passing beyond
    # it moves the flow clock by as much, so quiet steps close and attacks end.
    flow_anchor: tuple[float, float] | None = None


def _complete(state: DetectorState, fresh: DetectorState) -> DetectorState:
    """A state unpickled from an older checkpoint, with the parts it lacks taken fresh."""
    for name in DetectorState.__slots__:
        if not hasattr(state, name):
            setattr(state, name, getattr(fresh, name))
    incidents = state.incidents
    if incidents is not None and not hasattr(incidents, "opened"):
        incidents.opened = {}
    return state


def rules_digest(paths: Sequence[Path]) -> str:
    """Changes when a rule file under ``paths`` is added, removed or edited: the files the
    loader would read (``sigma.files.rule_files``, every suffix it takes), by size and time."""
    from sentinelle.sigma.files import rule_files

    h = hashlib.sha256()
    for f in rule_files(paths)[0]:
        with contextlib.suppress(OSError):
            st = f.stat()
            h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def load_model(config: ServeConfig) -> Any:
    """The hospital model alerts are enriched from (None, logged, when it cannot be read)."""
    from sentinelle.hospital import load_model as load

    try:
        return load(config.model_path())
    except SentinelleError as exc:
        log_event(log, "detector.model_unreadable", logging.ERROR, why=exc)
        return None


class Detector:
    """One detector: load the rules, then slices of the journal until told to stop.

    With ``store_process``, :meth:`run` stores through a process of its own (``storer``:
    slice N stored while slice N+1 is matched, as the service does); otherwise every slice is
    stored in this process before the next is matched (:meth:`process`, as tests do)."""

    def __init__(
        self,
        config: ServeConfig,
        stop: Callable[[], bool],
        reload: Any | None = None,
        *,
        store_process: bool = False,
        database_url: str | None = None,
    ) -> None:
        self.config = config
        self.stop = stop
        self.reader = JournalReader(config.journal_path())
        self.normaliser = Normaliser()
        self.store_process = store_process
        self.database_url = database_url
        self._storer: Storer | None = None  # the inline store, made when first needed
        self.compiled: Any = None
        self.digest = ""
        # Set by SIGHUP to this process, or by the runner (a flag shared between processes).
        self.reload_requested = reload if reload is not None else threading.Event()
        self._quiet_at = 0.0
        self.metrics = _DetectorMetrics()

    @property
    def storer(self) -> Storer:
        if self._storer is None:
            self._storer = Storer(self.config, load_model(self.config))
        return self._storer

    def load_rules(self) -> None:
        from sentinelle.engine import load_compiled
        from sentinelle.engine.correlation import CorrelationLimits

        paths = self.config.rule_paths()
        digest = rules_digest(paths)
        compiled = load_compiled(paths)
        limits = CorrelationLimits(max_groups=self.config.detector.max_correlation_groups)
        compiled.correlation_limits = limits
        self.compiled, self.digest = compiled, digest
        refused = compiled.rejections()
        log_event(
            log,
            "detector.rules_loaded",
            rules=len(compiled.rules),
            errors=len(refused),
            digest=digest[:12],
        )
        # Each refused rule with where and why (a typo in an edited rule must be findable);
        # past the first ones, the count above says how many more.
        for error in refused[:REFUSED_RULES_LOGGED]:
            log_event(log, "detector.rule_refused", logging.WARNING, why=error)
        if not self.config.rules:
            from sentinelle.hunt.update import current_sigmahq, sigmahq_root

            if current_sigmahq() is None:
                log_event(
                    log,
                    "detector.sigmahq_missing",
                    logging.WARNING,
                    looked=sigmahq_root(),
                    hint="SENTINELLE_DATA_DIR=<the data folder> sentinelle rules update",
                )

    def _fresh_state(self) -> DetectorState:
        from sentinelle.network.detect import NetworkDetector
        from sentinelle.network.netflow import FlowDecoder
        from sentinelle.service.grouping import IncidentState

        correlations = getattr(self.compiled, "correlations", None)
        correlator = self.compiled.correlator() if correlations else None
        return DetectorState(correlator, FlowDecoder(), NetworkDetector(), IncidentState())

    def restore(self) -> tuple[int, DetectorState]:
        from sentinelle.web.pipeline.models import Checkpoint

        row = Checkpoint.objects.filter(name=CHECKPOINT).first()
        fresh = self._fresh_state()
        if row is None:
            return 0, fresh
        state = None
        if row.state:
            try:
                state = pickle.loads(bytes(row.state))  # noqa: S301 - our own checkpoint
            except Exception as exc:  # noqa: BLE001 - a checkpoint from another version
                log_event(log, "detector.state_discarded", logging.WARNING, why=exc)
        if not isinstance(state, DetectorState):
            return int(row.position), fresh
        state = _complete(state, fresh)
        if row.rules_digest != self.digest:
            # The rules changed while it was down: their windows restart, nothing else does.
            state.correlator = fresh.correlator
            log_event(log, "detector.state_reset", part="correlations", reason="rules changed")
        elif state.correlator is not None and fresh.correlator is not None:
            # Windows kept, caps as configured now (detector.max_correlation_groups).
            state.correlator.limits = fresh.correlator.limits
        return int(row.position), state

    def run(self) -> None:
        """Slices until ``stop()``; the last slice is checkpointed before returning."""
        self.load_rules()
        position, state = self.restore()
        link = None
        if self.store_process:
            link = StoreProcess(self.config, self.database_url, state.incidents)
        log_event(log, "detector.started", position=position)
        try:
            position = self._slices(position, state, link)
        finally:
            if link is not None:
                link.close()  # every slice sent is stored (and checkpointed) first
        self.reader.close()
        log_event(log, "detector.stopped", position=position)

    def _slices(self, position: int, state: DetectorState, link: StoreProcess | None) -> int:
        def store(out: SliceOutput) -> None:
            if link is None:
                self.store_inline(out, state)
            else:
                link.send(out)

        idle = self.config.detector.poll_seconds
        looked = time.monotonic()
        while not self.stop():
            if time.monotonic() - looked > RULES_LOOK_SECONDS:
                looked = time.monotonic()
                if rules_digest(self.config.rule_paths()) != self.digest:
                    self.reload_requested.set()  # a rule folder was edited, or `rules update`
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                self.load_rules()
                state.correlator = self._fresh_state().correlator
                # Switch at this position: everything up to it was matched by the old set and
                # checkpointed; everything after it is matched by the new one, once.
                log_event(log, "detector.rules_switched", position=position)
            entries = self.reader.read(position, self.config.detector.batch_records)
            if not entries:
                quiet = self.quiet(position, state)
                if quiet is not None:
                    store(quiet)
                if link is not None:
                    link.check()  # a store that died while the journal is quiet: stop now
                time.sleep(idle)
                continue
            out = self.match(entries, state)
            store(out)
            position = out.end
        return position

    def store_inline(self, out: SliceOutput, state: DetectorState) -> None:
        self.storer.write(out, state.incidents)

    def process(self, entries: Sequence[JournalEntry], state: DetectorState) -> int:
        """Match one slice and store what it produced with its end position (in this
        process); the position it ends at."""
        out = self.match(entries, state)
        self.store_inline(out, state)
        return out.end

    def match(self, entries: Sequence[JournalEntry], state: DetectorState) -> SliceOutput:
        """Match one slice: what to store for it (``state`` is moved past it)."""
        started = time.perf_counter()
        sliced = self.normaliser.slice(entries)
        count_slice(state, entries, sliced.events)  # the sources' rhythm (silent sources)
        detections: list[Detection] = []
        if sliced.events:
            base = self.compiled.match_batch(EventBatch("journal", sliced.events))
            suppressed_ids: set[str] = set(
                getattr(state.correlator, "suppressed_rule_ids", ()) or ()
            )
            arrived = {e.seq: e.record.received for e in entries}
            for det in base:
                if state.correlator is not None:
                    detections.extend(state.correlator.feed(self.correlated_at(det, arrived)))
                if det.rule_id in suppressed_ids or det.details.get("suppressed"):
                    continue
                detections.append(det)
        for entry, data in sliced.flows:
            received = entry.record.received
            flows = state.flow_decoder.decode(data, entry.record.sender, received)
            detections.extend(state.network.feed(flows, received))
            if state.network.newest != float("-inf"):
                state.flow_anchor = (state.network.newest, received)
        detections.extend(self.advance_flows(state, entries[-1].record.received))
        out = self.output(entries[-1].seq, state, detections, sliced)
        if sliced.flows:
            self.metrics.losses(state)
        if sliced.events and state.correlator is not None:
            self.metrics.evictions(state)
        self.metrics.note(
            len(entries), len(detections), len(sliced.issues), time.perf_counter() - started
        )
        return out

    def output(
        self, end: int, state: DetectorState, detections: list[Detection], sliced: Normalised
    ) -> SliceOutput:
        """What the store needs of a slice: each detection with its id and origin, the
        watching counts due (taken out of the state before it is pickled), and the state
        without the live grouping (the store's), pickled now, as of ``end``."""
        alerts = []
        for det in detections:
            seq = det.event.record if det.event is not None else 0
            alerts.append(
                NewAlert(
                    identify(det, sliced.event_id),
                    det,
                    sliced.event_id(seq) or "",
                    sliced.input(seq) or ("network" if det.rule_type == "network" else ""),
                    det.event.ref if det.event is not None else "",
                )
            )
        counted = due_counts(state, time.time())
        matched = dataclasses.replace(state, incidents=None)
        blob = pickle.dumps(matched, protocol=pickle.HIGHEST_PROTOCOL)
        return SliceOutput(end, alerts, counted, blob, self.digest)

    def correlated_at(self, det: Detection, arrived: dict[int, float]) -> Detection:
        """``det`` as the correlations see it: at its event's time, or at its arrival if that
        is earlier. The correlations' clock follows the times fed to it and never goes back;
        a sender controls its events' times, and one event stamped in 2099 (forged, or a
        device whose clock is wrong) would otherwise carry the clock there for good: every
        later event counted at 2099, no window closing, no burst firing again. The alert of
        the event itself keeps the time it claims."""
        ts = det.timestamp
        if ts is None or det.event is None:
            return det
        at = arrived.get(det.event.record)
        if at is None or ts <= at:
            return det
        self.metrics.m.ahead.inc()
        return dataclasses.replace(det, timestamp=at)

    def advance_flows(self, state: DetectorState, now: float) -> list[Detection]:
        """Move the flow clock by the arrival time passed since the last flow delivery (the
        arrival time of later records, or the wall clock when the journal is quiet)."""
        if state.flow_anchor is None or state.network is None:
            return []
        newest, at = state.flow_anchor
        if now - at < QUIET_STEP_SECONDS:
            return []
        return list(state.network.advance(newest + (now - at)))

    def quiet(self, position: int, state: DetectorState) -> SliceOutput | None:
        """The journal is read to its end: let the flow clock follow the wall clock (at most
        once a second); what that closed, to store with the same position."""
        now = time.time()
        if now - self._quiet_at < 1.0:
            return None
        self._quiet_at = now
        detections = self.advance_flows(state, now)
        if not detections:
            return None
        self.metrics.losses(state)
        return self.output(position, state, detections, Normalised())


def network_losses(state: DetectorState) -> dict[str, int]:
    """The network path's losses by name: the detectors' and the flow decoder's counters."""
    from sentinelle.network.losses import named_losses

    if state.network is None:
        return {}
    sections = dict(state.network.summary())
    if state.flow_decoder is not None:
        sections["decoder"] = state.flow_decoder.stats.as_dict()
    return named_losses(sections)


def correlation_evictions(state: DetectorState) -> list[dict[str, Any]]:
    """Per correlation rule that lost state to its caps: rule_id, title, groups, entries,
    events, first and last (input times), as the hunt's summary has them."""
    evictions = getattr(state.correlator, "evictions", None)
    if evictions is None:
        return []
    return [{"rule_id": e.rule_id, **e.as_dict()} for e in evictions()]


class _DetectorMetrics:
    """The detector's counters (``service.metrics``), updated per slice."""

    def __init__(self) -> None:
        from sentinelle.service.metrics import detector_metrics

        self.m = detector_metrics()

    def note(self, records: int, detections: int, unreadable: int, seconds: float) -> None:
        self.m.records.inc(records)
        self.m.detections.inc(detections)
        self.m.unreadable.inc(unreadable)
        self.m.slice_seconds.observe(seconds)

    def losses(self, state: DetectorState) -> None:
        """Every loss of the network path by name (``network.losses``), from the state."""
        for name, value in network_losses(state).items():
            self.m.network_losses.labels(name).set(value)

    def evictions(self, state: DetectorState) -> None:
        """What the correlations' state caps made them forget, per rule (their health)."""
        for lost in correlation_evictions(state):
            rule_id, title = lost["rule_id"], lost["title"]
            for what in ("groups", "entries", "events"):
                self.m.correlation_evictions.labels(rule_id, title, what).set(lost[what])
            for at in ("first", "last"):
                if lost[at] is not None:
                    self.m.correlation_eviction_times.labels(rule_id, title, at).set(lost[at])


def detector_main(
    config: ServeConfig, database_url: str | None, reload: Any = None, parent: int | None = None
) -> None:
    """Entry point of the detector process (started, and restarted, by the runner, whose pid
    is ``parent``: a spawned process takes a second to start, and a service killed meanwhile
    would otherwise leave it running with init as its parent, taken for the service)."""
    from sentinelle.service.runner import setup_logging
    from sentinelle.web import configure

    parent = os.getppid() if parent is None else parent
    die_with(parent)
    setup_logging()
    configure(config.data_path(), database_url or None)
    stopping = threading.Event()
    detector: Detector | None = None

    def on_term(signum: int, frame: Any) -> None:
        stopping.set()

    def on_hup(signum: int, frame: Any) -> None:
        if detector is not None:
            detector.reload_requested.set()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner decides; Ctrl-C reaches it
    signal.signal(signal.SIGHUP, on_hup)
    # The service gone (killed with -9, the OOM killer): stop too, at once, so that the service
    # started again never has two detectors writing the store.
    detector = Detector(
        config,
        lambda: stopping.is_set() or os.getppid() != parent,
        reload,
        store_process=True,
        database_url=database_url or None,
    )
    try:
        detector.run()
    except StoreDied as exc:  # the runner starts the detector (and a new store) again
        log_event(log, "detector.store_died", logging.ERROR, why=exc)
        sys.exit(1)


def die_with(parent: int) -> None:
    """Be killed when the process that started this one dies (Linux: ``PR_SET_PDEATHSIG``);
    elsewhere the detector's loop notices its parent changed, at its next slice."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before the request was made
        os._exit(1)
