"""Watching's pages: probes (current states, uptime per day, a probe's history), sources
(their rhythm and state, known gaps) and detection coverage."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from sentinelle.errors import ConfigError
from sentinelle.web.access import ANALYSTS, EVERYONE, access, may
from sentinelle.web.watch.gaps import declare_gap, revoke_gap
from sentinelle.web.watch.models import KnownGap, ProbeDay, ProbeFlip, ProbeStatus, SourceRhythm

UPTIME_DAYS = 14
SOURCE_STATES = ("silent", "late", "low", "gap", "learning", "ok")
MAX_SOURCES = 500
COVERAGE_SECONDS = 300.0


@access(read=EVERYONE)
def probes(request: HttpRequest) -> HttpResponse:
    """Every probe's state, and the uptime of each component at each site per day."""
    rows = list(ProbeStatus.objects.order_by("component", "site", "probe"))
    today = timezone.now().date()
    days = [today - timedelta(days=i) for i in range(UPTIME_DAYS - 1, -1, -1)]
    totals = (
        ProbeDay.objects.filter(day__gte=days[0])
        .values("component", "site", "day")
        .annotate(up=Sum("up"), degraded=Sum("degraded"), down=Sum("down"))
    )
    uptime: dict[tuple[str, str], dict[Any, float | None]] = {}
    for t in totals:
        counted = t["up"] + t["degraded"] + t["down"]
        share = (t["up"] + t["degraded"]) / counted if counted else None
        uptime.setdefault((t["component"], t["site"]), {})[t["day"]] = share
    table = [
        {"component": c, "site": s, "days": [uptime[(c, s)].get(d) for d in days]}
        for (c, s) in sorted(uptime)
    ]
    return render(request, "watch/probes.html", {"rows": rows, "days": days, "uptime": table})


@access(read=EVERYONE)
def probe_history(request: HttpRequest, probe_id: str) -> HttpResponse:
    row = get_object_or_404(ProbeStatus, probe=probe_id)
    flips = ProbeFlip.objects.filter(probe=probe_id).order_by("-at", "-id")[:200]
    days = ProbeDay.objects.filter(probe=probe_id).order_by("-day")[:90]
    return render(request, "watch/probe.html", {"row": row, "flips": flips, "days": days})


@access(read=EVERYONE)
def sources(request: HttpRequest) -> HttpResponse:
    """Sources by state (the silent first), with their rhythm, and the known gaps."""
    state = request.GET.get("state", "")
    rows = SourceRhythm.objects.all()
    if state in SOURCE_STATES:
        rows = rows.filter(state=state)
    order = {s: i for i, s in enumerate(SOURCE_STATES)}
    listed = sorted(
        rows.order_by("-last_seen")[:MAX_SOURCES],
        key=lambda r: (order.get(r.state, 9), -r.last_seen.timestamp()),
    )
    counts = {s: SourceRhythm.objects.filter(state=s).count() for s in SOURCE_STATES}
    now = timezone.now()
    gaps = KnownGap.objects.filter(revoked__isnull=True, expires__gt=now).order_by("expires")
    context = {
        "rows": listed,
        "counts": counts,
        "state": state,
        "states": SOURCE_STATES,
        "gaps": gaps,
        "can_write": may(request, ANALYSTS),
        "more": rows.count() > MAX_SOURCES,
    }
    return render(request, "watch/sources.html", context)


@access(read=ANALYSTS, write=ANALYSTS)
@require_POST
def gap_create(request: HttpRequest) -> HttpResponse:
    try:
        declare_gap(
            request,
            request.POST.get("match", "")[:600],
            request.POST.get("duration", "")[:32],
            request.POST.get("reason", "")[:2100],
        )
    except ConfigError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Known gap declared."))
    return redirect("watch:sources")


@access(read=ANALYSTS, write=ANALYSTS)
@require_POST
def gap_revoke(request: HttpRequest, gap_id: int) -> HttpResponse:
    try:
        revoke_gap(request, gap_id)
    except ConfigError as exc:
        messages.error(request, exc.message)
    return redirect("watch:sources")


_COVERAGE: dict[str, Any] = {}
_COVERAGE_LOCK = threading.Lock()


def _coverage() -> tuple[Any, int]:
    """Coverage of the received events by the service's rules (computed at most every five
    minutes per process: compiling the rules is the slow part, done once)."""
    from sentinelle.engine import load_compiled
    from sentinelle.watch.coverage import assess_coverage
    from sentinelle.web.sources import rule_paths
    from sentinelle.web.watch.models import SeenFields

    with _COVERAGE_LOCK:
        cached = _COVERAGE.get("value")
        if cached is not None and time.monotonic() - cached[0] < COVERAGE_SECONDS:
            return cached[1], cached[2]
        compiled = _COVERAGE.get("compiled")
        if compiled is None:
            compiled = _COVERAGE["compiled"] = load_compiled(rule_paths())
        rows = list(SeenFields.objects.all())
        census = {(r.channel, r.event_id): set(r.fields) for r in rows}
        result = assess_coverage(compiled.plan, census)
        events = sum(r.events for r in rows)
        _COVERAGE["value"] = (time.monotonic(), result, events)
        return result, events


@access(read=EVERYONE)
def coverage(request: HttpRequest) -> HttpResponse:
    result, events = _coverage()
    techniques = result.techniques()
    seen = sorted((t for t in techniques if t.firing), key=lambda t: (-t.firing, t.technique))
    blind = sorted((t for t in techniques if not t.firing), key=lambda t: -t.rules)
    context = {
        "coverage": result,
        "events": events,
        "firing": len(result.firing),
        "total": len(result.rules),
        "seen": seen[:100],
        "blind": blind[:100],
        "suggestions": result.suggestions(20),
    }
    return render(request, "watch/coverage.html", context)
