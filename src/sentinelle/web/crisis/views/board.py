"""The status board: the grid, a cell's page (sources, history, declarations), the live stream,
the kiosk (for signed-in people and for screens holding a secret address), the printable
snapshot and the history of status changes."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.db import transaction
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from sentinelle.web.access import CRISIS_CELL, EVERYONE, access, person, token_digest
from sentinelle.web.accounts.audit import record
from sentinelle.web.crisis import board as board_state
from sentinelle.web.crisis import chain, live
from sentinelle.web.crisis.forms import DeclarationForm
from sentinelle.web.crisis.models import (
    Board,
    Declaration,
    EntryKind,
    KioskScreen,
    ServiceStatus,
    StatusChange,
)
from sentinelle.web.crisis.views.common import in_cell
from sentinelle.web.forms import form_errors
from sentinelle.web.live import Message, language, stream
from sentinelle.web.paging import BadCursor, Key, keyset_page
from sentinelle.web.sources import hospital_model

CHANGES_PAGE = 100


def _board_context(sites: list[str]) -> dict[str, Any]:
    model = hospital_model()
    rows = board_state.current_rows(model)
    computed = Board.objects.filter(pk=1).values_list("computed", flat=True).first()
    return {
        "grid": board_state.grid(model, rows, sites),
        "clocks": live.running_clocks(),
        "computed": computed,
        "now": timezone.now(),
        "model": model,
    }


@access(read=EVERYONE)
def board(request: HttpRequest) -> HttpResponse:
    context = _board_context([])
    standing = Declaration.objects.filter(ended__isnull=True, superseded_by__isnull=True)
    in_force = Q(expected_end__isnull=True) | Q(expected_end__gt=context["now"])
    context.update(
        declarations=standing.filter(in_force).select_related("author").order_by("-at")[:100],
        expired=standing.exclude(in_force).select_related("author").order_by("-at")[:100],
        changes=StatusChange.objects.all()[:15],
        can_write=in_cell(request),
        stream_url=reverse("crisis:stream"),
    )
    return render(request, "crisis/board.html", context)


@access(read=EVERYONE)
def board_print(request: HttpRequest) -> HttpResponse:
    return render(request, "crisis/board_print.html", _board_context([]))


@access(read=EVERYONE)
def kiosk(request: HttpRequest) -> HttpResponse:
    context = _board_context([])
    context.update(stream_url=reverse("crisis:stream"), screen=None)
    return render(request, "crisis/kiosk.html", context)


def _screen(key: str) -> KioskScreen:
    if not key.startswith("kiosk_") or len(key) > 100:
        raise Http404("no such screen")
    found = KioskScreen.objects.filter(digest=token_digest(key), revoked__isnull=True).first()
    if found is None:
        raise Http404("no such screen")
    return found


@access(public=True)  # the secret in the address is the credential (revocable, shown once)
@require_http_methods(["GET", "HEAD"])
def screen(request: HttpRequest, key: str) -> HttpResponse:
    found = _screen(key)
    context = _board_context(list(found.sites))
    context.update(stream_url=reverse("crisis:screen-stream", args=[key]), screen=found)
    response = render(request, "crisis/kiosk.html", context)
    response["Referrer-Policy"] = "no-referrer"  # the address is the secret
    response["Cache-Control"] = "no-store"
    return response


async def _board_stream(sites: list[str]) -> StreamingHttpResponse:
    code = language()
    queue = live.FEED.subscribe()
    model = await sync_to_async(hospital_model, thread_sensitive=False)()
    first = await sync_to_async(live.snapshot)(model, sites)

    def render_batch(batch: Any) -> list[Message]:
        return live.messages_for(list(batch), code, sites)

    return stream(live.FEED, queue, render_batch, first)


@access(read=EVERYONE)
async def board_stream(request: HttpRequest) -> StreamingHttpResponse:
    """The board's changes as server-sent events: the whole board first, then changed cells."""
    return await _board_stream([])


@access(public=True)  # the secret in the address is the credential
async def screen_stream(request: HttpRequest, key: str) -> HttpResponseBase:
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405)
    found = await sync_to_async(_screen)(key)
    return await _board_stream(list(found.sites))


def _declaration_state(row: Declaration) -> dict[str, Any]:
    return {
        "site": row.site,
        "service": row.service,
        "status": row.status,
        "reason": row.reason,
        "expected_end": row.expected_end.isoformat() if row.expected_end else None,
        "ended": row.ended.isoformat() if row.ended else None,
        "superseded_by": row.superseded_by_id,
    }


def _cell_names(site: str, service: str) -> tuple[str, str]:
    model = hospital_model()
    found_site = model.sites.get(site)
    found_service = model.services.get(service)
    if found_site is None or found_service is None or site not in found_service.used_at:
        raise Http404("no such service at that site")
    return found_site.name, found_service.name


@access(read=EVERYONE, write=CRISIS_CELL)
@require_http_methods(["GET", "POST"])
def cell(request: HttpRequest, site: str, service: str) -> HttpResponse:
    """A service at a site: what each source says, its declarations, its history; a person of
    the crisis cell declares its status here."""
    site_name, service_name = _cell_names(site, service)
    form = DeclarationForm(request.POST or None)
    if request.method == "POST":
        if not form.is_valid():
            form_errors(request, form)
        else:
            _declare(request, site, service, form.cleaned_data, site_name, service_name)
            messages.success(request, _("Declared. The board shows it now."))
            return redirect("crisis:cell", site=site, service=service)
    context = {
        "site": site,
        "service": service,
        "site_name": site_name,
        "service_name": service_name,
        "row": ServiceStatus.objects.filter(site=site, service=service).first(),
        "declarations": Declaration.objects.filter(site=site, service=service)
        .select_related("author", "ended_by")
        .order_by("-at", "-id")[:50],
        "changes": StatusChange.objects.filter(site=site, service=service)[:50],
        "form": form,
        "can_write": in_cell(request),
    }
    return render(request, "crisis/cell.html", context)


def _declare(
    request: HttpRequest,
    site: str,
    service: str,
    data: dict[str, Any],
    site_name: str,
    service_name: str,
) -> None:
    author = person(request)
    with transaction.atomic():
        active = list(
            Declaration.objects.select_for_update().filter(
                site=site, service=service, ended__isnull=True, superseded_by__isnull=True
            )
        )
        row = Declaration.objects.create(
            site=site,
            service=service,
            status=data["status"],
            reason=data["reason"],
            expected_end=data["expected_end"],
            author=author,
        )
        for old in active:
            before = _declaration_state(old)
            old.superseded_by = row
            old.save(update_fields=["superseded_by"])
            record(
                request, "declaration.supersede", old, before=before, after=_declaration_state(old)
            )
        record(request, "declaration.create", row, after=_declaration_state(row))
        ends = (
            f" (expected end {timezone.localtime(row.expected_end):%Y-%m-%d %H:%M})"
            if row.expected_end
            else ""
        )
        chain.append(
            author,
            EntryKind.INFORMATION,
            f"{service_name} at {site_name} declared {row.status}{ends}: {row.reason}",
            services=[service],
            sites=[site],
            actor=request,
        )
    board_state.refresh()


@access(read=CRISIS_CELL, write=CRISIS_CELL)
@require_POST
def declaration_end(request: HttpRequest, declaration_id: int) -> HttpResponse:
    """End a declaration: the board goes back to what measurement and prediction say."""
    with transaction.atomic():
        row = get_object_or_404(Declaration.objects.select_for_update(), pk=declaration_id)
        if not row.active:
            messages.error(request, _("This declaration is over already."))
            return redirect("crisis:cell", site=row.site, service=row.service)
        before = _declaration_state(row)
        row.ended, row.ended_by = timezone.now(), person(request)
        row.save(update_fields=["ended", "ended_by"])
        record(request, "declaration.end", row, before=before, after=_declaration_state(row))
        chain.append(
            person(request),
            EntryKind.INFORMATION,
            f"Declaration ended: {row.service} at {row.site} ({row.status}: {row.reason})",
            services=[row.service],
            sites=[row.site],
            actor=request,
        )
    board_state.refresh()
    messages.success(request, _("Declaration ended."))
    return redirect("crisis:cell", site=row.site, service=row.service)


@access(read=EVERYONE)
def changes(request: HttpRequest) -> HttpResponseBase:
    """Every status change, newest first (keyset-paged)."""
    rows = StatusChange.objects.all()
    try:
        page = keyset_page(
            rows, [Key("at", descending=True), Key("id", descending=True)],
            request.GET.get("cursor"), CHANGES_PAGE, {},
        )  # fmt: skip
    except BadCursor:
        return redirect("crisis:changes")
    model = hospital_model()
    return render(
        request,
        "crisis/changes.html",
        {"page": page, "sites": {s.id: s.name for s in model.sites.values()}, "model": model},
    )
