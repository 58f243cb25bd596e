"""Live incidents: each alert at or above the incident level joins (or opens) an incident, as
the batch grouping (``sentinelle.incidents``) would, and each incident carries its impact.

The grouping decides in memory (:class:`IncidentState`, checkpointed with the detector), then
the slice's incidents are written *once each*, whatever the number of alerts that joined them:
one query reads (and locks) those already stored, one inserts the new ones, one reads their
ids, one updates the others (:func:`store_incidents`). The alerts get their incident before
they are inserted, so no alert row is written twice. Merges (an alert bridging incidents that
were apart) are rare and cost a few queries each (:func:`merge_incidents`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sentinelle.detections import Detection, level_rank
from sentinelle.hospital import HospitalModel, assess
from sentinelle.hospital.impact import compromise_key
from sentinelle.hunt.attack import tactics_of
from sentinelle.incidents.entities import accounts_of, addresses_of, entities_of, hosts_of

MAX_LIST = 200  # hosts, addresses... kept per incident
# What the grouping writes on an incident it extends; the rest (status, owner, summary...)
# belongs to the people working on it and is never overwritten by the detector.
GROWN_FIELDS = (
    "title",
    "severity",
    "severity_rank",
    "first_seen",
    "last_seen",
    "hosts",
    "addresses",
    "accounts",
    "sites",
    "assets",
    "chain",
    "impact",
    "updated",
)


@dataclass(slots=True)
class Assignment:
    """Where one alert goes: the incident it joins (or opens), and the incidents it bridges,
    which are absorbed into that one."""

    key: str
    absorbed: list[str] = field(default_factory=list)


@dataclass(slots=True)
class IncidentState:
    """What the live grouping remembers between slices (checkpointed with the correlator):
    for each entity key, when it was last seen and in which incident (by key), and when each
    live incident was opened.

    As ``sentinelle.incidents`` does in batch, an alert that links incidents that were apart
    (an account seen on one machine's incident, then on another's) merges them: the oldest
    survives, the others are absorbed (union-find, with every reference to an absorbed key
    rewritten at once, so nothing needs the absorbed keys afterwards)."""

    last: dict[str, tuple[float, str]] = field(default_factory=dict)
    clock: float = 0.0
    opened: dict[str, float] = field(default_factory=dict)  # incident key -> its first time

    def assign(
        self,
        det: Detection,
        own_key: str,
        sites: Iterable[str],
        gap: float,
        wave_gap: float,
        entities: frozenset[str] | None = None,
    ) -> Assignment:
        """The incident ``det`` joins (``own_key`` when it opens one), and those it bridges.
        ``entities``: the detection's entity keys, when the caller has them already."""
        ts = det.timestamp if det.timestamp is not None else self.clock
        self.clock = max(self.clock, ts)
        keys = entities_of(det) if entities is None else entities
        links = [(key, gap) for key in sorted(keys)]
        if level_rank(det.level) >= level_rank("high"):
            links += [(f"wave:{det.rule_id}@{site}", wave_gap) for site in sorted(sites) or ["?"]]
        joined: set[str] = set()
        for key, limit in links:
            seen = self.last.get(key)
            if seen is not None and ts - seen[0] <= limit:
                joined.add(seen[1])
        if not joined:
            self.opened[own_key] = ts
            chosen, absorbed = own_key, []
        else:
            # The oldest incident survives (its opening time, then its key: the same on replay).
            order = sorted(joined, key=lambda k: (self.opened.get(k, ts), k))
            chosen, absorbed = order[0], order[1:]
        if absorbed:
            gone = set(absorbed)
            self.last = {
                k: (t, chosen if inc in gone else inc) for k, (t, inc) in self.last.items()
            }
            for key in absorbed:
                self.opened.pop(key, None)
        for key, _limit in links:
            self.last[key] = (ts, chosen)
        return Assignment(chosen, absorbed)

    def prune(self, horizon: float) -> None:
        """Forget entities not seen for longer than any gap, and incidents nothing points at
        any more (bounds the state)."""
        cutoff = self.clock - horizon
        if len(self.last) > 10_000 or cutoff > 0:
            self.last = {k: v for k, v in self.last.items() if v[0] >= cutoff}
            live = {inc for _t, inc in self.last.values()}
            self.opened = {k: v for k, v in self.opened.items() if k in live}


@dataclass(slots=True)
class Member:
    """An alert joining an incident: its row (not stored yet), detection and entity keys."""

    row: Any
    detection: Detection
    entities: frozenset[str]


def group_alerts(
    state: IncidentState, members: Iterable[Member], floor: int, gap: float, wave_gap: float
) -> tuple[dict[str, list[Member]], list[tuple[str, str]]]:
    """The slice's alerts at or above ``floor`` by the incident key they join, and the merges
    decided (absorbed key, survivor key), in order. An incident absorbed within the slice
    hands its members to the survivor, so it is never stored."""
    groups: dict[str, list[Member]] = {}
    merges: list[tuple[str, str]] = []
    for member in members:
        row = member.row
        if row.level_rank < floor:
            continue
        sites = [row.site] if row.site else []
        got = state.assign(member.detection, row.id, sites, gap, wave_gap, member.entities)
        for gone in got.absorbed:
            merges.append((gone, got.key))
            groups.setdefault(got.key, []).extend(groups.pop(gone, []))
        groups.setdefault(got.key, []).append(member)
    return groups, merges


def store_incidents(
    groups: dict[str, list[Member]], merges: Sequence[tuple[str, str]], impacts: ImpactCache
) -> set[str]:
    """Open or extend each incident of ``groups`` once, and set each member row's incident
    (before the rows are inserted). An incident a person (or the grouping) merged hands its
    new alerts to the one it was merged into. Returns which of the incidents ``merges``
    absorbs are stored (the others were opened and absorbed within the slice)."""
    from django.utils import timezone

    from sentinelle.service.bulk import insert_rows, update_rows
    from sentinelle.web.incidents.models import Incident

    absorbed = {gone for gone, _survivor in merges}
    if not groups and not absorbed:
        return set()
    wanted = [*groups, *absorbed]
    found = {i.key: i for i in Incident.objects.select_for_update().filter(key__in=wanted)}
    stored: dict[int, Any] = {}  # pk -> the one instance every group landing there extends
    fresh: list[Any] = []
    targets: dict[str, Any] = {}
    for key, members in groups.items():
        incident = found.get(key)
        if incident is None:
            first = members[0].row
            incident = Incident(key=key, title=first.rule_title + _on(first.host))
            fresh.append(incident)
        else:
            incident = live_incident(incident)
            incident = stored.setdefault(incident.pk, incident)
        targets[key] = incident
        extend(incident, members, impacts)
    now = timezone.now()
    for incident in [*fresh, *stored.values()]:
        incident.updated = now
    if fresh:
        insert_rows(fresh)
        ids = dict(Incident.objects.filter(key__in=[i.key for i in fresh]).values_list("key", "pk"))
        for incident in fresh:
            incident.pk = ids[incident.key]
    update_rows(list(stored.values()), GROWN_FIELDS)
    for key, members in groups.items():
        for member in members:
            member.row.incident_id = targets[key].pk
    return absorbed & set(found)


def _merge(existing: Sequence[str], new: Iterable[str]) -> list[str]:
    from sentinelle.service.store import storable

    out = list(existing)
    for item in map(storable, new):
        if item and item not in out and len(out) < MAX_LIST:
            out.append(item)
    return out


def extend(incident: Any, members: Sequence[Member], impacts: ImpactCache) -> None:
    """Grow ``incident`` (in memory) by ``members``: entities, places, severity, times, its
    ATT&CK chain, and its impact when its compromised hosts changed."""
    alerts = [m.row for m in members]
    keys: set[str] = set().union(*(m.entities for m in members))
    hosts_before = list(incident.hosts)
    incident.hosts = _merge(incident.hosts, hosts_of(keys))
    incident.addresses = _merge(incident.addresses, addresses_of(keys))
    incident.accounts = _merge(incident.accounts, accounts_of(keys))
    incident.sites = _merge(incident.sites, (a.site for a in alerts))
    incident.assets = _merge(incident.assets, (a.asset for a in alerts))
    worst = max(alerts, key=lambda a: a.level_rank)
    if worst.level_rank > incident.severity_rank:
        incident.severity = worst.level
        incident.severity_rank = worst.level_rank
        incident.title = worst.rule_title + _on(worst.host)
    times = [a.timestamp for a in alerts if a.timestamp is not None]
    if times:
        incident.first_seen = min([*times, *([incident.first_seen] if incident.first_seen else [])])
        incident.last_seen = max([*times, *([incident.last_seen] if incident.last_seen else [])])
    chain = {c["tactic"]: c for c in incident.chain}
    for member in members:
        alert = member.row
        stamp = alert.timestamp.isoformat() if alert.timestamp else None
        for tactic in tactics_of(member.detection.tags) or []:
            stage = chain.setdefault(
                tactic.key,
                {"tactic": tactic.key, "name": tactic.name, "order": tactic.order, "rules": []},
            )
            stage["first_seen"] = min(filter(None, [stage.get("first_seen"), stamp]), default=None)
            stage["last_seen"] = max(filter(None, [stage.get("last_seen"), stamp]), default=None)
            stage["rules"] = _merge(stage["rules"], [member.detection.rule_title])
    incident.chain = sorted(chain.values(), key=lambda s: (s["order"], s.get("first_seen") or ""))
    # The impact depends on the compromised hosts alone: assessed again only when they change
    # (an incident growing by alerts on the same machines kept the engine busy for nothing).
    stale = incident.hosts != hosts_before or incident.impact.get("compromised") != incident.hosts
    if incident.hosts and stale:
        impact = impacts.impact(incident.hosts)
        if impact is not None:
            incident.impact = impact


def live_incident(incident: Any) -> Any:
    """The incident itself, or the one it was merged into (by a person or the grouping),
    following the chain: new alerts never land on a merged incident."""
    seen = {incident.pk}
    while incident.merged_into_id is not None and incident.merged_into_id not in seen:
        seen.add(incident.merged_into_id)
        incident = type(incident).objects.select_for_update().get(pk=incident.merged_into_id)
    return incident


def merge_incidents(
    merges: Sequence[tuple[str, str]], stored: set[str], impacts: ImpactCache
) -> int:
    """Apply the live grouping's merges (absorbed key, survivor key), in the order they were
    decided, to the absorbed incidents that are ``stored``; returns how many were absorbed.
    Each absorbed incident goes straight into the last survivor of its chain (a key absorbed,
    then its survivor absorbed in turn)."""
    from sentinelle.web.accounts.audit import record
    from sentinelle.web.incidents.merging import absorb
    from sentinelle.web.incidents.models import Incident, IncidentStatus

    into = dict(merges)

    def final(key: str) -> str:
        seen = {key}
        while key in into and into[key] not in seen:
            key = into[key]
            seen.add(key)
        return key

    done = 0
    for gone, _survivor in merges:
        if gone not in stored:
            continue  # opened and absorbed within the slice: never stored
        absorbed = Incident.objects.select_for_update().filter(key=gone).first()
        if absorbed is None or absorbed.status == IncidentStatus.MERGED:
            continue  # merged by a person already
        target = Incident.objects.select_for_update().filter(key=final(gone)).first()
        if target is None:
            continue
        target = live_incident(target)
        if target.pk == absorbed.pk:
            continue
        moved = absorb(absorbed, target)
        impact = impacts.impact(target.hosts) if target.hosts else None
        if impact is not None:
            target.impact = impact
            target.save(update_fields=["impact"])
        record("detector", "incident.merge", absorbed, after={"into": target.pk, "alerts": moved})
        done += 1
    return done


def _on(host: str) -> str:
    return f" on {host}" if host else ""


class ImpactCache:
    """An incident's impact on services by its compromised hosts, assessed once per set of
    model parts they resolve to (``hospital.compromise_key``), for the life of the model (the
    detector loads it once): alerts keep naming the same machines, an incident grows by
    machines the model does not know, and each assessment runs the whole impact engine.
    Bounded: emptied when full."""

    LIMIT = 4_096

    def __init__(self, model: HospitalModel | None) -> None:
        self.model = model
        self._services: dict[frozenset[tuple[Any, ...]], list[dict[str, Any]]] = {}

    def impact(self, hosts: Sequence[str]) -> dict[str, Any] | None:
        """``{"computed", "compromised", "services"}``; None without a model."""
        if self.model is None:
            return None
        key = compromise_key(self.model, hosts)
        services = self._services.get(key)
        if services is None:
            services = impact_of(self.model, hosts)["services"]
            if len(self._services) >= self.LIMIT:
                self._services.clear()
            self._services[key] = services
        return {"computed": time.time(), "compromised": list(hosts), "services": services}


def impact_of(model: HospitalModel, hosts: Sequence[str]) -> dict[str, Any]:
    """The services and sites affected if ``hosts`` are compromised (``sentinelle impact``)."""
    report = assess(model, compromised=list(hosts))
    affected = [
        {
            "site": e.site,
            "component": e.component,
            "name": e.name,
            "criticality": e.criticality or "",
            "state": str(e.state),
            "at_risk": e.at_risk,
        }
        for e in report.entries
        if str(e.state) != "operational" or e.at_risk
    ]
    return {"computed": time.time(), "compromised": list(hosts), "services": affected[:500]}
