"""Significance and the regulatory clocks: declaring an incident significant (the crisis cell
only; recorded in the log and the audit trail), the clocks it starts, their drafts (complete,
print, export, mark sent) and the establishment's settings of which clocks apply."""

from __future__ import annotations

from typing import Any

import orjson
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from sentinelle.web.access import ADMINS, CRISIS_CELL, EVERYONE, access, person
from sentinelle.web.accounts.audit import record
from sentinelle.web.crisis import board as board_state
from sentinelle.web.crisis import chain, clocks, documents
from sentinelle.web.crisis.forms import (
    ClockDraftForm,
    ClockRulesForm,
    ClockSentForm,
    SignificanceForm,
)
from sentinelle.web.crisis.models import Clock, ClockRule, EntryKind, ServiceStatus
from sentinelle.web.crisis.views.common import in_cell
from sentinelle.web.forms import form_errors
from sentinelle.web.incidents.models import Incident
from sentinelle.web.sources import hospital_model


def _clock_state(clock: Clock) -> dict[str, Any]:
    return {
        "incident": clock.incident_id,
        "kind": clock.kind,
        "started": clock.started.isoformat(),
        "due": clock.due.isoformat(),
        "sent": clock.sent.isoformat() if clock.sent else None,
        "sent_by": clock.sent_by.username if clock.sent_by else None,
        "sent_how": clock.sent_how,
        "sent_reference": clock.sent_reference,
    }


@access(read=EVERYONE)
def clock_list(request: HttpRequest) -> HttpResponse:
    rows = Clock.objects.select_related("incident", "sent_by")
    context = {
        "running": rows.filter(sent__isnull=True).order_by("due", "id"),
        "sent": rows.filter(sent__isnull=False).order_by("-sent", "-id")[:200],
        "significant": Incident.objects.filter(significant_at__isnull=False)
        .select_related("significant_by")
        .order_by("-significant_at")[:100],
        "now": timezone.now(),
        "kinds": clocks.KINDS,
        "can_write": in_cell(request),
        "candidates": Incident.objects.filter(
            significant_at__isnull=True, status__in=board_state.LIVE_INCIDENTS
        ).order_by("-severity_rank", "-id")[:30],
    }
    return render(request, "crisis/clocks.html", context)


@access(read=CRISIS_CELL, write=CRISIS_CELL)
@require_http_methods(["GET", "POST"])
def significance(request: HttpRequest, incident_id: int) -> HttpResponse:
    """Declare an incident significant: its clocks start now, the log records who and why."""
    incident = get_object_or_404(Incident, pk=incident_id)
    rules = clocks.rules()
    form = SignificanceForm(rules, request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            started = _declare_significant(request, incident_id, rules, form.cleaned_data)
            if started is None:
                messages.error(request, _("This incident was declared significant already."))
            else:
                messages.success(
                    request,
                    _("Incident declared significant; %(n)d clock(s) started.") % {"n": started},
                )
            return redirect("crisis:clocks")
        form_errors(request, form)
    return render(request, "crisis/significance.html", {"incident": incident, "form": form})


def _declare_significant(
    request: HttpRequest, incident_id: int, rules: dict[str, dict[str, Any]], data: dict[str, Any]
) -> int | None:
    who = person(request)
    model = hospital_model()
    with transaction.atomic():
        incident = get_object_or_404(
            Incident.objects.select_for_update(of=("self",)), pk=incident_id
        )
        if incident.significant_at is not None:
            return None
        now = timezone.now()
        incident.significant_at, incident.significant_by = now, who
        incident.updated = now
        incident.save(update_fields=["significant_at", "significant_by", "updated"])
        record(
            request,
            "incident.significant",
            incident,
            before={"significant_at": None},
            after={"significant_at": now.isoformat(), "reason": data["reason"]},
        )
        revision = board_state.next_revision()
        board_rows = list(ServiceStatus.objects.all())
        draft = clocks.prefill(incident, model, board_rows)
        wanted = [k for k in clocks.KINDS if k in data["clocks"]]
        sent: dict[str, Any] = {}
        for key in wanted:
            kind, rule = clocks.KINDS[key], rules[key]
            clock = Clock.objects.create(
                incident=incident,
                kind=key,
                started=now,
                due=clocks.due_of(kind, now, sent),
                authority=rule["authority"],
                channel=rule["channel"],
                draft=draft,
                revision=revision,
            )
            record(request, "clock.start", clock, after=_clock_state(clock))
        titles = ", ".join(str(clocks.KINDS[k].title) for k in wanted) or "none"
        chain.append(
            who,
            EntryKind.DECISION,
            f"Incident #{incident.pk} ({incident.title}) declared significant: {data['reason']}"
            f"\nClocks started: {titles}",
            incidents=[incident.pk],
            actor=request,
        )
    return len(wanted)


def _clock(clock_id: int) -> Clock:
    return get_object_or_404(Clock.objects.select_related("incident", "sent_by"), pk=clock_id)


@access(read=EVERYONE, write=CRISIS_CELL)
@require_http_methods(["GET", "POST"])
def clock_detail(request: HttpRequest, clock_id: int) -> HttpResponse:
    """A clock and its draft: the crisis cell completes it here."""
    clock = _clock(clock_id)
    form = ClockDraftForm(request.POST or None, initial=clock.draft)
    if request.method == "POST":
        if form.is_valid():
            with transaction.atomic():
                locked = Clock.objects.select_for_update().get(pk=clock.pk)
                before = dict(locked.draft)
                after = {k: form.cleaned_data.get(k, "") for k in clocks.SECTIONS}
                if after != before:
                    locked.draft = after
                    locked.revision = board_state.next_revision()
                    locked.save(update_fields=["draft", "revision"])
                    record(request, "clock.draft", locked, before=before, after=after)
            messages.success(request, _("Draft saved."))
            return redirect("crisis:clock", clock_id=clock.pk)
        form_errors(request, form)
    context = {
        "clock": clock,
        "kind": clocks.KINDS.get(clock.kind),
        "form": form,
        "sent_form": ClockSentForm(),
        "sections": _sections(clock),
        "now": timezone.now(),
        "can_write": in_cell(request),
    }
    return render(request, "crisis/clock.html", context)


def _sections(clock: Clock) -> list[tuple[Any, str]]:
    draft = clock.draft if isinstance(clock.draft, dict) else {}
    return [(label, str(draft.get(key, ""))) for key, label in clocks.SECTIONS.items()]


@access(read=CRISIS_CELL, write=CRISIS_CELL)
@require_POST
def clock_sent(request: HttpRequest, clock_id: int) -> HttpResponse:
    """Mark a clock's notification sent: who, when, how (and the reference received)."""
    form = ClockSentForm(request.POST)
    if not form.is_valid():
        form_errors(request, form)
        return redirect("crisis:clock", clock_id=clock_id)
    who = person(request)
    with transaction.atomic():
        clock = get_object_or_404(
            Clock.objects.select_for_update(of=("self",)).select_related("incident"), pk=clock_id
        )
        if clock.sent is not None:
            messages.error(request, _("This one is marked sent already."))
            return redirect("crisis:clock", clock_id=clock_id)
        before = _clock_state(clock)
        clock.sent = form.cleaned_data["sent"] or timezone.now()
        clock.sent_by = who
        clock.sent_how = form.cleaned_data["how"]
        clock.sent_reference = form.cleaned_data["reference"]
        clock.revision = board_state.next_revision()
        clock.save()
        record(request, "clock.sent", clock, before=before, after=_clock_state(clock))
        for other in clocks.recompute_dues(clock.incident):
            other_before = _clock_state(other)
            other.revision = clock.revision
            other.save(update_fields=["due", "revision"])
            record(request, "clock.due", other, before=other_before, after=_clock_state(other))
        kind = clocks.KINDS.get(clock.kind)
        chain.append(
            who,
            EntryKind.COMMUNICATION,
            f"{kind.title if kind else clock.kind} for incident #{clock.incident_id} sent"
            f" ({clock.sent_how}"
            + (f", reference {clock.sent_reference}" if clock.sent_reference else "")
            + ")",
            incidents=[clock.incident_id],
            actor=request,
        )
    messages.success(request, _("Marked sent."))
    return redirect("crisis:clock", clock_id=clock_id)


def _draft_document(clock: Clock, standalone: bool) -> str:
    context = {
        "clock": clock,
        "kind": clocks.KINDS.get(clock.kind),
        "sections": _sections(clock),
        "now": timezone.now(),
        "hospital": hospital_model().name,
    }
    return documents.render("crisis/clock_document.html", context, standalone=standalone)


@access(read=EVERYONE)
def clock_print(request: HttpRequest, clock_id: int) -> HttpResponse:
    return HttpResponse(_draft_document(_clock(clock_id), standalone=False))


@access(read=EVERYONE)
def clock_pdf(request: HttpRequest, clock_id: int) -> HttpResponse:
    clock = _clock(clock_id)
    name = f"incident-{clock.incident_id}-{clock.kind}.pdf"
    return documents.pdf_response(_draft_document(clock, standalone=True), name)


@access(read=EVERYONE)
def clock_json(request: HttpRequest, clock_id: int) -> HttpResponse:
    clock = _clock(clock_id)
    kind = clocks.KINDS.get(clock.kind)
    data = {
        **_clock_state(clock),
        "hospital": hospital_model().name,
        "incident": {"id": clock.incident_id, "title": clock.incident.title},
        "title": str(kind.title) if kind else clock.kind,
        "basis": str(kind.basis) if kind else "",
        "authority": clock.authority,
        "channel": clock.channel,
        "draft": {key: str(clock.draft.get(key, "")) for key in clocks.SECTIONS},
        "exported": timezone.now().isoformat(),
    }
    response = HttpResponse(
        orjson.dumps(data, option=orjson.OPT_INDENT_2), content_type="application/json"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="incident-{clock.incident_id}-{clock.kind}.json"'
    )
    return response


@access(read=ADMINS, write=ADMINS)
@require_http_methods(["GET", "POST"])
def clock_settings(request: HttpRequest) -> HttpResponse:
    """Which clocks apply to this establishment, to which authority, sent how."""
    rules = clocks.rules()
    form = ClockRulesForm(rules, request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            with transaction.atomic():
                for key in clocks.KINDS:
                    wanted = {
                        "applies": bool(form.cleaned_data[f"{key}-applies"]),
                        "authority": form.cleaned_data[f"{key}-authority"],
                        "channel": form.cleaned_data[f"{key}-channel"],
                    }
                    current = {k: rules[key][k] for k in wanted}
                    if wanted == current:
                        continue
                    row, _created = ClockRule.objects.update_or_create(
                        kind=key, defaults={**wanted, "updated": timezone.now()}
                    )
                    record(request, "clock.rule", row, before=current, after=wanted)
            messages.success(request, _("Settings saved."))
            return redirect("crisis:clock-settings")
        form_errors(request, form)
    return render(request, "crisis/clock_settings.html", {"form": form, "kinds": clocks.KINDS})
