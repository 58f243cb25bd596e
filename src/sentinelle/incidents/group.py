"""Detections grouped into incidents: what an analyst investigates as one story.

Detections are taken in time order. Each one joins the incidents of every entity (machine,
address, account) it shares with a detection seen less than ``max_gap`` before, and, when it
is high or critical, of the same rule seen at the same site less than ``wave_gap`` before;
incidents it bridges merge. An incident then lists its machines, sites (through the hospital
model when one is given), first and last detection, severity, and its detections twice: as a
timeline, and as an attack chain, stage by stage in ATT&CK tactic order.

``IncidentGrouper`` does it as a stream: an incident nothing can join any more (its last
detection older than both gaps) is closed and handed over at once, and with ``keep`` it holds
only that many detections per incident and per stage (the counts stay exact), so a hunt groups
any number of detections in bounded memory. ``group_incidents`` keeps every detection.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sentinelle.detections import Detection, level_rank
from sentinelle.events import format_timestamp
from sentinelle.hospital import HospitalModel, locate_detection
from sentinelle.hunt.attack import TACTICS, Tactic, tactics_of
from sentinelle.incidents.entities import accounts_of, addresses_of, entities_of, hosts_of
from sentinelle.incidents.impact import harms_of, victims_of

DEFAULT_MAX_GAP = 2 * 3600.0
# The same serious rule firing on several machines of one site within this time is one wave
# of the same activity (an intruder repeating a step on every file server), even when the
# machines share nothing the logs show.
DEFAULT_WAVE_GAP = 15 * 60.0
_WAVE_LEVEL = level_rank("high")
UNKNOWN_TACTIC = Tactic("unknown", "Other", "Other", len(TACTICS))


@dataclass(slots=True)
class Stage:
    """One tactic of an incident's chain: when it was first and last seen, and by what.

    ``detections`` holds them all, or the first ones when the grouper keeps a sample; ``count``
    is always the number of detections of the stage."""

    tactic: Tactic
    first_seen: float
    last_seen: float
    detections: list[Detection] = field(default_factory=list)
    count: int = 0
    rule_titles: set[str] = field(default_factory=set)

    @property
    def rules(self) -> list[str]:
        return sorted(self.rule_titles)


@dataclass(slots=True)
class Incident:
    id: str
    title: str
    severity: str
    first_seen: float
    last_seen: float
    hosts: tuple[str, ...]
    sites: tuple[str, ...]
    assets: tuple[str, ...]
    addresses: tuple[str, ...]
    accounts: tuple[str, ...]
    timeline: list[Detection]  # in time order: all of them, or the first ones (``detections``)
    chain: list[Stage]  # in ATT&CK tactic order
    detections: int = 0  # how many detections the incident has
    by_level: dict[str, int] = field(default_factory=dict)
    # The machines its high and critical detections are about, by what they suffered (see
    # ``incidents.impact``), when grouped with a hospital model.
    victims: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return self.last_seen - self.first_seen

    @property
    def tactics(self) -> list[Tactic]:
        return [s.tactic for s in self.chain]

    def count_by_level(self) -> dict[str, int]:
        return dict(self.by_level)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity,
            "first_seen": format_timestamp(self.first_seen),
            "last_seen": format_timestamp(self.last_seen),
            "hosts": list(self.hosts),
            "sites": list(self.sites),
            "assets": list(self.assets),
            "addresses": list(self.addresses),
            "accounts": list(self.accounts),
            "detections": self.detections,
            "by_level": self.count_by_level(),
            "chain": [
                {
                    "tactic": s.tactic.name,
                    "first_seen": format_timestamp(s.first_seen),
                    "last_seen": format_timestamp(s.last_seen),
                    "detections": s.count,
                    "rules": s.rules,
                }
                for s in self.chain
            ],
        }


class _Open:
    """An incident still being built: what it has seen, summed as detections join."""

    __slots__ = (
        "assets",
        "by_level",
        "count",
        "entities",
        "first_seen",
        "last_seen",
        "links",
        "seq",
        "sites",
        "stages",
        "timeline",
        "victims",
        "worst",
        "worst_det",
    )

    def __init__(self, seq: int, ts: float) -> None:
        self.seq = seq  # feed order of its first detection: ties of first_seen keep that order
        self.first_seen = ts
        self.last_seen = ts
        self.count = 0
        self.by_level: dict[str, int] = {}
        self.entities: set[str] = set()
        self.links: set[str] = set()  # every key that points here (entities and waves)
        self.sites: set[str] = set()
        self.assets: set[str] = set()
        self.stages: dict[str, Stage] = {}
        self.timeline: list[Detection] = []
        self.victims: dict[str, set[str]] = {}
        self.worst: tuple[int, float] = (-1, 0.0)
        self.worst_det: Detection | None = None

    def add(self, det: Detection, ts: float, keep: int | None) -> None:
        self.count += 1
        self.last_seen = max(self.last_seen, ts)
        self.by_level[det.level] = self.by_level.get(det.level, 0) + 1
        if keep is None or len(self.timeline) < keep:
            self.timeline.append(det)
        rank = (level_rank(det.level), ts)
        if rank > self.worst:  # on a tie the earlier detection stays the worst
            self.worst, self.worst_det = rank, det
        for tactic in tactics_of(det.tags) or [UNKNOWN_TACTIC]:
            stage = self.stages.get(tactic.key)
            if stage is None:
                stage = self.stages[tactic.key] = Stage(tactic, ts, ts)
            stage.last_seen = max(stage.last_seen, ts)
            stage.count += 1
            stage.rule_titles.add(det.rule_title)
            if keep is None or len(stage.detections) < keep:
                stage.detections.append(det)

    def absorb(self, other: _Open, keep: int | None) -> None:
        """Merge ``other`` (an incident this detection bridges to) into this one."""
        self.first_seen, self.seq = min((self.first_seen, self.seq), (other.first_seen, other.seq))
        self.last_seen = max(self.last_seen, other.last_seen)
        self.count += other.count
        for level, n in other.by_level.items():
            self.by_level[level] = self.by_level.get(level, 0) + n
        self.entities |= other.entities
        self.links |= other.links
        self.sites |= other.sites
        self.assets |= other.assets
        self.timeline = _merged(self.timeline, other.timeline, keep)
        if other.worst > self.worst or (
            other.worst == self.worst
            and other.worst_det is not None
            and self.worst_det is not None
            and other.worst_det.sort_key < self.worst_det.sort_key
        ):
            self.worst, self.worst_det = other.worst, other.worst_det
        for key, theirs in other.stages.items():
            mine = self.stages.get(key)
            if mine is None:
                self.stages[key] = theirs
                continue
            mine.first_seen = min(mine.first_seen, theirs.first_seen)
            mine.last_seen = max(mine.last_seen, theirs.last_seen)
            mine.count += theirs.count
            mine.rule_titles |= theirs.rule_titles
            mine.detections = _merged(mine.detections, theirs.detections, keep)
        for effect, names in other.victims.items():
            self.victims.setdefault(effect, set()).update(names)

    def close(self, model: HospitalModel | None) -> Incident:
        hosts = hosts_of(self.entities)
        sites, assets = set(self.sites), set(self.assets)
        if model is not None:
            # Machines named only as the source of a logon are ours too; keep their sites.
            for host in hosts:
                found = model.locate_host(host)
                if found is not None:
                    sites.add(found.site)
                    assets.add(found.id)
        worst = self.worst_det
        assert worst is not None
        chain = sorted(self.stages.values(), key=lambda s: (s.tactic.order, s.first_seen))
        where = ", ".join(hosts[:3]) + (f" (+{len(hosts) - 3})" if len(hosts) > 3 else "")
        return Incident(
            id="",
            title=worst.rule_title + (f" on {where}" if where else ""),
            severity=worst.level,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            hosts=tuple(hosts),
            sites=tuple(sorted(sites)),
            assets=tuple(sorted(assets)),
            addresses=tuple(addresses_of(self.entities)),
            accounts=tuple(accounts_of(self.entities)),
            timeline=self.timeline,
            chain=chain,
            detections=self.count,
            by_level=dict(self.by_level),
            victims={k: tuple(sorted(v)) for k, v in sorted(self.victims.items())},
        )


def _merged(a: list[Detection], b: list[Detection], keep: int | None) -> list[Detection]:
    """Two timelines (each in order) as one, cut to ``keep``."""
    merged = heapq.merge(a, b, key=lambda d: d.sort_key)
    return list(merged if keep is None else itertools.islice(merged, keep))


# Victim names kept per incident and kind of harm: enough for the impact engine, bounded.
_MAX_VICTIMS = 1000


class IncidentGrouper:
    """Incidents from detections fed in time order (the order a hunt's timeline has).

    ``on_close`` gets each incident once nothing can join it any more (ids are not given:
    numbering needs them all, see ``number_incidents``); ``finish`` closes the rest. With
    ``keep``, an incident holds at most that many detections, and so does each stage.
    Detections without a timestamp, or below ``min_level``, are left out and counted
    (``skipped``): they cannot be placed in a chain.
    """

    def __init__(
        self,
        on_close: Callable[[Incident], None],
        *,
        model: HospitalModel | None = None,
        max_gap: float = DEFAULT_MAX_GAP,
        wave_gap: float = DEFAULT_WAVE_GAP,
        min_level: str = "informational",
        keep: int | None = None,
    ) -> None:
        self._on_close = on_close
        self._model = model
        self._max_gap = max_gap
        self._wave_gap = wave_gap
        self._horizon = max(max_gap, wave_gap)
        self._floor = level_rank(min_level)
        self._keep = keep
        self._last: dict[str, tuple[float, _Open]] = {}  # key -> (time last seen, incident)
        self._open: dict[int, _Open] = {}  # by id()
        self._seq = 0
        self._next_sweep = float("-inf")
        self.skipped = 0

    def feed(self, det: Detection) -> None:
        ts = det.timestamp
        if ts is None or level_rank(det.level) < self._floor:
            self.skipped += 1
            return
        if ts >= self._next_sweep:
            self._sweep(ts)
        mine = entities_of(det)
        links = [(key, self._max_gap) for key in mine]
        serious = level_rank(det.level) >= _WAVE_LEVEL
        located = locate_detection(self._model, det) if self._model is not None else []
        if serious:
            sites = sorted({a.site for a in located}) or ["?"]
            links += [(f"wave:{det.rule_id}@{site}", self._wave_gap) for site in sites]
        home: _Open | None = None
        for key, gap in links:
            seen = self._last.get(key)
            if seen is None or ts - seen[0] > gap or seen[1] is home:
                continue
            other = seen[1]
            if home is None:
                home = other
                continue
            # This detection bridges two incidents: the one with fewer keys moves over.
            if len(other.links) > len(home.links):
                home, other = other, home
            home.absorb(other, self._keep)
            del self._open[id(other)]
            for moved in other.links:
                entry = self._last.get(moved)
                if entry is not None and entry[1] is other:
                    self._last[moved] = (entry[0], home)
        if home is None:
            home = _Open(self._seq, ts)
            self._open[id(home)] = home
        self._seq += 1
        home.add(det, ts, self._keep)
        home.entities |= mine
        for key, _ in links:
            home.links.add(key)
            self._last[key] = (ts, home)
        for asset in located:
            home.sites.add(asset.site)
            home.assets.add(asset.id)
        harms = harms_of(det) if serious and self._model is not None else []
        if harms and self._model is not None:
            found = victims_of(self._model, det)
            for harm in harms:
                names = home.victims.setdefault(harm, set())
                if len(names) < _MAX_VICTIMS:
                    names.update(found)

    def _sweep(self, now: float) -> None:
        """Close the incidents nothing can join any more."""
        self._next_sweep = now + self._horizon / 8
        for inc in [i for i in self._open.values() if now - i.last_seen > self._horizon]:
            self._close(inc)

    def _close(self, inc: _Open) -> None:
        del self._open[id(inc)]
        for key in inc.links:
            entry = self._last.get(key)
            if entry is not None and entry[1] is inc:
                del self._last[key]
        self._on_close(inc.close(self._model))

    def finish(self) -> None:
        """Close every incident still open (the end of the timeline)."""
        for inc in sorted(self._open.values(), key=lambda i: (i.first_seen, i.seq)):
            self._close(inc)
        self._last.clear()


def number_incidents(incidents: list[Incident]) -> list[Incident]:
    """``incidents`` in order of their first detection, numbered ``INC-001``..."""
    incidents.sort(key=lambda inc: (inc.first_seen, inc.timeline[0].sort_key))
    for number, inc in enumerate(incidents, start=1):
        inc.id = f"INC-{number:03d}"
    return incidents


def group_incidents(
    detections: Iterable[Detection],
    *,
    model: HospitalModel | None = None,
    max_gap: float = DEFAULT_MAX_GAP,
    wave_gap: float = DEFAULT_WAVE_GAP,
    min_level: str = "informational",
) -> list[Incident]:
    """Incidents from detections (any order), numbered by their first detection, each with
    every one of its detections.

    Detections without a timestamp, or below ``min_level``, are left out: they cannot be
    placed in a chain. The caller counts them if it needs to.
    """
    found: list[Incident] = []
    grouper = IncidentGrouper(
        found.append, model=model, max_gap=max_gap, wave_gap=wave_gap, min_level=min_level
    )
    timed = sorted((d for d in detections if d.timestamp is not None), key=lambda d: d.sort_key)
    for det in timed:
        grouper.feed(det)
    grouper.finish()
    return number_incidents(found)
