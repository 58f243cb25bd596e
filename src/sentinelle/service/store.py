"""Detections into the store: alert rows enriched from the hospital model, live incidents,
suppressions, the notification outbox, and the detector's checkpoint, in one transaction.

Everything the detector writes for a slice of the journal is written with the position that
slice ends at (``Checkpoint``), so after a crash the detector resumes exactly there. Alert ids
are deterministic (``service.ids``): a slice matched again finds its alerts already stored and
adds nothing, so a replay never makes a second alert, a second incident or a second message.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sentinelle.detections import Detection, level_rank
from sentinelle.events import Event
from sentinelle.hospital import HospitalModel, assess, locate_detection
from sentinelle.hunt.attack import tactics_of
from sentinelle.incidents.entities import accounts_of, addresses_of, entities_of, hosts_of
from sentinelle.service.ids import alert_id, group_alert_id

MAX_VALUE_CHARS = 8_192  # an event field longer than this is cut in the stored alert
MAX_EVENT_FIELDS = 512
MAX_LIST = 200  # hosts, addresses... kept per incident


def when(ts: float | None) -> datetime | None:
    if ts is None:
        return None
    try:
        return datetime.fromtimestamp(ts, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def storable(value: Any) -> Any:
    """Text any database keeps: PostgreSQL refuses NUL in text and JSON (the whole slice's
    transaction would fail, and fail again at every restart), and UTF-8 has no lone
    surrogates. NUL becomes U+2400 (a visible NUL sign), a lone surrogate U+FFFD."""
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "\u2400")
        if not value.isascii():
            value = value.encode("utf-8", "replace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value


def capped_fields(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, (key, value) in enumerate(fields.items()):
        if i >= MAX_EVENT_FIELDS:
            out["_truncated_fields"] = len(fields) - MAX_EVENT_FIELDS
            break
        kept = value
        if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
            kept = value[:MAX_VALUE_CHARS] + "…"
        elif not isinstance(value, str | int | float | bool) and value is not None:
            kept = str(value)[:MAX_VALUE_CHARS]
        out[str(key)[:256]] = kept
    return storable(out)  # type: ignore[no-any-return]


@dataclass(slots=True)
class Placement:
    """Where a detection happened, from the hospital model."""

    site: str = ""
    zone: str = ""
    asset: str = ""
    services: list[dict[str, str]] = field(default_factory=list)
    criticality: str = ""


_CRITICALITY_ORDER = {"vital": 4, "critical": 4, "major": 3, "important": 3, "minor": 1}


def place(model: HospitalModel | None, det: Detection) -> Placement:
    """The site, zone and asset a detection is about, and the services that depend on it."""
    if model is None:
        return Placement()
    assets = locate_detection(model, det)
    if not assets:
        return Placement()
    asset = assets[0]
    ordered = services_of(model, asset)
    top = ordered[0]["criticality"] if ordered else ""
    return Placement(asset.site, asset.zone, asset.id, ordered, top)


def services_of(model: HospitalModel, asset: Any) -> list[dict[str, str]]:
    """The services an asset carries and those depending on them (transitively), the most
    critical first."""
    services: dict[str, dict[str, str]] = {}
    todo = list(asset.carries)
    seen: set[str] = set()
    while todo and len(seen) < 200:  # what it carries, and what depends on that, transitively
        cid = todo.pop()
        if cid in seen:
            continue
        seen.add(cid)
        component = model.component(cid)
        if component is None:
            continue
        if component.is_service:
            crit = str(getattr(component, "criticality", ""))
            services[cid] = {"id": cid, "name": component.name, "criticality": crit}
        todo.extend(c.id for c in model.dependents(cid))
    return sorted(services.values(), key=lambda s: (-_crit_rank(s["criticality"]), s["id"]))


def _crit_rank(name: str) -> int:
    return _CRITICALITY_ORDER.get(name.lower(), 2 if name else 0)


@dataclass(slots=True)
class NewAlert:
    """A detection ready to be stored, with its id and where it came from."""

    id: str
    detection: Detection
    event_id: str = ""
    input: str = ""
    source: str = ""


def identify(det: Detection, event_ids: dict[int, str]) -> str:
    """The alert's deterministic id: its rule and event, or its rule, group and window."""
    if det.rule_type == "detection" and det.event is not None:
        return alert_id(det.rule_id, event_ids.get(det.event.record, det.event.ref))
    start = det.first_seen if det.first_seen is not None else det.timestamp
    return group_alert_id(det.rule_id, det.group, start)


def alert_row(new: NewAlert, model: HospitalModel | None) -> Any:
    from sentinelle.web.alerts.models import Alert

    det = new.detection
    where = place(model, det)
    event: Event | None = det.event
    keys = entities_of(det)
    accounts = accounts_of(keys)
    return Alert(
        id=new.id,
        rule_id=det.rule_id[:128],
        rule_title=storable(det.rule_title[:512]),
        rule_type=det.rule_type[:16],
        level=det.level[:16],
        level_rank=level_rank(det.level),
        tags=storable(list(det.tags)),
        timestamp=when(det.timestamp),
        event_id=new.event_id,
        event=capped_fields(event.fields) if event is not None else {},
        source=storable(new.source[:1024]),
        input=new.input[:32],
        host=storable((det.computer or "")[:255]),
        account=storable((accounts[0] if accounts else "")[:255]),
        site=where.site,
        zone=where.zone,
        asset=where.asset,
        services=where.services,
        criticality=where.criticality,
        group=storable({str(k): str(v)[:1024] for k, v in det.group.items()}),
        first_seen=when(det.first_seen),
        last_seen=when(det.last_seen),
        value=det.value,
        events=storable([e.ref for e in det.events[:50]]),
        details=storable(
            {
                str(k): (v if isinstance(v, str | int | float | bool) else str(v))
                for k, v in det.details.items()
            }
        ),
    )


def outbox(rows: Iterable[Any], routes: Iterable[Any]) -> list[Any]:
    """The notifications to send for stored alert rows: one per (alert, route) whose level and
    sites let it through (the detector's alerts, the probes' and the silent sources' alike)."""
    from sentinelle.web.alerts.models import Notification

    listed = list(routes)
    out = []
    for row in rows:
        for route in listed:
            if row.level_rank < level_rank(route.min_level):
                continue
            if route.sites and row.site not in route.sites:
                continue
            out.append(Notification(alert_id=row.id, route=route.name))
    return out


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


# -- suppressions ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActiveSuppression:
    id: int
    rule_id: str
    host: str
    field: str
    value: str

    def covers(self, det: Detection) -> bool:
        if self.rule_id and self.rule_id != det.rule_id:
            return False
        if self.host and self.host.lower() != (det.computer or "").lower():
            return False
        if self.field:
            ev = det.event if det.event is not None else (det.events[0] if det.events else None)
            got = ev.fields.get(self.field) if ev is not None else det.group.get(self.field)
            if got is None or str(got) != self.value:
                return False
        return True


def active_suppressions() -> list[ActiveSuppression]:
    from django.db.models import Q
    from django.utils import timezone

    from sentinelle.web.alerts.models import Suppression

    now = timezone.now()
    rows = Suppression.objects.filter(revoked__isnull=True).filter(
        Q(expires__isnull=True) | Q(expires__gt=now)
    )
    return [ActiveSuppression(s.pk, s.rule_id, s.host, s.field, s.value) for s in rows]


# -- live incidents --------------------------------------------------------------------------


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
    ) -> Assignment:
        """The incident ``det`` joins (``own_key`` when it opens one), and those it bridges."""
        ts = det.timestamp if det.timestamp is not None else self.clock
        self.clock = max(self.clock, ts)
        links = [(key, gap) for key in sorted(entities_of(det))]
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


def _merge(existing: Sequence[str], new: Iterable[str]) -> list[str]:
    out = list(existing)
    for item in map(storable, new):
        if item and item not in out and len(out) < MAX_LIST:
            out.append(item)
    return out


def update_incident(
    key: str, alerts: Sequence[Any], model: HospitalModel | None, dets: Sequence[Detection]
) -> Any:
    """Create or extend the incident ``key`` with ``alerts`` (stored rows) and recompute its
    current impact on services."""
    from django.utils import timezone

    from sentinelle.web.incidents.models import Incident

    incident, _created = Incident.objects.get_or_create(
        key=key, defaults={"title": alerts[0].rule_title + _on(alerts[0].host)}
    )
    incident = live_incident(incident)
    keys: set[str] = set().union(*(entities_of(d) for d in dets))
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
    for det, alert in zip(dets, alerts, strict=True):
        stamp = alert.timestamp.isoformat() if alert.timestamp else None
        for tactic in tactics_of(det.tags) or []:
            stage = chain.setdefault(
                tactic.key,
                {"tactic": tactic.key, "name": tactic.name, "order": tactic.order, "rules": []},
            )
            stage["first_seen"] = min(filter(None, [stage.get("first_seen"), stamp]), default=None)
            stage["last_seen"] = max(filter(None, [stage.get("last_seen"), stamp]), default=None)
            stage["rules"] = _merge(stage["rules"], [det.rule_title])
    incident.chain = sorted(chain.values(), key=lambda s: (s["order"], s.get("first_seen") or ""))
    # The impact depends on the compromised hosts alone: assessed again only when they change
    # (an incident growing by alerts on the same machines kept the engine busy for nothing).
    stale = incident.hosts != hosts_before or incident.impact.get("compromised") != incident.hosts
    if model is not None and incident.hosts and stale:
        incident.impact = impact_of(model, incident.hosts)
    incident.updated = timezone.now()
    incident.save()
    return incident


def live_incident(incident: Any) -> Any:
    """The incident itself, or the one it was merged into (by a person or the grouping),
    following the chain: new alerts never land on a merged incident."""
    seen = {incident.pk}
    while incident.merged_into_id is not None and incident.merged_into_id not in seen:
        seen.add(incident.merged_into_id)
        incident = type(incident).objects.select_for_update().get(pk=incident.merged_into_id)
    return incident


def merge_incidents(merges: Sequence[tuple[str, str]], model: HospitalModel | None) -> int:
    """Apply the live grouping's merges (absorbed key, survivor key), in the order they were
    decided; returns how many incidents were absorbed. Each absorbed incident goes straight
    into the last survivor of its chain (a key absorbed, then its survivor absorbed in turn)."""
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
        absorbed = Incident.objects.select_for_update().filter(key=gone).first()
        if absorbed is None or absorbed.status == IncidentStatus.MERGED:
            continue  # opened and absorbed in the same slice, or merged by a person already
        target = Incident.objects.select_for_update().filter(key=final(gone)).first()
        if target is None:
            continue
        target = live_incident(target)
        if target.pk == absorbed.pk:
            continue
        moved = absorb(absorbed, target)
        if model is not None and target.hosts:
            target.impact = impact_of(model, target.hosts)
            target.save(update_fields=["impact"])
        record("detector", "incident.merge", absorbed, after={"into": target.pk, "alerts": moved})
        done += 1
    return done


def _on(host: str) -> str:
    return f" on {host}" if host else ""


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
