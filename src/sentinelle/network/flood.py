"""Volumetric floods: per destination (and site or service) rates over a sliding window.

The detector facade (``detect.py``) adds every flow to a per-step accumulator; when a step
closes, ``FloodTracker.close_step`` receives the step's accumulators, appends them to each
subject's ring of recent steps, and compares the window's rates (packets/s, bits/s, flows/s)
with the subject's thresholds: its floor, raised by its learned baseline. An attack starts on
the first step where a rate passes its threshold, and ends when every rate has stayed under
``end_ratio`` × its start threshold for ``end_windows`` windows. Both events carry the peak
rates, distinct sources, the SYN-without-ACK share and the top sources, protocols and ports.
A detection's ``timestamp`` is when the detector could decide (the end of the step that passed
or fell back), ``first_seen`` the start of the attack's first busy step, ``last_seen`` the end of
its last one, ``value`` the peak packets per second.
"""

from __future__ import annotations

import hashlib
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sentinelle.detections import Detection
from sentinelle.network.baseline import Baseline, SlotClock
from sentinelle.network.config import NetworkConfig
from sentinelle.network.flow import FlowRecord, proto_name

# Layout of a step accumulator (a list, because the per-flow path updates it in place).
(
    A_PACKETS,
    A_BYTES,
    A_FLOWS,
    A_SYN,
    A_TCP,
    A_SOURCES,
    A_SERVICES,
    A_OTHER,
    A_UNATTRIBUTED,
    A_SAMPLES,
) = range(10)
SAMPLES_PER_STEP = 3  # records named per destination and step, so a detection points back
SAMPLES_PER_ATTACK = 12
FLOOD_TAGS = ("attack.impact", "attack.t1498", "attack.t1498.001")
METRICS = ("pps", "bps", "fps")
LOCATION_KEYS = ("site", "service")

Accumulator = list[Any]
Locate = Callable[[str], Mapping[str, Any] | None]


def new_accumulator() -> Accumulator:
    return [0, 0, 0, 0, 0, {}, {}, 0, 0, []]


@dataclass(slots=True)
class _Step:
    step: int
    packets: int
    bytes: int
    flows: int
    syn: int
    tcp: int
    sources: dict[str, int]
    services: dict[tuple[int, int], int]
    other: int  # packets from sources beyond the per-step cap
    unattributed: int  # packets before the destination was busy enough to count sources
    samples: list[FlowRecord]  # a few of its flow records, so that detections point back


@dataclass(slots=True)
class _Attack:
    ident: str
    first_seen: float
    last_seen: float
    detected_at: float
    thresholds: list[float]
    peak: list[float]
    peak_sources: int = 0
    sources_saturated: bool = False
    packets: int = 0
    bytes: int = 0
    flows: int = 0
    syn: int = 0
    tcp: int = 0
    unattributed: int = 0
    samples: list[FlowRecord] = field(default_factory=list)
    sources: Counter[str] = field(default_factory=Counter)
    services: Counter[tuple[int, int]] = field(default_factory=Counter)
    quiet: int = 0


class _Subject:
    __slots__ = ("attack", "baseline", "key", "last_step", "learned", "ring")

    def __init__(self, key: tuple[str, str], ring_length: int) -> None:
        self.key = key
        self.ring: deque[_Step] = deque(maxlen=ring_length)
        self.baseline: Baseline | None = None
        self.attack: _Attack | None = None
        self.last_step = -1
        self.learned = -(1 << 62)  # step of the last baseline update


@dataclass(slots=True)
class FloodStats:
    subjects_evicted: int = 0
    attacks_started: int = 0
    attacks_ended: int = 0
    attacks_refused: int = 0  # more open attacks than max_attacks
    baselines: int = 0


class FloodTracker:
    def __init__(self, config: NetworkConfig, locate: Locate | None = None) -> None:
        self.config = config
        self.flood = config.flood
        self.step_seconds = config.step_seconds
        self.window_seconds = config.window_seconds
        self.steps_per_window = max(1, round(config.window_seconds / config.step_seconds))
        self.clock = SlotClock(config.baseline)
        self.locate = locate
        self.stats = FloodStats()
        self._subjects: OrderedDict[tuple[str, str], _Subject] = OrderedDict()
        self._attacks: set[tuple[str, str]] = set()
        self._touched: dict[int, list[tuple[str, str]]] = {}
        self._locations: OrderedDict[str, Mapping[str, Any] | None] = OrderedDict()
        floors = (self.flood.floor_pps, self.flood.floor_bps, self.flood.floor_fps)
        self._floors = floors
        # A baseline can only raise a threshold once a sample reaches this fraction of a floor.
        lift = max(self.flood.factor, 1.0 + self.flood.deviations)
        self._baseline_from = tuple(f / lift for f in floors)
        # A destination gets state only once one step carries this much (packets, bytes,
        # flows): below it in every step, its window rate stays under floor / lift, where
        # it could neither pass its floor nor learn a baseline that matters; what was missed
        # before it got state is at most floor / steps_per_window of a window's rate.
        share = config.step_seconds / max(lift, self.steps_per_window)
        self._track_from = (floors[0] * share, floors[1] / 8.0 * share, floors[2] * share)
        # Sources and ports of a destination are counted from an eighth of that on.
        track = self._track_from
        self.detail_from = (track[0] / 8.0, track[1] / 8.0, track[2] / 8.0)
        self.attacked: set[str] = set()  # destinations under attack: always counted in full
        self.tracked: set[str] = set()  # destinations with state: their every step counts

    @property
    def open_attacks(self) -> int:
        return len(self._attacks)

    @property
    def subject_count(self) -> int:
        return len(self._subjects)

    def location(self, ip: str) -> Mapping[str, Any] | None:
        if self.locate is None:
            return None
        if ip in self._locations:
            return self._locations[ip]
        if len(self._locations) >= self.flood.max_destinations:
            self._locations.popitem(last=False)
        place = self.locate(ip)
        self._locations[ip] = place
        return place

    def close_step(self, step: int, accumulators: dict[str, Accumulator]) -> list[Detection]:
        out: list[Detection] = []
        slot = self.clock.slot(step * self.step_seconds)
        touched = self._touched.setdefault(step, [])
        groups: dict[tuple[str, str], Accumulator] = {}
        track_packets, track_bytes, track_flows = self._track_from
        subjects = self._subjects
        for dst, acc in accumulators.items():
            key = ("dst_ip", dst)
            if (
                acc[A_PACKETS] >= track_packets
                or acc[A_BYTES] >= track_bytes
                or acc[A_FLOWS] >= track_flows
                or key in subjects
            ):
                self._evaluate(self._push(key, step, acc), step, slot, out)
                touched.append(key)
            if self.locate is not None:
                place = self.location(dst)
                if place:
                    for name in LOCATION_KEYS:
                        value = place.get(name)
                        # A machine may carry several services: it counts towards each.
                        values = value if isinstance(value, list | tuple) else (value,)
                        for item in values:
                            if item:
                                key = (name, str(item))
                                _merge(groups.setdefault(key, new_accumulator()), acc)
        for key, acc in groups.items():
            self._evaluate(self._push(key, step, acc), step, slot, out)
            touched.append(key)
        for key in list(self._attacks):
            subject = self._subjects[key]
            if subject.last_step != step:
                self._evaluate(subject, step, slot, out)
        self.forget_until(step - self.steps_per_window)
        self._evict()
        return out

    # -- subjects --------------------------------------------------------------------------

    def _push(self, key: tuple[str, str], step: int, acc: Accumulator) -> _Subject:
        subject = self._subjects.get(key)
        if subject is None:
            subject = self._subjects[key] = _Subject(key, self.steps_per_window)
            if key[0] == "dst_ip":
                self.tracked.add(key[1])
        else:
            self._subjects.move_to_end(key)  # most recently active last, for eviction
        subject.ring.append(
            _Step(
                step,
                acc[A_PACKETS],
                acc[A_BYTES],
                acc[A_FLOWS],
                acc[A_SYN],
                acc[A_TCP],
                acc[A_SOURCES],
                acc[A_SERVICES],
                acc[A_OTHER],
                acc[A_UNATTRIBUTED],
                acc[A_SAMPLES],
            )
        )
        subject.last_step = step
        return subject

    def forget_until(self, step: int) -> None:
        """Drop the recent-steps ring of subjects idle since ``step``; drop empty subjects."""
        for old in [s for s in self._touched if s <= step]:
            for key in self._touched.pop(old):
                subject = self._subjects.get(key)
                if subject is None or subject.last_step != old or subject.attack is not None:
                    continue
                subject.ring.clear()
                if subject.baseline is None:
                    del self._subjects[key]
                    self.tracked.discard(key[1])

    def _evict(self) -> None:
        limit = self.flood.max_destinations
        subjects = self._subjects
        guard = len(subjects)
        while len(subjects) > limit and guard > 0:
            guard -= 1
            key, subject = subjects.popitem(last=False)
            self.tracked.discard(key[1])
            if subject.attack is not None:
                subjects[key] = subject  # never forget an open attack; try the next one
                continue
            self.stats.subjects_evicted += 1

    # -- evaluation ------------------------------------------------------------------------

    def _rates(self, window: list[_Step]) -> list[float]:
        seconds = self.window_seconds
        return [
            sum(s.packets for s in window) / seconds,
            8.0 * sum(s.bytes for s in window) / seconds,
            sum(s.flows for s in window) / seconds,
        ]

    def _evaluate(self, subject: _Subject, step: int, slot: int, out: list[Detection]) -> None:
        horizon = step - self.steps_per_window
        window = [s for s in subject.ring if s.step > horizon]
        rates = self._rates(window)
        baseline = subject.baseline
        flood = self.flood
        if baseline is None:
            thresholds = list(self._floors)
        else:
            thresholds = baseline.thresholds(
                slot, self._floors, flood.factor, flood.deviations, self.config.baseline
            )
        over = any(r > t for r, t in zip(rates, thresholds, strict=True))
        attack = subject.attack
        if attack is None:
            if over:
                self._start(subject, window, step, rates, thresholds, out)
            elif step - subject.learned >= self.steps_per_window:
                # Learn from non-overlapping windows only, so one burst is not counted twice.
                subject.learned = step
                self._learn(subject, slot, rates)
            return
        current = window[-1] if window and window[-1].step == step else None
        if current is not None:
            _add_step(attack, current, self.flood.max_sources_per_step * 4)
        self._peaks(attack, window, rates)
        ends = [flood.end_ratio * t for t in attack.thresholds]
        if current is not None and self._step_over(current, ends):
            attack.last_seen = (step + 1) * self.step_seconds
        if all(r < e for r, e in zip(rates, ends, strict=True)):
            attack.quiet += 1
        else:
            attack.quiet = 0
        if attack.quiet >= flood.end_windows * self.steps_per_window:
            subject.attack = None
            self._attacks.discard(subject.key)
            if subject.key[0] == "dst_ip":
                self.attacked.discard(subject.key[1])
            self.stats.attacks_ended += 1
            decided = (step + 1) * self.step_seconds
            out.append(self._detection(subject, attack, "end", decided))

    def _learn(self, subject: _Subject, slot: int, rates: list[float]) -> None:
        if subject.baseline is None:
            if not any(r >= f for r, f in zip(rates, self._baseline_from, strict=True)):
                return  # such a small sample could never lift a threshold above its floor
            subject.baseline = Baseline(len(METRICS), self.config.baseline.slots_per_day)
            self.stats.baselines += 1
        subject.baseline.update(slot, rates, self.config.baseline.alpha)

    def _step_over(self, step: _Step, limits: list[float]) -> bool:
        seconds = self.step_seconds
        rates = (step.packets / seconds, 8.0 * step.bytes / seconds, step.flows / seconds)
        return any(r > t for r, t in zip(rates, limits, strict=True))

    def _start(
        self,
        subject: _Subject,
        window: list[_Step],
        step: int,
        rates: list[float],
        thresholds: list[float],
        out: list[Detection],
    ) -> None:
        if len(self._attacks) >= self.flood.max_attacks:
            self.stats.attacks_refused += 1
            return
        ends = [self.flood.end_ratio * t for t in thresholds]
        onset = next((s for s in window if self._step_over(s, ends)), window[0])
        decided = (step + 1) * self.step_seconds
        kind, name = subject.key
        digest = hashlib.sha1(f"{kind}|{name}|{onset.step}".encode()).hexdigest()[:12]
        attack = _Attack(
            ident=f"flood-{digest}",
            first_seen=onset.step * self.step_seconds,
            last_seen=decided,
            detected_at=decided,
            thresholds=thresholds,
            peak=list(rates),
        )
        for s in window:
            if s.step >= onset.step:
                _add_step(attack, s, self.flood.max_sources_per_step * 4)
        self._peaks(attack, window, rates)
        subject.attack = attack
        self._attacks.add(subject.key)
        if kind == "dst_ip":
            self.attacked.add(name)
        self.stats.attacks_started += 1
        out.append(self._detection(subject, attack, "start", decided))

    def _peaks(self, attack: _Attack, window: list[_Step], rates: list[float]) -> None:
        attack.peak = [max(p, r) for p, r in zip(attack.peak, rates, strict=True)]
        sources: set[str] = set()
        for s in window:
            sources.update(s.sources)
            if s.other:
                attack.sources_saturated = True
        attack.peak_sources = max(attack.peak_sources, len(sources))

    # -- output ----------------------------------------------------------------------------

    def _detection(
        self, subject: _Subject, attack: _Attack, phase: str, decided: float
    ) -> Detection:
        kind, name = subject.key
        top = self.flood.top
        services = attack.services
        protocols = Counter[str]()
        for (proto, _port), packets in services.items():
            protocols[proto_name(proto)] += packets
        syn_share = attack.syn / attack.tcp if attack.tcp else None
        top_proto = protocols.most_common(1)[0][0] if protocols else None
        vector = (
            "syn-flood"
            if syn_share is not None and syn_share >= 0.5
            else (f"{top_proto}-flood" if top_proto else "flood")
        )
        details: dict[str, Any] = {
            "phase": phase,
            "attack_id": attack.ident,
            "subject": kind,
            "vector": vector,
            "peak_pps": round(attack.peak[0], 3),
            "peak_bps": round(attack.peak[1], 3),
            "peak_flows_per_s": round(attack.peak[2], 3),
            "peak_sources": attack.peak_sources,
            "sources_saturated": attack.sources_saturated,
            "syn_without_ack_share": None if syn_share is None else round(syn_share, 4),
            "packets": attack.packets,
            "bytes": attack.bytes,
            "flows": attack.flows,
            # Packets counted before the destination was busy enough to count its sources and
            # ports (the first moments of an attack): in the totals, not in the top lists.
            "unattributed_packets": attack.unattributed,
            "sample_records": sorted({f.origin for f in attack.samples}),
            "top_sources": [{"ip": ip, "packets": n} for ip, n in attack.sources.most_common(top)],
            "top_protocols": [{"proto": p, "packets": n} for p, n in protocols.most_common(top)],
            "top_ports": [
                {"proto": proto_name(p), "port": port, "packets": n}
                for (p, port), n in services.most_common(top)
            ],
            "thresholds": {m: round(t, 3) for m, t in zip(METRICS, attack.thresholds, strict=True)},
            "window_seconds": self.window_seconds,
            "detected_at": attack.detected_at,
        }
        if phase == "end":
            details["duration_seconds"] = round(attack.last_seen - attack.first_seen, 3)
        if kind == "dst_ip":
            place = self.location(name)
            if place:
                details["location"] = dict(place)
        title = "Network flood started" if phase == "start" else "Network flood ended"
        return Detection(
            rule_id=f"net-flood-{phase}",
            rule_title=title,
            level="high" if phase == "start" else "medium",
            timestamp=decided,
            tags=FLOOD_TAGS,
            rule_type="network",
            group={kind: name},
            first_seen=attack.first_seen,
            last_seen=attack.last_seen,
            value=round(attack.peak[0], 3),
            details=details,
            events=tuple(f.event for f in attack.samples if f.event is not None),
        )


def _merge(into: Accumulator, acc: Accumulator) -> None:
    for i in (A_PACKETS, A_BYTES, A_FLOWS, A_SYN, A_TCP, A_OTHER, A_UNATTRIBUTED):
        into[i] += acc[i]
    samples: list[FlowRecord] = into[A_SAMPLES]
    samples.extend(acc[A_SAMPLES][: max(0, SAMPLES_PER_STEP - len(samples))])
    sources: dict[str, int] = into[A_SOURCES]
    for ip, n in acc[A_SOURCES].items():
        sources[ip] = sources.get(ip, 0) + n
    services: dict[tuple[int, int], int] = into[A_SERVICES]
    for key, n in acc[A_SERVICES].items():
        services[key] = services.get(key, 0) + n


def _add_step(attack: _Attack, step: _Step, cap: int) -> None:
    attack.packets += step.packets
    attack.bytes += step.bytes
    attack.flows += step.flows
    attack.syn += step.syn
    attack.tcp += step.tcp
    attack.unattributed += step.unattributed
    room = SAMPLES_PER_ATTACK - len(attack.samples)
    if room > 0:
        attack.samples.extend(step.samples[:room])
    attack.sources.update(step.sources)
    attack.services.update(step.services)
    if len(attack.sources) > cap:
        # Keep the heaviest sources; the tail cannot enter a top list any more.
        attack.sources = Counter(dict(attack.sources.most_common(cap // 2)))
        attack.sources_saturated = True
    if len(attack.services) > cap:
        attack.services = Counter(dict(attack.services.most_common(cap // 2)))
