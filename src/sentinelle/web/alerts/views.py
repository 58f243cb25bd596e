"""The analysts' alert pages: the triage list (live), an alert's page, triage actions (one
alert or many), and suppressions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson
from asgiref.sync import sync_to_async
from django.contrib import messages
from django.db import transaction
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from sentinelle.hunt.attack import tactics_of, techniques_of
from sentinelle.web.access import ANALYSTS, EVERYONE, access, may, person
from sentinelle.web.accounts.audit import record, revoke
from sentinelle.web.alerts.forms import MAX_BULK, ActionForm, SuppressionForm, TriageAction
from sentinelle.web.alerts.live import FEED, LiveAlert, render_rows
from sentinelle.web.alerts.models import Alert, AlertStatus, Suppression
from sentinelle.web.alerts.triage import PAGE_SIZE, AlertFilterForm, AlertQuery
from sentinelle.web.forms import form_errors
from sentinelle.web.incidents.models import Incident
from sentinelle.web.incidents.summary import refresh
from sentinelle.web.live import Message, language, stream
from sentinelle.web.paging import BadCursor, keyset_page
from sentinelle.web.sources import hospital_model, rule_index, technique_url

RELATED = 20
CATCH_UP = timedelta(minutes=10)


def _can_triage(request: HttpRequest) -> bool:
    return may(request, ANALYSTS)


@access(read=EVERYONE)
def alert_list(request: HttpRequest) -> HttpResponseBase:
    form = AlertFilterForm(request.GET or None)
    query = AlertQuery.from_form(form)
    try:
        page = keyset_page(
            query.queryset(), query.keys, request.GET.get("cursor"), PAGE_SIZE, query.params()
        )
    except BadCursor:
        messages.error(request, _("That page link is not valid any more; back to the first page."))
        return redirect(f"{request.path}?{urlencode(query.params())}")
    live_url = ""
    if not page.is_later and query.sort == "-created":
        newest = page.items[0].created if page.items else timezone.now()
        live_url = (
            reverse("alerts:stream")
            + "?"
            + urlencode({**query.params(), "after": newest.isoformat()})
        )
    context = {
        "form": form,
        "query": query,
        "params": query.params(),
        "page": page,
        "facets": query.facets(),
        "live_url": live_url,
        "can_triage": _can_triage(request),
        "action_form": ActionForm() if _can_triage(request) else None,
        "next": request.get_full_path(),
    }
    return render(request, "alerts/list.html", context)


def _catch_up(query: AlertQuery, after: datetime | None, language: str) -> list[Message]:
    """Rows stored after the page was drawn and before its stream opened."""
    if after is None or after < timezone.now() - CATCH_UP:
        return []
    rows = list(query.queryset().filter(created__gt=after).order_by("-created", "-id")[:PAGE_SIZE])
    return [Message("row", item.html[language]) for item in render_rows(rows[::-1])]


@access(read=EVERYONE)
async def alert_stream(request: HttpRequest) -> StreamingHttpResponse:
    """New alerts matching the list's filters, as server-sent events (rows of the list)."""
    query = AlertQuery.from_form(AlertFilterForm(request.GET or None))
    code = language()
    try:
        after: datetime | None = datetime.fromisoformat(request.GET.get("after", ""))
    except ValueError:
        after = None
    if after is not None and after.tzinfo is None:
        after = None
    queue = FEED.subscribe()
    first = await sync_to_async(_catch_up, thread_sensitive=False)(query, after, code)

    def render_batch(batch: Any) -> list[Message]:
        items: list[LiveAlert] = list(batch)
        return [Message("row", a.html[code]) for a in items if query.matches(a.fields)]

    return stream(FEED, queue, render_batch, first)


def _event_fields(event: Any) -> list[tuple[str, Any]]:
    if not isinstance(event, dict):
        return []
    return sorted(((str(k), v) for k, v in event.items()), key=lambda kv: kv[0].lower())


@access(read=EVERYONE)
def alert_detail(request: HttpRequest, alert_id: str) -> HttpResponse:
    alert = get_object_or_404(Alert.objects.select_related("assignee", "incident"), pk=alert_id)
    tags = [t for t in alert.tags if isinstance(t, str)] if isinstance(alert.tags, list) else []
    rule = rule_index().find(alert.rule_id)
    model = hospital_model()
    asset = model.assets.get(alert.asset) if alert.asset else None
    related_filter = None
    if alert.host:
        related_filter = Alert.objects.filter(host=alert.host)
    if alert.account:
        by_account = Alert.objects.filter(account=alert.account)
        related_filter = by_account if related_filter is None else related_filter | by_account
    related = (
        list(related_filter.exclude(pk=alert.pk).order_by("-created", "-id")[:RELATED])
        if related_filter is not None
        else []
    )
    context = {
        "alert": alert,
        "fields": _event_fields(alert.event),
        "rule": rule,
        "tactics": tactics_of(tags),
        "techniques": [(t.upper(), technique_url(t)) for t in techniques_of(tags)],
        "asset": asset,
        "site": model.sites.get(alert.site) if alert.site else None,
        "zone": model.zones.get(alert.zone) if alert.zone else None,
        "services": alert.services if isinstance(alert.services, list) else [],
        "related": related,
        "can_triage": _can_triage(request),
        "action_form": ActionForm() if _can_triage(request) else None,
        "next": request.get_full_path(),
    }
    return render(request, "alerts/detail.html", context)


@access(read=EVERYONE)
def alert_event(request: HttpRequest, alert_id: str) -> HttpResponse:
    """The alert's event and provenance as JSON, whole (the page cuts long values)."""
    alert = get_object_or_404(Alert, pk=alert_id)
    data = {
        "id": alert.id,
        "rule_id": alert.rule_id,
        "event_id": alert.event_id,
        "source": alert.source,
        "input": alert.input,
        "event": alert.event,
        "group": alert.group,
        "events": alert.events,
    }
    response = HttpResponse(
        orjson.dumps(data, option=orjson.OPT_INDENT_2), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="alert-{alert.id}.json"'
    return response


def _triage_state(alert: Alert) -> dict[str, Any]:
    return {
        "status": alert.status,
        "status_reason": alert.status_reason,
        "assignee": alert.assignee.username if alert.assignee else None,
        "incident": alert.incident_id,
    }


def _back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return HttpResponseRedirect(target)
    return HttpResponseRedirect(default)


@access(read=ANALYSTS, write=ANALYSTS)
@require_POST
def alert_action(request: HttpRequest) -> HttpResponse:
    """Apply one triage action to the alerts ticked (or the one alert of its page)."""
    ids = list(dict.fromkeys(request.POST.getlist("alert")))[: MAX_BULK + 1]
    if not ids:
        messages.error(request, _("Tick at least one alert."))
        return _back(request, reverse("alerts:list"))
    if len(ids) > MAX_BULK:
        messages.error(request, _("At most %(n)d alerts at once.") % {"n": MAX_BULK})
        return _back(request, reverse("alerts:list"))
    form = ActionForm(request.POST)
    if not form.is_valid():
        form_errors(request, form)
        return _back(request, reverse("alerts:list"))
    data = form.cleaned_data
    action = data["action"]
    now = timezone.now()
    with transaction.atomic():
        alerts = list(
            Alert.objects.select_for_update(of=("self",))
            .select_related("assignee")
            .filter(pk__in=ids)
        )
        if not alerts:
            messages.error(request, _("No such alert."))
            return _back(request, reverse("alerts:list"))
        incident: Incident | None = data.get("incident")
        touched: set[int] = set()
        if action == TriageAction.OPEN_INCIDENT:
            first = min(alerts, key=lambda a: (a.timestamp or a.created, a.id))
            title = (data.get("title") or "").strip() or first.rule_title
            incident = Incident.objects.create(title=title[:512], origin="manual", opened=now)
            record(request, "incident.create", incident, after={"title": incident.title})
        for alert in alerts:
            before = _triage_state(alert)
            if action == TriageAction.ACKNOWLEDGE:
                alert.status = AlertStatus.ACKNOWLEDGED
            elif action == TriageAction.RESOLVE:
                alert.status = AlertStatus.RESOLVED
            elif action == TriageAction.REOPEN:
                alert.status, alert.status_reason = AlertStatus.NEW, ""
            elif action == TriageAction.FALSE_POSITIVE:
                alert.status = AlertStatus.FALSE_POSITIVE
                alert.status_reason = data["reason"].strip()
            elif action == TriageAction.ASSIGN:
                alert.assignee = data.get("assignee")
            elif incident is not None:  # attach, open_incident
                if alert.incident_id is not None:
                    touched.add(alert.incident_id)
                alert.incident = incident
            if before.get("status") != alert.status:
                alert.status_changed = now
            after = _triage_state(alert)
            if after != before:
                alert.save(
                    update_fields=[
                        "status",
                        "status_reason",
                        "status_changed",
                        "assignee",
                        "incident",
                    ]
                )
                record(request, f"alert.{action}", alert, before=before, after=after)
        if incident is not None:
            refresh(incident)
            for other in Incident.objects.filter(pk__in=touched - {incident.pk}):
                refresh(other)
    if action == TriageAction.OPEN_INCIDENT and incident is not None:
        messages.success(request, _("Incident #%(id)d opened.") % {"id": incident.pk})
        return redirect("incidents:detail", incident_id=incident.pk)
    messages.success(request, _("%(n)d alert(s) updated.") % {"n": len(alerts)})
    return _back(request, reverse("alerts:list"))


# -- suppressions ---------------------------------------------------------------------------


def suppression_state(row: Suppression) -> dict[str, Any]:
    return {
        "rule_id": row.rule_id,
        "host": row.host,
        "field": row.field,
        "value": row.value,
        "reason": row.reason,
        "expires": row.expires.isoformat() if row.expires else None,
        "revoked": row.revoked.isoformat() if row.revoked else None,
    }


@access(read=EVERYONE)
def suppressions(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    rows = Suppression.objects.select_related("author", "revoked_by").order_by("-created")
    active = [r for r in rows.filter(revoked__isnull=True) if r.is_active(now)]
    past = list(rows.exclude(pk__in=[r.pk for r in active])[:200])
    context = {"active": active, "past": past, "can_triage": _can_triage(request)}
    return render(request, "alerts/suppressions.html", context)


@access(read=ANALYSTS, write=ANALYSTS)
@require_http_methods(["GET", "POST"])
def suppression_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = SuppressionForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            author = person(request)
            with transaction.atomic():
                row = Suppression.objects.create(
                    rule_id=data["rule_id"],
                    host=data["host"],
                    field=data["field"],
                    value=data["value"],
                    reason=data["reason"].strip(),
                    author=author,
                    expires=form.expires(),
                )
                record(request, "suppression.create", row, after=suppression_state(row))
            messages.success(request, _("Suppression added."))
            return redirect("alerts:suppressions")
    else:
        initial = {k: request.GET.get(k, "")[:1024] for k in ("rule_id", "host", "field", "value")}
        form = SuppressionForm(initial={**initial, "duration": "24h"})
    return render(request, "alerts/suppression_form.html", {"form": form})


@access(read=ANALYSTS, write=ANALYSTS)
@require_POST
def suppression_revoke(request: HttpRequest, suppression_id: int) -> HttpResponse:
    revoked = revoke(
        request, Suppression.objects.all(), suppression_id, "suppression.revoke",
        suppression_state, revoked_by=person(request),
    )  # fmt: skip
    if revoked is not None:
        messages.success(request, _("Suppression revoked."))
    return redirect("alerts:suppressions")
