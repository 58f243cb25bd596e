"""What the apps share instead of each keeping its copy: a form's errors as messages, the
audited revocation, who may write, and rendering for every language of a feed."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpRequest
from django.test import RequestFactory
from django.utils import translation

from sentinelle.web.access import ANALYSTS, CRISIS_CELL, may
from sentinelle.web.accounts.audit import revoke
from sentinelle.web.accounts.models import AuditEntry, User
from sentinelle.web.alerts.models import Suppression
from sentinelle.web.forms import form_errors
from sentinelle.web.live import language, per_language


def _request(user: User) -> HttpRequest:
    request = RequestFactory().post("/", REMOTE_ADDR="192.0.2.7")
    request.user = user
    request.session = SessionStore()
    request._messages = FallbackStorage(request)  # type: ignore[attr-defined]
    return request


class _Form(forms.Form):
    title = forms.CharField(label="Title", max_length=3)

    def clean(self) -> dict[str, Any]:
        raise forms.ValidationError("The whole form is wrong.")


def test_form_errors_are_messages_named_after_their_field(people: dict[str, User]) -> None:
    request = _request(people["analyst"])
    form = _Form({"title": "far too long"})
    with translation.override("en"):
        assert not form.is_valid()
        form_errors(request, form)
    shown = [str(m) for m in get_messages(request)]
    assert shown == [
        "Title: Ensure this value has at most 3 characters (it has 12).",
        "The whole form is wrong.",
    ]


def test_a_row_is_revoked_once_and_audited_with_who_revoked_it(people: dict[str, User]) -> None:
    analyst = people["analyst"]
    row = Suppression.objects.create(host="pc-1", reason="noisy", author=analyst)

    def state(s: Suppression) -> dict[str, Any]:
        return {"revoked": s.revoked.isoformat() if s.revoked else None}

    first = revoke(_request(analyst), Suppression.objects.all(), row.pk, "x.revoke", state,
                   revoked_by=analyst)  # fmt: skip
    again = revoke(_request(analyst), Suppression.objects.all(), row.pk, "x.revoke", state)
    assert first is not None and again is None
    row.refresh_from_db()
    assert row.revoked is not None and row.revoked_by == analyst
    (entry,) = AuditEntry.objects.filter(action="x.revoke")
    assert entry.before == {"revoked": None} and entry.after == state(row)
    assert entry.actor == analyst.username and entry.address == "192.0.2.7"


def test_who_may_write_is_the_policies_check_cell_seats_included(
    people: dict[str, User],
) -> None:
    from sentinelle.web.crisis.models import CellMembership

    analyst = people["analyst"]
    assert may(_request(analyst), ANALYSTS) and not may(_request(analyst), CRISIS_CELL)
    CellMembership.objects.create(user=analyst, added_by=people["admin"])
    assert may(_request(analyst), CRISIS_CELL)  # a seat in the cell, beside the role
    assert not may(_request(people["viewer"]), ANALYSTS)


def test_feeds_render_once_per_language_and_streams_pick_a_known_one(db: Any) -> None:
    rendered = per_language("crisis/_legend.html", {})
    assert set(rendered) == {"fr", "en"} and rendered["fr"] != rendered["en"]
    with translation.override("de"):
        assert language() == "fr"  # the default, not a language the feeds did not render
    with translation.override("en"):
        assert language() == "en"
