"""The crisis cell's administration: kiosk screens (secret addresses for the screens in the
services) and the cell's members (people holding the crisis role beside their own)."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from sentinelle.web.access import ADMINS, CRISIS_CELL, access, person, token_digest
from sentinelle.web.accounts.audit import record, revoke
from sentinelle.web.crisis.forms import CellMemberForm, KioskScreenForm
from sentinelle.web.crisis.models import CellMembership, KioskScreen
from sentinelle.web.forms import form_errors
from sentinelle.web.sources import hospital_model

KIOSK_PREFIX = "kiosk_"


def new_screen_key() -> str:
    return KIOSK_PREFIX + secrets.token_urlsafe(32)


def _screen_state(row: KioskScreen) -> dict[str, Any]:
    return {
        "name": row.name,
        "sites": row.sites,
        "prefix": row.prefix,
        "revoked": row.revoked.isoformat() if row.revoked else None,
    }


@access(read=CRISIS_CELL, write=CRISIS_CELL)
@require_http_methods(["GET", "POST"])
def screens(request: HttpRequest) -> HttpResponse:
    """Kiosk screens: each gets an address holding a secret, shown once, revocable."""
    model = hospital_model()
    form = KioskScreenForm(model, request.POST or None)
    shown_key = ""
    if request.method == "POST":
        if form.is_valid():
            key = new_screen_key()
            with transaction.atomic():
                row = KioskScreen.objects.create(
                    name=form.cleaned_data["name"],
                    sites=sorted(form.cleaned_data["sites"]),
                    digest=token_digest(key),
                    prefix=key[: len(KIOSK_PREFIX) + 4],
                    created_by=person(request),
                )
                record(request, "screen.create", row, after=_screen_state(row))
            shown_key = key
            form = KioskScreenForm(model)
        else:
            form_errors(request, form)
    context = {
        "screens": KioskScreen.objects.select_related("created_by").order_by("-created"),
        "form": form,
        "new_address": request.build_absolute_uri(f"/crisis/screen/{shown_key}/")
        if shown_key
        else "",
        "sites": {s.id: s.name for s in model.sites.values()},
    }
    response = render(request, "crisis/screens.html", context)
    if shown_key:
        response["Cache-Control"] = "no-store"
    return response


@access(read=CRISIS_CELL, write=CRISIS_CELL)
@require_POST
def screen_revoke(request: HttpRequest, screen_id: int) -> HttpResponse:
    revoke(request, KioskScreen.objects.all(), screen_id, "screen.revoke", _screen_state)
    messages.success(request, _("Screen revoked: its address shows nothing any more."))
    return redirect("crisis:screens")


@access(read=ADMINS, write=ADMINS)
@require_http_methods(["GET", "POST"])
def cell_members(request: HttpRequest) -> HttpResponse:
    """Who sits in the crisis cell beside their own role (an analyst may then declare an
    incident significant)."""
    form = CellMemberForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            user = form.cleaned_data["user"]
            try:
                with transaction.atomic():
                    seat = CellMembership.objects.create(user=user, added_by=person(request))
                    record(
                        request, "cell.add", seat, after={"user": user.username, "role": user.role}
                    )
                messages.success(request, _("%(name)s sits in the crisis cell.") % {"name": user})
            except IntegrityError:
                messages.error(request, _("%(name)s sits in the cell already.") % {"name": user})
            return redirect("crisis:members")
        form_errors(request, form)
    seats = CellMembership.objects.select_related("user", "added_by", "removed_by")
    context = {
        "seats": seats.filter(removed__isnull=True).order_by("user__username"),
        "former": seats.filter(removed__isnull=False).order_by("-removed")[:100],
        "form": form,
    }
    return render(request, "crisis/cell_members.html", context)


@access(read=ADMINS, write=ADMINS)
@require_POST
def cell_remove(request: HttpRequest, seat_id: int) -> HttpResponse:
    with transaction.atomic():
        seat = get_object_or_404(
            CellMembership.objects.select_for_update(of=("self",)).select_related("user"),
            pk=seat_id,
        )
        if seat.removed is None:
            seat.removed, seat.removed_by = timezone.now(), person(request)
            seat.save(update_fields=["removed", "removed_by"])
            record(
                request,
                "cell.remove",
                seat,
                before={"user": seat.user.username},
                after={"user": seat.user.username, "removed": seat.removed.isoformat()},
            )
    return redirect("crisis:members")
