"""The crisis log (main courante): read, write, correct, print, export (JSON and PDF).

Entries are only ever added (``crisis.chain.append``); a correction is a new entry pointing at
the one it corrects, and the page shows the corrected one marked, with its correction.
"""

from __future__ import annotations

import orjson
from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from sentinelle.web.access import CRISIS_CELL, EVERYONE, access, person
from sentinelle.web.crisis import chain, documents
from sentinelle.web.crisis.forms import CorrectionForm, LogEntryForm
from sentinelle.web.crisis.models import LogEntry
from sentinelle.web.crisis.views.common import in_cell
from sentinelle.web.forms import form_errors
from sentinelle.web.paging import BadCursor, Key, keyset_page
from sentinelle.web.sources import hospital_model

PAGE_SIZE = 100


def _names() -> dict[str, dict[str, str]]:
    model = hospital_model()
    return {
        "sites": {s.id: s.name for s in model.sites.values()},
        "services": {s.id: s.name for s in model.services.values()},
    }


@access(read=EVERYONE, write=CRISIS_CELL)
@require_http_methods(["GET", "POST"])
def log_view(request: HttpRequest) -> HttpResponseBase:
    """The log, newest first, and (for the crisis cell) the form of a new entry."""
    model = hospital_model()
    form = LogEntryForm(model, request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            entry = chain.append(
                person(request),
                data["kind"],
                data["text"],
                incidents=data["incidents"],
                services=data["services"],
                sites=data["sites"],
                actor=request,
            )
            messages.success(request, _("Entry #%(n)d written.") % {"n": entry.seq})
            return redirect("crisis:log")
        form_errors(request, form)
    rows = LogEntry.objects.select_related("corrects").annotate(corrected=Count("corrections"))
    try:
        page = keyset_page(
            rows, [Key("seq", descending=True)], request.GET.get("cursor"), PAGE_SIZE, {}
        )
    except BadCursor:
        return redirect("crisis:log")
    context = {"page": page, "form": form, "can_write": in_cell(request), **_names()}
    return render(request, "crisis/log.html", context)


@access(read=CRISIS_CELL, write=CRISIS_CELL)
@require_http_methods(["GET", "POST"])
def log_correct(request: HttpRequest, entry_id: int) -> HttpResponse:
    """A new entry that corrects ``entry_id`` (which stays as it was written)."""
    corrected = get_object_or_404(LogEntry, pk=entry_id)
    form = CorrectionForm(request.POST or None, initial={"kind": corrected.kind})
    if request.method == "POST":
        if form.is_valid():
            entry = chain.append(
                person(request),
                form.cleaned_data["kind"],
                form.cleaned_data["text"],
                incidents=corrected.incidents,
                services=corrected.services,
                sites=corrected.sites,
                corrects=corrected,
                actor=request,
            )
            messages.success(
                request,
                _("Entry #%(n)d corrects entry #%(m)d.") % {"n": entry.seq, "m": corrected.seq},
            )
            return redirect("crisis:log")
        form_errors(request, form)
    return render(
        request, "crisis/log_correct.html", {"entry": corrected, "form": form, **_names()}
    )


def _document(standalone: bool) -> str:
    entries = list(LogEntry.objects.select_related("corrects").order_by("seq"))
    verdict = chain.verify()
    context = {
        "entries": entries,
        "verdict": verdict,
        "now": timezone.now(),
        "hospital": hospital_model().name,
        "corrected": set(
            LogEntry.objects.filter(corrects__isnull=False).values_list("corrects_id", flat=True)
        ),
        **_names(),
    }
    return documents.render("crisis/log_document.html", context, standalone=standalone)


@access(read=EVERYONE)
def log_print(request: HttpRequest) -> HttpResponse:
    """The whole log as one printable page (the print stylesheet lays it out on paper)."""
    return HttpResponse(_document(standalone=False))


@access(read=EVERYONE)
def log_pdf(request: HttpRequest) -> HttpResponse:
    return documents.pdf_response(
        _document(standalone=True), f"crisis-log-{timezone.now():%Y%m%d-%H%M}.pdf"
    )


@access(read=EVERYONE)
def log_json(request: HttpRequest) -> HttpResponse:
    """The log for the after-action review and the authorities: every entry with what is
    needed to check its hash again, and the verdict of the chain when exported."""
    entries = LogEntry.objects.select_related("corrects").order_by("seq")
    verdict = chain.verify()
    data = {
        "hospital": hospital_model().name,
        "exported": timezone.now().isoformat(),
        "hash": "sha256 over canonical JSON (sorted keys, no spaces, UTF-8) of the entry"
        " without its hash, prev being the previous entry's hash",
        "genesis": chain.GENESIS,
        "intact": verdict.intact,
        "head": {"seq": verdict.head_seq, "hash": verdict.head_hash},
        "breaks": [{"seq": b.seq, "problem": b.problem} for b in verdict.breaks],
        "entries": chain.export(entries.iterator(chunk_size=500)),
    }
    response = HttpResponse(
        orjson.dumps(data, option=orjson.OPT_INDENT_2), content_type="application/json"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="crisis-log-{timezone.now():%Y%m%d-%H%M}.json"'
    )
    return response
