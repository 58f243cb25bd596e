"""A declaration's expected end closes it by itself: once it has passed, the board shows the
declaration as expired, the other sources decide the status again, and the change is a status
change row like any other; nothing is written to the declaration (a person ends it)."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from sentinelle.hospital import HospitalModel
from sentinelle.web.accounts.models import User
from sentinelle.web.crisis import board
from sentinelle.web.crisis.board import Inputs, compute, refresh
from sentinelle.web.crisis.models import Declaration, StatusChange
from sentinelle.web.incidents.models import ContainmentAction, Incident
from tests.web.crisis.conftest import status_of

pytestmark = pytest.mark.django_db


def _declare(who: User, site: str, service: str, status: str, ends_in: timedelta) -> Declaration:
    return Declaration.objects.create(
        site=site, service=service, status=status, reason="analyser room flooded",
        expected_end=timezone.now() + ends_in, author=who,
    )  # fmt: skip


def test_an_expired_declaration_no_longer_decides_nor_disagrees(model: HospitalModel) -> None:
    now = timezone.now()
    ended = now - timedelta(minutes=1)
    over = board.DeclaredState(
        7, "cen", "laboratory", "down", "flooded", "cri", now - timedelta(hours=3), ended
    )
    cells = {c.key: c for c in compute(model, Inputs(expired=(over,)))}
    lab = cells[("cen", "laboratory")]
    assert (lab.status, lab.source) == ("operational", "predicted")
    assert lab.sources["declared"]["expired"] is True and lab.sources["declared"]["id"] == 7
    assert "disagree" not in lab.sources  # what it said is over: nothing to disagree with
    assert lab.why[0] == {
        "expired": {
            "id": 7, "status": "down", "expected_end": ended.isoformat(), "by": "cri"
        }
    }  # fmt: skip
    assert lab.reason.startswith("declaration expired (down until ")


def test_the_board_lets_a_declaration_expire_and_records_the_change(
    model: HospitalModel, people: dict[str, User]
) -> None:
    refresh(model)
    declaration = _declare(people["crisis"], "cen", "laboratory", "down", timedelta(hours=1))
    refresh(model)
    assert status_of("cen", "laboratory").status == "down"

    assert refresh(model, now=timezone.now() + timedelta(minutes=59)).changed == 0
    done = refresh(model, now=timezone.now() + timedelta(hours=1, seconds=1))  # no force
    assert done.flips == 1
    lab = status_of("cen", "laboratory")
    assert (lab.status, lab.source) == ("operational", "predicted")
    assert lab.sources["declared"]["expired"] is True
    flip = StatusChange.objects.filter(site="cen", service="laboratory").first()
    assert flip is not None and (flip.old, flip.new, flip.source) == ("down", "operational",
                                                                       "predicted")  # fmt: skip
    assert flip.why[0]["expired"]["id"] == declaration.pk
    assert "declaration expired (down until" in flip.reason
    declaration.refresh_from_db()
    assert declaration.ended is None and declaration.ended_by is None  # time ends nothing
    # Once expired, it stays so: no second row.
    assert refresh(model, now=timezone.now() + timedelta(hours=2)).flips == 0


def test_an_expiry_that_keeps_the_status_is_recorded_too(
    model: HospitalModel, people: dict[str, User]
) -> None:
    incident = Incident.objects.create(title="Ransomware")
    ContainmentAction.objects.create(
        incident=incident, kind="cut", target="internet", state="taken",
        decided_at=timezone.now(), created_by=people["admin"],
    )  # fmt: skip
    _declare(people["crisis"], "nord", "external-email", "down", timedelta(minutes=30))
    refresh(model)
    assert status_of("nord", "external-email").source == "declared"
    assert refresh(model, now=timezone.now() + timedelta(hours=1)).flips == 1
    email = status_of("nord", "external-email")
    assert (email.status, email.source) == ("down", "predicted")  # the cut still stands
    flip = StatusChange.objects.filter(site="nord", service="external-email").first()
    assert flip is not None and (flip.old, flip.new, flip.source) == ("down", "down", "predicted")
    assert [next(iter(part)) for part in flip.why] == ["expired", "impact"]


def test_pages_show_the_declaration_expired_in_the_readers_language(
    model: HospitalModel, people: dict[str, User]
) -> None:
    refresh(model)
    declaration = _declare(people["crisis"], "cen", "laboratory", "down", timedelta(minutes=5))
    refresh(model)  # as declaring does
    Declaration.objects.filter(pk=declaration.pk).update(
        expected_end=timezone.now() - timedelta(minutes=1)
    )
    refresh(model)
    client = Client()
    client.force_login(people["crisis"])
    client.cookies["django_language"] = "fr"
    page = html.unescape(client.get("/crisis/").content.decode())
    assert "déclaration échue (arrêté jusqu'au" in page  # the cell
    assert 'id="expired-declarations"' in page and "Déclarations échues" in page
    assert "Declarations in force" not in page
    cell = html.unescape(client.get("/crisis/cell/cen/laboratory/").content.decode())
    assert "échue" in cell and "Y mettre fin" in cell  # it can still be ended
    client.cookies["django_language"] = "en"
    changes = html.unescape(client.get("/crisis/changes/").content.decode())
    assert "declaration expired (down until" in changes
    # Ending it clears the note.
    assert client.post(f"/crisis/declarations/{declaration.pk}/end/").status_code == 302
    assert "expired" not in status_of("cen", "laboratory").sources.get("declared", {})
