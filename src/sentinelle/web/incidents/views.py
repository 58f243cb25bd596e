"""The analysts' incident pages: the list, an incident's page and everything done on it.

Every change is a POST recorded in the audit trail; the page itself only reads. Merging moves
the absorbed incident's alerts, tasks, notes, indicators, evidence and containment to the one
kept and marks it merged (never deleted); splitting moves the alerts ticked into a new one.
"""

from __future__ import annotations

import os
from typing import Any

import orjson
from django.conf import settings
from django.contrib import messages
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from sentinelle.errors import SentinelleError
from sentinelle.web import downloads
from sentinelle.web.access import ANALYSTS, EVERYONE, access, may, person
from sentinelle.web.accounts.audit import record
from sentinelle.web.alerts.models import Alert
from sentinelle.web.bodycap import FORM_MARGIN, body_cap
from sentinelle.web.forms import form_errors
from sentinelle.web.incidents import containment, evidence
from sentinelle.web.incidents.exports import misp_event, stix_bundle
from sentinelle.web.incidents.forms import (
    ContainmentForm,
    EvidenceForm,
    IncidentForm,
    IncidentUpdateForm,
    IndicatorForm,
    MergeForm,
    NoteForm,
    TaskForm,
    TaskStateForm,
)
from sentinelle.web.incidents.merging import absorb
from sentinelle.web.incidents.models import (
    ContainmentAction,
    ContainmentState,
    Evidence,
    Incident,
    IncidentStatus,
    Indicator,
    Note,
    Task,
)
from sentinelle.web.incidents.summary import refresh
from sentinelle.web.paging import BadCursor, Key, keyset_page
from sentinelle.web.sources import hospital_model

PAGE_SIZE = 50
TIMELINE = 500
STATUS_FILTERS = ("open", "contained", "closed", "merged", "all")


def _can_act(request: HttpRequest) -> bool:
    return may(request, ANALYSTS)


def incident_state(incident: Incident) -> dict[str, Any]:
    return {
        "title": incident.title,
        "status": incident.status,
        "owner": incident.owner.username if incident.owner else None,
        "summary": incident.summary,
        "merged_into": incident.merged_into_id,
    }


@access(read=EVERYONE)
def incident_list(request: HttpRequest) -> HttpResponseBase:
    status = request.GET.get("status", "open")
    if status not in STATUS_FILTERS:
        status = "open"
    rows = Incident.objects.select_related("owner").annotate(alert_count=Count("alerts"))
    if status != "all":
        rows = rows.filter(status=status)
    query = {"status": status} if status != "open" else {}
    keys = [Key("last_seen", nullable=True), Key("id")]
    try:
        page = keyset_page(rows, keys, request.GET.get("cursor"), PAGE_SIZE, query)
    except BadCursor:
        return redirect("incidents:list")
    counts = dict(Incident.objects.values_list("status").annotate(n=Count("pk")))
    context = {
        "page": page,
        "status": status,
        "statuses": [(s, counts.get(s, 0)) for s in STATUS_FILTERS[:-1]],
        "can_act": _can_act(request),
    }
    return render(request, "incidents/list.html", context)


@access(read=ANALYSTS, write=ANALYSTS)
@require_http_methods(["GET", "POST"])
def incident_create(request: HttpRequest) -> HttpResponse:
    form = IncidentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            incident = Incident.objects.create(
                title=form.cleaned_data["title"],
                summary=form.cleaned_data["summary"],
                origin="manual",
                owner=person(request),
            )
            record(request, "incident.create", incident, after=incident_state(incident))
        return redirect("incidents:detail", incident_id=incident.pk)
    return render(request, "incidents/create.html", {"form": form})


@access(read=EVERYONE)
def incident_detail(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = get_object_or_404(
        Incident.objects.select_related("owner", "merged_into"), pk=incident_id
    )
    alerts = incident.alerts.select_related("assignee").order_by("timestamp", "created", "id")
    alert_count = alerts.count()
    model = hospital_model()
    impact = containment.current_impact(model, incident)
    context = {
        "incident": incident,
        "timeline": list(alerts[:TIMELINE]),
        "alert_count": alert_count,
        "tasks": incident.tasks.select_related("owner").order_by("state", "due", "id"),
        "notes": incident.notes.select_related("author").order_by("created", "id"),
        "indicators": incident.indicators.order_by("kind", "value"),
        "evidence": incident.evidence.select_related("uploaded_by").order_by("uploaded"),
        "actions": incident.containment.select_related("created_by", "decided_by").order_by(
            "-created"
        ),
        "absorbed": incident.absorbed.order_by("id"),
        "impact": containment.affected_by_site(impact, []),
        "impact_counts": impact.counts(),
        "unresolved": impact.unresolved,
        "can_act": _can_act(request),
        "update_form": IncidentUpdateForm(
            initial=incident_state(incident) | {"owner": incident.owner_id}
        ),
        "merge_form": MergeForm(),
        "task_form": TaskForm(),
        "task_states": TaskStateForm.base_fields["state"],
        "note_form": NoteForm(),
        "indicator_form": IndicatorForm(),
        "evidence_form": EvidenceForm(),
        "containment_form": ContainmentForm(containment.options(model)),
        "evidence_limit": settings.SENTINELLE_EVIDENCE_MAX_BYTES,
    }
    return render(request, "incidents/detail.html", context)


def _locked(incident_id: int) -> Incident:
    return get_object_or_404(Incident.objects.select_for_update(), pk=incident_id)


def _back(incident: Incident, anchor: str = "") -> HttpResponse:
    response = redirect("incidents:detail", incident_id=incident.pk)
    if anchor:
        response["Location"] = f"{response['Location']}#{anchor}"
    return response


@access(read=ANALYSTS, write=ANALYSTS)
@require_POST
def incident_update(request: HttpRequest, incident_id: int) -> HttpResponse:
    form = IncidentUpdateForm(request.POST)
    with transaction.atomic():
        incident = _locked(incident_id)
        if not form.is_valid():
            form_errors(request, form)
            return _back(incident)
        before = incident_state(incident)
        incident.title = form.cleaned_data["title"]
        incident.summary = form.cleaned_data["summary"]
        incident.status = form.cleaned_data["status"]
        incident.owner = form.cleaned_data["owner"]
        incident.updated = timezone.now()
        incident.save()
        after = incident_state(incident)
        if after != before:
            record(request, "incident.update", incident, before=before, after=after)
    messages.success(request, _("Incident saved."))
    return _back(incident)


@access(read=ANALYSTS, write=ANALYSTS)
@require_POST
def incident_merge(request: HttpRequest, incident_id: int) -> HttpResponse:
    form = MergeForm(request.POST)
    if not form.is_valid():
        form_errors(request, form)
        return redirect("incidents:detail", incident_id=incident_id)
    target_id = form.cleaned_data["into"]
    with transaction.atomic():
        absorbed = _locked(incident_id)
        target = Incident.objects.select_for_update().filter(pk=target_id).first()
        if target is None or target.pk == absorbed.pk or target.status == IncidentStatus.MERGED:
            messages.error(request, _("Choose another incident, one not merged itself."))
            return _back(absorbed)
        if absorbed.status == IncidentStatus.MERGED:
            messages.error(request, _("This incident was merged already."))
            return _back(absorbed)
        before = incident_state(absorbed)
        moved = absorb(absorbed, target)
        record(request, "incident.merge", absorbed, before=before, after=incident_state(absorbed))
        record(request, "incident.absorb", target, after={"absorbed": absorbed.pk, "alerts": moved})
    messages.success(request, _("Merged into #%(id)d.") % {"id": target.pk})
    return redirect("incidents:detail", incident_id=target.pk)


@access(read=ANALYSTS, write=ANALYSTS)
@require_POST
def incident_split(request: HttpRequest, incident_id: int) -> HttpResponse:
    ids = list(dict.fromkeys(request.POST.getlist("alert")))[:1000]
    title = request.POST.get("title", "").strip()[:512]
    with transaction.atomic():
        source = _locked(incident_id)
        alerts = Alert.objects.filter(incident=source, pk__in=ids)
        count = alerts.count()
        if count == 0 or count == source.alerts.count():
            messages.error(request, _("Tick some of this incident's alerts, not none or all."))
            return _back(source)
        new = Incident.objects.create(
            title=title
            or _("Split from #%(id)d: %(title)s")
            % {
                "id": source.pk,
                "title": source.title,
            },
            origin="split",
            owner=source.owner,
        )
        alerts.update(incident=new)
        refresh(new)
        refresh(source)
        record(request, "incident.split", source, after={"into": new.pk, "alerts": ids})
        record(request, "incident.create", new, after=incident_state(new) | {"from": source.pk})
    messages.success(
        request,
        _("Incident #%(id)d made from %(n)d alert(s).")
        % {
            "id": new.pk,
            "n": count,
        },
    )
    return redirect("incidents:detail", incident_id=new.pk)


@access(read=ANALYSTS, write=ANALYSTS)
@require_POST
def task_add(request: HttpRequest, incident_id: int) -> HttpResponse:
    form = TaskForm(request.POST)
    incident = get_object_or_404(Incident, pk=incident_id)
    if not form.is_valid():
        form_errors(request, form)
        return _back(incident, "tasks")
    with transaction.atomic():
        task = Task.objects.create(
            incident=incident,
            title=form.cleaned_data["title"],
            owner=form.cleaned_data["owner"],
            due=form.cleaned_data["due"],
            created_by=person(request),
        )
        record(request, "task.create", task, after=_task_state(task))
    return _back(incident, "tasks")


def _task_state(task: Task) -> dict[str, Any]:
    return {
        "incident": task.incident_id,
        "title": task.title,
        "owner": task.owner.username if task.owner else None,
        "due": task.due.isoformat() if task.due else None,
        "state": task.state,
    }


@access(read=ANALYSTS, write=ANALYSTS)
@require_POST
def task_state(request: HttpRequest, incident_id: int, task_id: int) -> HttpResponse:
    form = TaskStateForm(request.POST)
    with transaction.atomic():
        task = get_object_or_404(
            Task.objects.select_for_update(of=("self",)).select_related("incident", "owner"),
            pk=task_id,
            incident_id=incident_id,
        )
        if form.is_valid() and form.cleaned_data["state"] != task.state:
            before = _task_state(task)
            task.state = form.cleaned_data["state"]
            task.save(update_fields=["state"])
            record(request, "task.update", task, before=before, after=_task_state(task))
    return _back(task.incident, "tasks")


@access(read=ANALYSTS, write=ANALYSTS)
@require_POST
def note_add(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=incident_id)
    form = NoteForm(request.POST)
    if not form.is_valid():
        form_errors(request, form)
        return _back(incident, "notes")
    with transaction.atomic():
        note = Note.objects.create(
            incident=incident, author=person(request), text=form.cleaned_data["text"]
        )
        record(request, "note.create", note, after={"incident": incident.pk, "text": note.text})
    return _back(incident, "notes")


@access(read=ANALYSTS, write=ANALYSTS)
@require_POST
def indicator_add(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=incident_id)
    form = IndicatorForm(request.POST)
    if not form.is_valid():
        form_errors(request, form)
        return _back(incident, "indicators")
    data = form.cleaned_data
    try:
        with transaction.atomic():
            indicator = Indicator.objects.create(
                incident=incident,
                kind=data["kind"],
                value=data["value"],
                comment=data["comment"],
                created_by=person(request),
            )
            record(
                request,
                "indicator.create",
                indicator,
                after={"incident": incident.pk, "kind": indicator.kind, "value": indicator.value},
            )
    except IntegrityError:
        messages.error(request, _("This indicator is recorded already."))
    return _back(incident, "indicators")


@access(read=ANALYSTS, write=ANALYSTS)
@require_POST
def indicator_remove(request: HttpRequest, incident_id: int, indicator_id: int) -> HttpResponse:
    with transaction.atomic():
        indicator = get_object_or_404(
            Indicator.objects.select_related("incident"), pk=indicator_id, incident_id=incident_id
        )
        before = {"incident": incident_id, "kind": indicator.kind, "value": indicator.value}
        record(request, "indicator.remove", indicator, before=before)
        incident = indicator.incident
        indicator.delete()
    return _back(incident, "indicators")


def _json_download(data: Any, name: str) -> HttpResponse:
    response = HttpResponse(
        orjson.dumps(data, option=orjson.OPT_INDENT_2), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@access(read=EVERYONE)
def export_stix(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=incident_id)
    bundle = stix_bundle(incident, list(incident.indicators.order_by("kind", "value")))
    return _json_download(bundle, f"incident-{incident.pk}.stix.json")


@access(read=EVERYONE)
def export_misp(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=incident_id)
    event = misp_event(incident, list(incident.indicators.order_by("kind", "value")))
    return _json_download(event, f"incident-{incident.pk}.misp.json")


@body_cap(lambda: int(settings.SENTINELLE_EVIDENCE_MAX_BYTES) + FORM_MARGIN)
@access(read=ANALYSTS, write=ANALYSTS)
@require_POST
def evidence_upload(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=incident_id)
    limit = int(settings.SENTINELLE_EVIDENCE_MAX_BYTES)
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdecimal() and int(declared) > limit + FORM_MARGIN:
        # Refused before the body is read: nothing of it reaches the disk.
        messages.error(request, _("The file is larger than %(n)d bytes.") % {"n": limit})
        return _back(incident, "evidence")
    form = EvidenceForm(request.POST, request.FILES)
    if not form.is_valid():
        form_errors(request, form)
        return _back(incident, "evidence")
    upload = form.cleaned_data["file"]
    try:
        sha, size = evidence.store(upload, limit)
    except evidence.EvidenceTooLarge:
        messages.error(request, _("The file is larger than %(n)d bytes.") % {"n": limit})
        return _back(incident, "evidence")
    with transaction.atomic():
        row = Evidence.objects.create(
            incident=incident,
            name=evidence.safe_name(upload.name or ""),
            sha256=sha,
            size=size,
            content_type=(upload.content_type or "")[:128],
            uploaded_by=person(request),
        )
        record(
            request,
            "evidence.create",
            row,
            after={"incident": incident.pk, "name": row.name, "sha256": sha, "size": size},
        )
    messages.success(request, _("Evidence stored (SHA-256 %(sha)s).") % {"sha": sha})
    return _back(incident, "evidence")


@access(read=EVERYONE)
def evidence_download(
    request: HttpRequest, incident_id: int, evidence_id: int
) -> StreamingHttpResponse:
    row = get_object_or_404(Evidence, pk=evidence_id, incident_id=incident_id)
    try:
        handle = evidence.path_of(row.sha256).open("rb")
        size = os.fstat(handle.fileno()).st_size
    except (OSError, ValueError) as exc:
        raise Http404("the evidence file is missing from the data folder") from exc
    # Always a download, never rendered: a stored HTML file cannot run in our origin.
    response = downloads.attachment(request, handle, row.name, size)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


def _containment_state(row: ContainmentAction) -> dict[str, Any]:
    return {
        "incident": row.incident_id,
        "action": containment.action_text(row),
        "state": row.state,
        "decided_by": row.decided_by.username if row.decided_by else None,
        "note": row.note,
    }


@access(read=ANALYSTS, write=ANALYSTS)
@require_POST
def containment_simulate(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=incident_id)
    model = hospital_model()
    form = ContainmentForm(containment.options(model), request.POST)
    if not form.is_valid():
        form_errors(request, form)
        return _back(incident, "containment")
    action = form.cleaned_data["action"]
    try:
        impact = containment.simulate(model, incident, action)
    except SentinelleError as exc:
        messages.error(request, str(exc))
        return _back(incident, "containment")
    verb, _sep, target = action.partition(":")
    with transaction.atomic():
        row = ContainmentAction.objects.create(
            incident=incident,
            kind=verb,
            target=target,
            impact=impact,
            note=form.cleaned_data["note"],
            created_by=person(request),
        )
        record(request, "containment.simulate", row, after=_containment_state(row))
    return _back(incident, f"action-{row.pk}")


@access(read=ANALYSTS, write=ANALYSTS)
@require_POST
def containment_decide(request: HttpRequest, incident_id: int, action_id: int) -> HttpResponse:
    """Record that a simulated action was taken (who decided, when), or that it was reverted."""
    verb = request.POST.get("decision", "")
    with transaction.atomic():
        row = get_object_or_404(
            ContainmentAction.objects.select_for_update(of=("self",)).select_related("incident"),
            pk=action_id,
            incident_id=incident_id,
        )
        before = _containment_state(row)
        now = timezone.now()
        if verb == "take" and row.state == ContainmentState.SIMULATED:
            row.state = ContainmentState.TAKEN
            row.decided_at, row.decided_by = now, person(request)
        elif verb == "revert" and row.state == ContainmentState.TAKEN:
            row.state = ContainmentState.REVERTED
            row.reverted_at = now
        else:
            messages.error(request, _("That decision does not apply to this action now."))
            assert row.incident is not None
            return _back(row.incident, "containment")
        row.save()
        record(request, f"containment.{verb}", row, before=before, after=_containment_state(row))
    assert row.incident is not None
    return _back(row.incident, f"action-{row.pk}")
