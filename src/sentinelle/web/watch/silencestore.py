"""Sources into the store, and the silence pass that finds what went quiet.

:func:`write_counts` runs in the detector's transaction: each source's events since the last
flush update its rhythm, its ``last_seen`` and its ``late_after`` column; an interval that
closed far below the rhythm raises a *drop* alert. :func:`evaluate_silences` runs every half
minute in the service: one indexed query (``late_after < now``, oldest first, a bounded batch)
finds the sources whose silence became significant, whatever their number, batch after batch.

A silent source first turns ``late`` and settles for :data:`SETTLE_SECONDS`, so that the hosts
of one site that stopped together are found together: three or more sources of one site are
one alert about the site (with the hosts in it), not one alert each; sources that go quiet at
that site while its alert is open join it. When evaluating one source raises, its next
evaluation is pushed forward and saved before the error goes up, so one bad row cannot stop
the pass for the others again and again.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sentinelle.detections import level_rank
from sentinelle.hospital import HospitalModel
from sentinelle.service.ids import group_alert_id
from sentinelle.service.store import outbox, services_of, when
from sentinelle.watch.hook import Pending
from sentinelle.watch.rhythm import SILENT_EXPECTED, Rhythm

SETTLE_SECONDS = 60.0
SITE_MIN_SOURCES = 3
BATCH = 500
PASS_SECONDS = 10.0  # a pass takes batches for at most this long; the next one goes on
SITE_ALERT_OPEN = 6 * 3600.0  # sources going quiet within this of a site's alert join it
LEARNING, OK, LATE, SILENT, LOW, GAP = "learning", "ok", "late", "silent", "low", "gap"


def _dt(ts: float) -> datetime:
    moment = when(ts)
    assert moment is not None
    return moment


def write_counts(
    pending: Pending, model: HospitalModel | None, routes: Iterable[Any] = ()
) -> list[str]:
    """Fold the detector's counts into the sources' rows and the fields seen into the census
    (inside its transaction); the ids of the drop alerts raised."""
    from sentinelle.web.alerts.models import Alert, Notification
    from sentinelle.web.watch.models import SourceRhythm

    if pending.fields:
        write_fields(pending.fields)
    counted = pending.counts
    if not counted:
        return []
    by_key = {k.key: (k, intervals) for k, intervals in counted.items() if intervals}
    keys = list(by_key)
    existing: dict[str, SourceRhythm] = {}
    for i in range(0, len(keys), BATCH):
        for row in SourceRhythm.objects.filter(key__in=keys[i : i + BATCH]):
            existing[row.key] = row
    fresh: list[SourceRhythm] = []
    changed: list[SourceRhythm] = []
    alerts: list[Any] = []
    for text, (key, intervals) in by_key.items():
        received = max(t for _n, t in intervals)
        found = existing.get(text)
        if found is None:
            first = min(t for _n, t in intervals)
            row = SourceRhythm(key=text, kind=key.kind, host=key.host, channel=key.channel,
                               input=key.input[:32], first_seen=_dt(first))  # fmt: skip
            asset = model.locate_host(key.host) if model is not None and key.host else None
            if asset is not None:
                row.site, row.asset = asset.site, asset.id
            fresh.append(row)
        else:
            row = found
            changed.append(row)
        rhythm = Rhythm.from_json(row.rhythm)
        # A drop is judged on an interval followed at once by the next one: one with empty
        # intervals after it ended in silence, which the silence pass speaks of, not this.
        closed = []
        for n, t in intervals:
            got = rhythm.add(t, n)
            if len(got) == 1:
                closed.extend(got)
        last = max(row.last_seen.timestamp() if row.pk else received, received)
        row.last_seen = _dt(last)
        row.events += sum(n for n, _t in intervals)
        drops = [c for c in closed if c.is_drop]
        learned = rhythm.expected(rhythm.bucket or received)[0] is not None
        if drops and row.state != LOW:
            worst = drops[0]  # the first: when it began
            row.state, row.state_since = LOW, _dt(worst.start + rhythm.interval)
            row.reason = (
                f"{worst.count} events in {rhythm.interval / 60:g} min where about"
                f" {worst.expected:.0f} are usual"
            )
            alerts.append(_source_alert(row, model, "drop", worst.start))
            row.alert = alerts[-1].id
        elif not drops:
            if row.state in (SILENT, LATE, LOW):
                row.reason = f"sending again since {row.last_seen:%Y-%m-%d %H:%M} UTC"
            if row.state != GAP:
                row.state = OK if learned else LEARNING
        row.rhythm = rhythm.to_json()
        row.late_after = _dt(rhythm.late_after(last))
    SourceRhythm.objects.bulk_create(fresh, batch_size=BATCH)
    SourceRhythm.objects.bulk_update(
        changed,
        ["rhythm", "events", "last_seen", "late_after", "state", "state_since", "reason", "alert"],
        batch_size=BATCH,
    )
    return _store_alerts(alerts, routes, Alert, Notification)


def write_fields(changes: Mapping[tuple[str, int], tuple[list[str], int, float]]) -> None:
    from django.db.models import F

    from sentinelle.service.store import storable  # field names from events: NUL refused
    from sentinelle.web.watch.models import SeenFields

    for (raw_channel, event_id), (raw_names, count, last) in changes.items():
        channel, names = storable(raw_channel), storable(raw_names)
        row, created = SeenFields.objects.get_or_create(
            channel=channel,
            event_id=event_id,
            defaults={"fields": names, "events": count, "first_seen": _dt(last),
                      "last_seen": _dt(last)},
        )  # fmt: skip
        if created:
            continue
        merged = sorted(set(row.fields) | set(names))[:400]
        SeenFields.objects.filter(pk=row.pk).update(
            fields=merged,
            events=F("events") + count,
            last_seen=_dt(max(last, row.last_seen.timestamp())),
        )


def _store_alerts(
    alerts: Sequence[Any], routes: Iterable[Any], alert: Any, notif: Any
) -> list[str]:
    wanted = {a.id: a for a in alerts}
    have = set(alert.objects.filter(id__in=list(wanted)).values_list("id", flat=True))
    fresh = [a for a in wanted.values() if a.id not in have]
    alert.objects.bulk_create(fresh)
    notif.objects.bulk_create(outbox(fresh, routes), ignore_conflicts=True)
    return [a.id for a in fresh]


def _source_alert(row: Any, model: HospitalModel | None, what: str, start: float) -> Any:
    from sentinelle.web.alerts.models import Alert

    asset = model.assets.get(row.asset) if model is not None and row.asset else None
    services = services_of(model, asset) if model is not None and asset is not None else []
    vital = any(s["criticality"] == "vital" for s in services)
    level = "high" if vital else "medium"
    where = f" at {row.site}" if row.site else ""
    source = f"{row.host} ({row.channel})" if row.channel else row.host
    if what == "drop":
        title = f"Logs from {source}{where} fell far below their rhythm"
    else:
        title = f"Logs stopped from {source}{where}"
    rule_id = f"sentinelle-silence:{what}"
    group = {"source": row.key}
    return Alert(
        id=group_alert_id(rule_id, group, start),
        rule_id=rule_id,
        rule_title=title[:512],
        rule_type="silence",
        level=level,
        level_rank=level_rank(level),
        timestamp=_dt(start),
        host=row.host[:255],
        site=row.site,
        asset=row.asset,
        services=services[:50],
        criticality=services[0]["criticality"] if services else "",
        group=group,
        first_seen=row.last_seen,
        details={"source": row.key, "channel": row.channel, "input": row.input,
                 "reason": row.reason},
    )  # fmt: skip


def _site_alert(site: str, rows: Sequence[Any], model: HospitalModel | None) -> Any:
    from sentinelle.web.alerts.models import Alert

    services: dict[str, dict[str, str]] = {}
    for row in rows:
        asset = model.assets.get(row.asset) if model is not None and row.asset else None
        if model is not None and asset is not None:
            for s in services_of(model, asset):
                services.setdefault(s["id"], s)
    ordered = sorted(services.values(), key=lambda s: s["criticality"] != "vital")
    start = min(r.last_seen.timestamp() for r in rows)
    name = model.sites[site].name if model is not None and site in model.sites else site
    rule_id = "sentinelle-silence:site"
    group = {"site": site}
    return Alert(
        id=group_alert_id(rule_id, group, start),
        rule_id=rule_id,
        rule_title=f"{len(rows)} log sources stopped at {name} ({site})"[:512],
        rule_type="silence",
        level="high",
        level_rank=level_rank("high"),
        timestamp=_dt(start),
        site=site,
        services=ordered[:50],
        criticality=ordered[0]["criticality"] if ordered else "",
        group=group,
        first_seen=_dt(start),
        details={"hosts": sorted({r.host for r in rows})[:200], "sources": len(rows)},
    )


def active_gaps(now: float) -> list[Any]:
    from sentinelle.web.watch.models import KnownGap

    return list(KnownGap.objects.filter(revoked__isnull=True, expires__gt=_dt(now)))


def gap_for(row: Any, gaps: Sequence[Any]) -> Any:
    for gap in gaps:
        match = gap.match.lower()
        if match.startswith("site:") and row.site and match[5:] == row.site:
            return gap
        if match == row.key.lower() or fnmatch.fnmatchcase(row.host, match):
            return gap
    return None


def evaluate_silences(
    model: HospitalModel | None, routes: Iterable[Any] = (), now: float | None = None
) -> list[str]:
    """One pass over the sources whose ``late_after`` has passed; the ids of alerts raised."""
    from django.db import transaction
    from django.db.models import Q

    from sentinelle.web.alerts.models import Alert, Notification
    from sentinelle.web.watch.models import SourceRhythm

    now = time.time() if now is None else now
    gaps = active_gaps(now)
    ready: list[SourceRhythm] = []
    started = time.monotonic()
    after: tuple[datetime, int] | None = None
    while True:  # batches, oldest first, each after the last one seen (keyset)
        query = SourceRhythm.objects.filter(
            late_after__lt=_dt(now), state__in=(LEARNING, OK, LATE, GAP)
        )
        if after is not None:
            query = query.filter(
                Q(late_after__gt=after[0]) | Q(late_after=after[0], pk__gt=after[1])
            )
        due = list(query.order_by("late_after", "pk")[:BATCH])
        if due:
            last = due[-1]
            assert last.late_after is not None
            after = (last.late_after, last.pk)
        for row in due:
            try:
                with transaction.atomic():
                    if _evaluate(row, now, gaps):
                        ready.append(row)
            except Exception:
                # Pushed forward first, so this row cannot stop every pass that follows.
                SourceRhythm.objects.filter(pk=row.pk).update(late_after=_dt(now + 300.0))
                raise
        if len(due) < BATCH or time.monotonic() - started > PASS_SECONDS:
            break
    raised: list[Any] = []
    by_site: dict[str, list[SourceRhythm]] = {}
    for row in ready:
        by_site.setdefault(row.site, []).append(row)
    with transaction.atomic():
        for site, rows in by_site.items():
            open_alert = _open_site_alert(site, now) if site else None
            if open_alert is not None:
                hosts = sorted({*open_alert.details.get("hosts", []), *(r.host for r in rows)})
                count = int(open_alert.details.get("sources", 0)) + len(rows)
                open_alert.details = {**open_alert.details, "hosts": hosts[:200], "sources": count}
                open_alert.save(update_fields=["details"])
                alert_ids = {r.pk: open_alert.id for r in rows}
            elif site and len(rows) + _silent_at(site, now) >= SITE_MIN_SOURCES:
                alert = _site_alert(site, rows, model)
                raised.append(alert)
                alert_ids = {r.pk: alert.id for r in rows}
            else:
                alert_ids = {}
                for row in rows:
                    alert = _source_alert(row, model, "silent", row.last_seen.timestamp())
                    raised.append(alert)
                    alert_ids[row.pk] = alert.id
            for row in rows:
                row.state, row.state_since, row.alert = SILENT, _dt(now), alert_ids[row.pk]
                row.save(update_fields=["state", "state_since", "alert"])
        return _store_alerts(raised, routes, Alert, Notification)


def _evaluate(row: Any, now: float, gaps: Sequence[Any]) -> bool:
    """Look at one due source; True when it is ready to be alerted (it settled as late)."""
    rhythm = Rhythm.from_json(row.rhythm)
    last = row.last_seen.timestamp()
    gap = gap_for(row, gaps)
    if gap is not None:
        row.state, row.reason = GAP, f"known gap until {gap.expires:%Y-%m-%d %H:%M}: {gap.reason}"
        row.late_after = gap.expires + timedelta(seconds=1)
        row.save(update_fields=["state", "reason", "late_after"])
        return False
    if row.state == LATE:
        return bool(now - row.state_since.timestamp() >= SETTLE_SECONDS)
    expected = rhythm.expected_between(last, now)
    if expected is not None and expected >= SILENT_EXPECTED:
        row.state, row.state_since = LATE, _dt(now)
        row.reason = (
            f"silent since {row.last_seen:%Y-%m-%d %H:%M} UTC; about {expected:.0f} events were due"
        )
        row.late_after = _dt(now + SETTLE_SECONDS)
        row.save(update_fields=["state", "state_since", "reason", "late_after"])
        return False
    if row.state == GAP:
        row.state = OK
    following = rhythm.late_after(last)
    row.late_after = _dt(max(following, now + rhythm.interval))
    row.save(update_fields=["state", "late_after"])
    return False


def _open_site_alert(site: str, now: float) -> Any:
    from sentinelle.web.alerts.models import Alert
    from sentinelle.web.watch.models import SourceRhythm

    alert = (
        Alert.objects.filter(
            rule_id="sentinelle-silence:site", site=site, created__gte=_dt(now - SITE_ALERT_OPEN)
        )
        .order_by("-created")
        .first()
    )
    if alert is None or not SourceRhythm.objects.filter(alert=alert.id, state=SILENT).exists():
        return None
    return alert


def _silent_at(site: str, now: float) -> int:
    from sentinelle.web.watch.models import SourceRhythm

    return SourceRhythm.objects.filter(
        site=site, state=SILENT, state_since__gte=_dt(now - SITE_ALERT_OPEN)
    ).count()
