"""Detections grouped into incidents: what an analyst investigates as one story.

Detections are taken in time order. Each one joins the incidents of every entity (machine,
address, account) it shares with a detection seen less than ``max_gap`` before, and, when it
is high or critical, of the same rule seen at the same site less than ``wave_gap`` before;
incidents it bridges merge (union-find). An incident then lists its machines, sites (through
the hospital model when one is given), first and last detection, severity, and its detections
twice: as a timeline, and as an attack chain, stage by stage in ATT&CK tactic order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sentinelle.detections import Detection, level_rank
from sentinelle.events import format_timestamp
from sentinelle.hospital import HospitalModel, locate_detection
from sentinelle.hunt.attack import TACTICS, Tactic, tactics_of
from sentinelle.incidents.entities import accounts_of, addresses_of, entities_of, hosts_of

DEFAULT_MAX_GAP = 2 * 3600.0
# The same serious rule firing on several machines of one site within this time is one wave
# of the same activity (an intruder repeating a step on every file server), even when the
# machines share nothing the logs show.
DEFAULT_WAVE_GAP = 15 * 60.0
_WAVE_LEVEL = level_rank("high")
UNKNOWN_TACTIC = Tactic("unknown", "Other", "Other", len(TACTICS))


@dataclass(slots=True)
class Stage:
    """One tactic of an incident's chain: when it was first and last seen, and by what."""

    tactic: Tactic
    first_seen: float
    last_seen: float
    detections: list[Detection] = field(default_factory=list)

    @property
    def rules(self) -> list[str]:
        return sorted({d.rule_title for d in self.detections})


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
    timeline: list[Detection]  # in time order
    chain: list[Stage]  # in ATT&CK tactic order

    @property
    def duration(self) -> float:
        return self.last_seen - self.first_seen

    @property
    def tactics(self) -> list[Tactic]:
        return [s.tactic for s in self.chain]

    def count_by_level(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for det in self.timeline:
            out[det.level] = out.get(det.level, 0) + 1
        return out

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
            "detections": len(self.timeline),
            "by_level": self.count_by_level(),
            "chain": [
                {
                    "tactic": s.tactic.name,
                    "first_seen": format_timestamp(s.first_seen),
                    "last_seen": format_timestamp(s.last_seen),
                    "detections": len(s.detections),
                    "rules": s.rules,
                }
                for s in self.chain
            ],
        }


class _Union:
    def __init__(self) -> None:
        self.parent: list[int] = []

    def add(self) -> int:
        self.parent.append(len(self.parent))
        return len(self.parent) - 1

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:  # path compression keeps later finds short
            self.parent[i], i = root, self.parent[i]
        return root

    def join(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def group_incidents(
    detections: Iterable[Detection],
    *,
    model: HospitalModel | None = None,
    max_gap: float = DEFAULT_MAX_GAP,
    wave_gap: float = DEFAULT_WAVE_GAP,
    min_level: str = "informational",
) -> list[Incident]:
    """Incidents from detections (any order), numbered by their first detection.

    Detections without a timestamp, or below ``min_level``, are left out: they cannot be
    placed in a chain. The caller counts them if it needs to.
    """
    floor = level_rank(min_level)
    timed = sorted(
        (d for d in detections if d.timestamp is not None and level_rank(d.level) >= floor),
        key=lambda d: d.sort_key,
    )
    union = _Union()
    keys: list[frozenset[str]] = []
    last: dict[str, tuple[float, int]] = {}  # entity -> (time, detection index) last seen
    for det in timed:
        i = union.add()
        ts = det.timestamp if det.timestamp is not None else 0.0
        mine = entities_of(det)
        keys.append(mine)
        links = [(key, max_gap) for key in mine]
        if level_rank(det.level) >= _WAVE_LEVEL:
            sites = _sites(model, det) or {"?"}
            links += [(f"wave:{det.rule_id}@{site}", wave_gap) for site in sorted(sites)]
        for key, gap in links:
            seen = last.get(key)
            if seen is not None and ts - seen[0] <= gap:
                union.join(i, seen[1])
            last[key] = (ts, i)
    members: dict[int, list[int]] = {}
    for i in range(len(timed)):
        members.setdefault(union.find(i), []).append(i)
    incidents = [
        _build(model, [timed[i] for i in idx], [keys[i] for i in idx]) for idx in members.values()
    ]
    incidents.sort(key=lambda inc: (inc.first_seen, inc.id))
    for number, inc in enumerate(incidents, start=1):
        inc.id = f"INC-{number:03d}"
    return incidents


def _sites(model: HospitalModel | None, det: Detection) -> set[str]:
    if model is None:
        return set()
    return {asset.site for asset in locate_detection(model, det)}


def _build(
    model: HospitalModel | None, dets: Sequence[Detection], keys: Sequence[frozenset[str]]
) -> Incident:
    all_keys: set[str] = set().union(*keys)
    hosts = hosts_of(all_keys)
    sites: set[str] = set()
    assets: set[str] = set()
    if model is not None:
        for det in dets:
            for asset in locate_detection(model, det):
                sites.add(asset.site)
                assets.add(asset.id)
        # Machines named only as the source of a logon are ours too; keep their sites.
        for host in hosts:
            found = model.locate_host(host)
            if found is not None:
                sites.add(found.site)
                assets.add(found.id)
    stages: dict[str, Stage] = {}
    for det in dets:
        ts = det.timestamp if det.timestamp is not None else 0.0
        for tactic in tactics_of(det.tags) or [UNKNOWN_TACTIC]:
            stage = stages.get(tactic.key)
            if stage is None:
                stage = stages[tactic.key] = Stage(tactic, ts, ts)
            stage.last_seen = max(stage.last_seen, ts)
            stage.detections.append(det)
    chain = sorted(stages.values(), key=lambda s: (s.tactic.order, s.first_seen))
    worst = max(dets, key=lambda d: (level_rank(d.level), d.timestamp or 0.0))
    first = dets[0].timestamp or 0.0
    last = max(d.timestamp or 0.0 for d in dets)
    where = ", ".join(hosts[:3]) + (f" (+{len(hosts) - 3})" if len(hosts) > 3 else "")
    title = worst.rule_title + (f" on {where}" if where else "")
    return Incident(
        id="",
        title=title,
        severity=worst.level,
        first_seen=first,
        last_seen=last,
        hosts=tuple(hosts),
        sites=tuple(sorted(sites)),
        assets=tuple(sorted(assets)),
        addresses=tuple(addresses_of(all_keys)),
        accounts=tuple(accounts_of(all_keys)),
        timeline=list(dets),
        chain=chain,
    )
