"""Detections into the store: alert rows enriched from the hospital model, suppressions and
the notification outbox (live incidents: ``service.grouping``).

Everything the detector writes for a slice of the journal is written in one transaction with
the position that slice ends at (``Checkpoint``), so after a crash the detector resumes exactly
there. Alert ids are deterministic (``service.ids``): a slice matched again finds its alerts
already stored and adds nothing, so a replay never makes a second alert, a second incident or a
second message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sentinelle.detections import Detection, level_rank
from sentinelle.events import Event
from sentinelle.hospital import HospitalModel, assets_for_detection
from sentinelle.hospital.locate import victim_names
from sentinelle.incidents.entities import accounts_of, entities_of
from sentinelle.service import grouping
from sentinelle.service.ids import alert_id, group_alert_id

MAX_VALUE_CHARS = 8_192  # an event field longer than this is cut in the stored alert
MAX_EVENT_FIELDS = 512
STORED_IDS_CHUNK = 5_000  # ids per query when looking for alerts already stored
# Checkpoints pickled before the live grouping had its own module name its state here.
IncidentState = grouping.IncidentState


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
    """An event's fields as an alert stores them: at most ``MAX_EVENT_FIELDS`` fields, values
    cut at ``MAX_VALUE_CHARS``, what is not a plain value as text, all of it storable. In one
    pass (this runs on every alert; text that is plain ASCII without NUL is kept as it is)."""
    out: dict[str, Any] = {}
    for i, (key, value) in enumerate(fields.items()):
        if i >= MAX_EVENT_FIELDS:
            out["_truncated_fields"] = len(fields) - MAX_EVENT_FIELDS
            break
        kept = value
        if isinstance(value, str):
            if len(value) > MAX_VALUE_CHARS:
                kept = value[:MAX_VALUE_CHARS] + "…"
            if "\x00" in kept or not kept.isascii():
                kept = storable(kept)
        elif not isinstance(value, str | int | float | bool) and value is not None:
            kept = storable(str(value)[:MAX_VALUE_CHARS])
        name = key if isinstance(key, str) and len(key) <= 256 else str(key)[:256]
        if "\x00" in name or not name.isascii():
            name = storable(name)
        out[name] = kept
    return out


@dataclass(slots=True)
class Placement:
    """Where a detection happened, from the hospital model."""

    site: str = ""
    zone: str = ""
    asset: str = ""
    services: list[dict[str, str]] = field(default_factory=list)
    criticality: str = ""


_CRITICALITY_ORDER = {"vital": 4, "critical": 4, "major": 3, "important": 3, "minor": 1}


def _placement(model: HospitalModel, names: Sequence[str | None]) -> Placement:
    assets = assets_for_detection(model, *names)
    if not assets:
        return Placement()
    asset = assets[0]
    ordered = services_of(model, asset)
    top = ordered[0]["criticality"] if ordered else ""
    return Placement(asset.site, asset.zone, asset.id, ordered, top)


class Places:
    """Where a detection is (site, zone, asset, services), remembered for the life of the
    model (the detector loads it once) by the names a detection gives for its machine: a
    stream of alerts names the same machines again and again, and each answer walks the
    model's hosts and its dependency graph. Placements are shared between alerts and never
    changed. Bounded: emptied when full."""

    LIMIT = 20_000

    def __init__(self, model: HospitalModel | None) -> None:
        self.model = model
        self._known: dict[tuple[str | None, ...], Placement] = {}

    def __call__(self, det: Detection) -> Placement:
        if self.model is None:
            return Placement()
        names = tuple(victim_names(det))
        got = self._known.get(names)
        if got is None:
            got = _placement(self.model, names)
            if len(self._known) >= self.LIMIT:
                self._known.clear()
            self._known[names] = got
        return got


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


def identify(det: Detection, event_ids: Callable[[int], str | None]) -> str:
    """The alert's deterministic id: its rule and event, or its rule, group and window."""
    if det.rule_type == "detection" and det.event is not None:
        return alert_id(det.rule_id, event_ids(det.event.record) or det.event.ref)
    start = det.first_seen if det.first_seen is not None else det.timestamp
    return group_alert_id(det.rule_id, det.group, start)


def alert_row(
    new: NewAlert,
    places: Places,
    entities: frozenset[str] | None = None,
    created: datetime | None = None,
) -> Any:
    """The alert's row (not saved); ``entities``: the detection's entity keys, when the
    caller has them already; ``created``: when it is stored (now, by default)."""
    from django.utils import timezone

    from sentinelle.web.alerts.models import Alert

    det = new.detection
    where = places(det)
    event: Event | None = det.event
    accounts = accounts_of(entities_of(det) if entities is None else entities)
    return Alert(
        id=new.id,
        rule_id=det.rule_id[:128],
        rule_title=storable(det.rule_title[:512]),
        rule_type=det.rule_type[:16],
        level=det.level[:16],
        level_rank=level_rank(det.level),
        tags=storable(list(det.tags)),
        timestamp=when(det.timestamp),
        created=created or timezone.now(),
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


def stored_ids(ids: Sequence[str]) -> set[str]:
    """Those of ``ids`` whose alert is already stored (a replay, an event sent twice)."""
    from sentinelle.web.alerts.models import Alert

    found: set[str] = set()
    for i in range(0, len(ids), STORED_IDS_CHUNK):
        chunk = ids[i : i + STORED_IDS_CHUNK]
        found.update(Alert.objects.filter(id__in=chunk).values_list("id", flat=True))
    return found


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
