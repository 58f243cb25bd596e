"""The status board: predicted from the impact engine (open incidents' hosts, containment
taken), seen (probes), declared (people); disagreements named; vital services first; status
changes as rows; reading never writes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from sentinelle.hospital import HospitalModel
from sentinelle.web.accounts.models import AuditEntry, User
from sentinelle.web.crisis import board, observed
from sentinelle.web.crisis.board import Inputs, compute, disagreements, refresh
from sentinelle.web.crisis.models import (
    Board,
    Declaration,
    LogEntry,
    ServiceStatus,
    StatusChange,
)
from sentinelle.web.incidents.models import ContainmentAction, Incident
from tests.web.crisis.conftest import status_of

pytestmark = pytest.mark.django_db


def cells_by_key(cells: list[board.Cell]) -> dict[tuple[str, str], board.Cell]:
    return {c.key: c for c in cells}


def test_every_service_at_every_site_it_is_used_vital_first(model: HospitalModel) -> None:
    cells = compute(model, Inputs())
    expected = sum(len(s.used_at) for s in model.services.values())
    assert len(cells) == expected == 127
    assert {c.status for c in cells} == {"operational"}
    order = list(dict.fromkeys(c.service for c in cells))
    vital = [s for s in order if model.services[s].criticality == "vital"]
    assert order[: len(vital)] == vital and len(vital) >= 5
    assert order.index("emergency") < order.index("pharmacy")  # pharmacy is major in the model


def test_prediction_follows_the_impact_engine(model: HospitalModel) -> None:
    cells = cells_by_key(compute(model, Inputs(actions=("cut:internet",))))
    email = cells[("nord", "external-email")]
    assert email.status == "down" and email.source == "predicted"
    assert "cut:internet" in email.reason
    assert cells[("nord", "patient-record")].status == "operational"

    host = model.hosts_for_service("patient-record")[0]
    at_risk = cells_by_key(compute(model, Inputs(compromised=(host,))))
    touched = [c for c in at_risk.values() if c.status != "operational"]
    assert touched and all(c.status == "at-risk" for c in touched)


def test_a_declaration_has_the_last_word_and_disagreements_are_named(
    model: HospitalModel,
) -> None:
    now = timezone.now()
    declared = board.DeclaredState(
        1, "cen", "laboratory", "down", "analyser room flooded", "cri", now, None
    )
    seen = observed.Observation("cen", "laboratory", "up", now, "HTTP 200 in 40 ms", "http")
    cells = cells_by_key(compute(model, Inputs(declarations=(declared,), observations=(seen,))))
    lab = cells[("cen", "laboratory")]
    assert (lab.status, lab.source, lab.reason) == ("down", "declared", "analyser room flooded")
    assert lab.sources["disagree"] == [
        ["declared", "down", "seen", "up"],
        ["declared", "down", "predicted", "up"],
    ]


def test_predicted_down_seen_up(model: HospitalModel) -> None:
    now = timezone.now()
    seen = observed.Observation("nord", "external-email", "up", now, "SMTP banner", "smtp")
    cells = cells_by_key(compute(model, Inputs(actions=("cut:internet",), observations=(seen,))))
    email = cells[("nord", "external-email")]
    assert (email.status, email.source) == ("operational", "seen")
    assert email.sources["disagree"] == [["predicted", "down", "seen", "up"]]
    assert disagreements({"predicted": {"status": "at-risk"}, "seen": {"state": "up"}}) == []


def test_a_probe_cannot_see_risk(model: HospitalModel) -> None:
    now = timezone.now()
    host = model.hosts_for_service("patient-record")[0]
    seen = observed.Observation("cen", "patient-record", "up", now, "HTTP 200", "http")
    cells = cells_by_key(compute(model, Inputs(compromised=(host,), observations=(seen,))))
    record = cells[("cen", "patient-record")]
    assert (record.status, record.source) == ("at-risk", "seen")
    assert "disagree" not in record.sources


def test_refresh_writes_changes_as_rows_once(
    model: HospitalModel, people: dict[str, User], django_capture_on_commit_callbacks: Any
) -> None:
    first = refresh(model)
    assert first.changed == 127 and first.flips == 0  # all operational: nothing flipped
    assert refresh(model).changed == 0
    revision = Board.objects.get().revision

    host = model.hosts_for_service("patient-record")[0]
    incident = Incident.objects.create(title="Ransomware", hosts=[host])
    action = ContainmentAction.objects.create(
        incident=incident, kind="cut", target="internet", created_by=people["admin"]
    )
    assert refresh(model).changed > 0  # the incident's host is compromised
    action.state = "taken"
    action.decided_at = timezone.now()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        action.save()  # recorded as taken: the board refreshes once that commits
    assert len(callbacks) == 1
    email = status_of("nord", "external-email")
    assert email.status == "down" and email.revision > revision
    flip = StatusChange.objects.filter(site="nord", service="external-email").first()
    assert flip is not None and (flip.old, flip.new) == ("operational", "down")
    assert "cut:internet" in flip.reason

    incident.status = "closed"
    incident.save()
    refresh(model)
    assert status_of("cen", "patient-record").status == "operational"
    assert status_of("nord", "external-email").status == "down"  # the cut stays until reverted


def test_an_action_the_model_cannot_apply_is_named_not_fatal(
    model: HospitalModel, people: dict[str, User]
) -> None:
    ContainmentAction.objects.create(
        kind="isolate", target="atlantis", state="taken", created_by=people["admin"]
    )
    done = refresh(model)
    assert done.refused_actions and "atlantis" in done.refused_actions[0]
    assert ServiceStatus.objects.count() == 127


def test_an_observer_that_raises_leaves_the_others(
    model: HospitalModel, observations: list[observed.Observation]
) -> None:
    def broken() -> list[observed.Observation]:
        raise RuntimeError("probe store unreachable")

    observed.register("broken", broken)
    try:
        observations.append(
            observed.Observation("cht", "telephony", "down", timezone.now(), "no tone", "sip")
        )
        before = observed.COUNTERS["observer_failures"]
        refresh(model)
        assert observed.COUNTERS["observer_failures"] == before + 1
        assert status_of("cht", "telephony").status == "down"
    finally:
        observed.unregister("broken")


def test_declaring_through_the_page(
    model: HospitalModel, client_as: Any, people: dict[str, User]
) -> None:
    refresh(model)
    client = client_as("crisis")
    ends = (timezone.localtime() + timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        "/crisis/cell/snz/laboratory/",
        {"status": "down", "reason": "power cut in the lab", "expected_end": ends},
    )
    assert response.status_code == 302
    lab = status_of("snz", "laboratory")
    assert (lab.status, lab.source, lab.reason) == ("down", "declared", "power cut in the lab")
    declaration = Declaration.objects.get()
    assert declaration.author == people["crisis"] and declaration.expected_end is not None
    assert LogEntry.objects.filter(text__contains="power cut in the lab").exists()
    assert AuditEntry.objects.filter(action="declaration.create").count() == 1

    # A second declaration supersedes the first; ending it gives the board back to the engine.
    client.post("/crisis/cell/snz/laboratory/", {"status": "degraded", "reason": "generator"})
    assert status_of("snz", "laboratory").status == "degraded"
    first, second = Declaration.objects.order_by("id")
    assert first.superseded_by == second and second.active
    client.post(f"/crisis/declarations/{second.pk}/end/")
    assert status_of("snz", "laboratory").status == "operational"
    assert Declaration.objects.count() == 2  # never deleted
    flips = list(
        StatusChange.objects.filter(site="snz", service="laboratory").values_list("old", "new")
    )
    assert flips == [("degraded", "operational"), ("down", "degraded"), ("operational", "down")]
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"declaration.create", "declaration.supersede", "declaration.end"} <= actions


def test_bad_declarations_are_refused_with_reasons(client_as: Any) -> None:
    client = client_as("crisis")
    assert client.post("/crisis/cell/atlantis/laboratory/", {}).status_code == 404
    assert client.post("/crisis/cell/ehp/emergency/", {}).status_code == 404  # not used there
    response = client.post(
        "/crisis/cell/snz/laboratory/",
        {"status": "on fire", "reason": "", "expected_end": "2001-01-01T00:00"},
        follow=True,
    )
    text = response.content.decode()
    assert "on fire" in text or "choix" in text.lower() or "valid choice" in text.lower()
    assert Declaration.objects.count() == 0


def test_reading_the_board_never_writes(client_as: Any) -> None:
    client = client_as("viewer")
    for url in ("/crisis/", "/crisis/kiosk/", "/crisis/print/", "/crisis/changes/"):
        response = client.get(url)
        assert response.status_code == 200, url
    assert ServiceStatus.objects.count() == 0 and Board.objects.count() == 0
    text = client.get("/crisis/").content.decode()
    assert 'id="cell-cen-emergency"' in text  # computed on the spot, not stored


def test_the_probes_of_the_watching_app_feed_the_board(
    model: HospitalModel, client_as: Any
) -> None:
    from sentinelle.web.watch.models import ProbeStatus

    now = timezone.now()
    ProbeStatus.objects.create(
        probe="smtp-relay", component="external-email", site="", kind="smtp", target="x",
        state="up", since=now, reason="220 banner", checked=now,
    )  # fmt: skip
    ProbeStatus.objects.create(
        probe="lab-http", component="laboratory", site="snz", kind="http", target="x",
        state="down", since=now, reason="connection refused", checked=now,
    )  # fmt: skip
    ContainmentAction.objects.create(
        kind="cut", target="internet", state="taken", created_by=User.objects.create(role="admin")
    )
    refresh(model)
    email = status_of("nord", "external-email")  # a probe for every site speaks for nord
    assert (email.status, email.source) == ("operational", "seen")
    assert email.sources["disagree"] == [["predicted", "down", "seen", "up"]]
    lab = status_of("snz", "laboratory")
    assert (lab.status, lab.source) == ("down", "seen") and "connection refused" in lab.reason
    assert lab.sources["disagree"] == [["predicted", "up", "seen", "down"]]
    page = client_as("viewer").get("/crisis/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "predicted down, seen up" in page and "predicted up, seen down" in page


def test_declarations_and_changes_are_never_deleted(people: dict[str, User]) -> None:
    from sentinelle.web.accounts.models import AppendOnlyError

    row = Declaration.objects.create(
        site="cen", service="laboratory", status="down", reason="x", author=people["crisis"]
    )
    with pytest.raises(AppendOnlyError):
        row.delete()
    with pytest.raises(AppendOnlyError):
        Declaration.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        StatusChange.objects.all().delete()
