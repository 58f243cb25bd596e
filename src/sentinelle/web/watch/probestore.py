"""Probe results into the store: current states, flips (with their alerts and notifications),
and daily uptime, in one transaction per drain of the :class:`~sentinelle.watch.state.ProbeBook`.

A flip to ``down`` (or ``degraded``), and a recovery from one, is an alert (``rule_type``
"probe") whose id comes from the probe, the new state and the time of the change
(``service.ids.group_alert_id``): storing the same flip again after a crash finds the alert
already there, so the outbox sends it once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from sentinelle.detections import level_rank
from sentinelle.hospital import HospitalModel
from sentinelle.hospital.probes import WAN, ProbeSpec
from sentinelle.service.ids import group_alert_id
from sentinelle.service.store import outbox, when
from sentinelle.watch.outcome import Result, Status
from sentinelle.watch.state import DayTally, Flip

_LEVEL_BY_CRITICALITY = {"vital": "critical", "major": "high", "minor": "medium"}


def flip_level(flip: Flip, model: HospitalModel | None) -> str | None:
    """The alert level of a flip, or None when it raises none (a first ``up``, ``unknown``,
    ``maintenance``)."""
    if flip.new is Status.DOWN:
        component = model.component(flip.component) if model is not None else None
        criticality = str(getattr(component, "criticality", "")) if component else ""
        return _LEVEL_BY_CRITICALITY.get(criticality, "high")
    if flip.new is Status.DEGRADED:
        return "medium"
    if flip.new is Status.UP and flip.old in (Status.DOWN, Status.DEGRADED):
        return "informational"
    return None


def _title(flip: Flip, model: HospitalModel | None) -> str:
    if flip.component == WAN:
        what = f"WAN link of {flip.site}"
    else:
        component = model.component(flip.component) if model is not None else None
        name = component.name if component is not None else flip.component
        what = f"{name} at {flip.site}" if flip.site else name
    if flip.new is Status.UP:
        return f"{what} is back up"
    return f"{what} is {flip.new}"


def _services(flip: Flip, model: HospitalModel | None) -> list[dict[str, str]]:
    if model is None:
        return []
    component = model.component(flip.component)
    if component is None:
        return []
    found = [component, *model.dependents(component.id)]
    return [
        {"id": c.id, "name": c.name, "criticality": str(getattr(c, "criticality", ""))}
        for c in found
        if c.is_service
    ][:50]


def flip_alert(flip: Flip, level: str, model: HospitalModel | None) -> Any:
    from sentinelle.web.alerts.models import Alert

    rule_id = f"sentinelle-probe:{flip.probe}"
    group = {"probe": flip.probe, "state": str(flip.new)}
    services = _services(flip, model)
    return Alert(
        id=group_alert_id(rule_id, group, flip.at),
        rule_id=rule_id[:128],
        rule_title=_title(flip, model)[:512],
        rule_type="probe",
        level=level,
        level_rank=level_rank(level),
        tags=[],
        timestamp=when(flip.at),
        site=flip.site,
        services=services,
        criticality=services[0]["criticality"] if services else "",
        group=group,
        first_seen=when(flip.at),
        details={
            "probe": flip.probe,
            "component": flip.component,
            "old": str(flip.old) if flip.old else "",
            "new": str(flip.new),
            "reason": flip.reason[:1000],
        },
    )


def store_probes(
    specs: Mapping[str, ProbeSpec],
    flips: Sequence[Flip],
    tallies: Mapping[tuple[str, date], DayTally],
    results: Mapping[str, Result],
    states: Mapping[str, tuple[Status | None, float | None, str]],
    model: HospitalModel | None,
    routes: Iterable[Any] = (),
) -> list[str]:
    """Write one drain; returns the ids of the alerts it stored (new ones only).

    ``states`` is each probe's current state, since when, and why (its tracker's view).
    """
    from django.db import transaction
    from django.db.models import F
    from django.utils import timezone

    from sentinelle.web.alerts.models import Alert, Notification
    from sentinelle.web.watch.models import ProbeDay, ProbeFlip, ProbeStatus

    with transaction.atomic():
        for probe_id, result in results.items():
            spec = specs.get(probe_id)
            if spec is None:
                continue
            state, since, reason = states.get(probe_id, (None, None, ""))
            ProbeStatus.objects.update_or_create(
                probe=probe_id,
                defaults={
                    "component": spec.component,
                    "site": spec.site,
                    "kind": str(spec.kind),
                    "target": spec.target[:2048],
                    "state": str(state) if state else "",
                    "since": when(since),
                    "reason": reason,
                    "checked": when(result.checked),
                    "last_status": str(result.status),
                    "last_reason": result.reason,
                    "elapsed_ms": None if result.elapsed is None else result.elapsed * 1000,
                },
            )
        alerts = {}
        rows = []
        for flip in flips:
            level = flip_level(flip, model)
            alert = flip_alert(flip, level, model) if level is not None else None
            if alert is not None:
                alerts[alert.id] = alert
            rows.append(
                ProbeFlip(
                    probe=flip.probe,
                    component=flip.component,
                    site=flip.site,
                    old=str(flip.old) if flip.old else "",
                    new=str(flip.new),
                    at=when(flip.at) or timezone.now(),
                    reason=flip.reason,
                    alert=alert.id if alert is not None else "",
                )
            )
        existing = set(Alert.objects.filter(id__in=list(alerts)).values_list("id", flat=True))
        fresh = [a for a in alerts.values() if a.id not in existing]
        Alert.objects.bulk_create(fresh)
        Notification.objects.bulk_create(outbox(fresh, routes), ignore_conflicts=True)
        stored_flips = set(
            ProbeFlip.objects.filter(alert__in=list(existing)).values_list("alert", flat=True)
        )
        ProbeFlip.objects.bulk_create(r for r in rows if not r.alert or r.alert not in stored_flips)
        for (probe_id, day), tally in tallies.items():
            spec = specs.get(probe_id)
            if spec is None:
                continue
            row, _created = ProbeDay.objects.get_or_create(
                probe=probe_id,
                day=day,
                defaults={"component": spec.component, "site": spec.site},
            )
            ProbeDay.objects.filter(pk=row.pk).update(
                up=F("up") + tally.up,
                degraded=F("degraded") + tally.degraded,
                down=F("down") + tally.down,
                other=F("other") + tally.other,
            )
    return [a.id for a in fresh]
