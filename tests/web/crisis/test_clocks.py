"""Significance and the regulatory clocks: only the crisis cell (role or seat) declares an
incident significant; the clocks it starts, their deadlines, drafts prefilled from the incident,
marked sent, exported; the establishment's settings decide which start."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
from django.utils import timezone

from sentinelle.web.accounts.models import AuditEntry, User
from sentinelle.web.crisis import board, clocks
from sentinelle.web.crisis.models import Clock, ClockRule, LogEntry
from sentinelle.web.incidents.models import ContainmentAction, Incident

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(people: dict[str, User]) -> Incident:
    from sentinelle.web.sources import hospital_model

    host = hospital_model().hosts_for_service("patient-record")[0]
    found = Incident.objects.create(
        title="Ransomware", hosts=[host], severity="critical", summary="Files encrypted on DPI"
    )
    ContainmentAction.objects.create(
        incident=found,
        kind="cut",
        target="internet",
        state="taken",
        decided_at=timezone.now(),
        decided_by=people["crisis"],
        created_by=people["crisis"],
    )
    board.refresh()
    return found


def declare(client: Any, incident: Incident, **extra: Any) -> Any:
    data = {"reason": "patient care disrupted at two sites", **extra}
    if "clocks" not in extra:
        data["clocks"] = list(clocks.KINDS)
    return client.post(f"/crisis/incidents/{incident.pk}/significant/", data)


def test_only_the_crisis_cell_declares_significance(
    client_as: Any, login: Any, seated_analyst: User, incident: Incident
) -> None:
    for role in ("viewer", "analyst"):
        assert declare(client_as(role), incident).status_code == 403
    assert Clock.objects.count() == 0 and not Incident.objects.get().significant_at
    assert declare(login(seated_analyst), incident).status_code == 302
    found = Incident.objects.get()
    assert found.significant_by == seated_analyst and found.significant_at is not None
    # Once only.
    declare(client_as("crisis"), incident)
    assert Clock.objects.count() == len(clocks.KINDS)


def test_the_clocks_their_deadlines_and_the_log(
    client_as: Any, incident: Incident, people: dict[str, User]
) -> None:
    assert declare(client_as("crisis"), incident).status_code == 302
    started = Incident.objects.get().significant_at
    assert started is not None
    due = {c.kind: c.due - started for c in Clock.objects.all()}
    assert due["health-authority"] == timedelta(0)
    assert due["gdpr"] == due["nis2-notification"] == timedelta(hours=72)
    assert due["nis2-early-warning"] == timedelta(hours=24)
    assert timedelta(days=31) <= due["nis2-final-report"] <= timedelta(days=34)
    decision = LogEntry.objects.get(kind="decision")
    assert decision.incidents == [incident.pk] and "significant" in decision.text
    assert AuditEntry.objects.filter(action="incident.significant").count() == 1
    assert AuditEntry.objects.filter(action="clock.start").count() == 5

    # The board and the clocks page show them with the time left.
    page = client_as("viewer").get("/crisis/").content.decode()
    assert 'id="board-clocks"' in page and "NIS2" in page and "data-due=" in page


def test_a_draft_is_prefilled_completed_sent_and_exported(
    client_as: Any, incident: Incident, people: dict[str, User]
) -> None:
    declare(client_as("crisis"), incident)
    gdpr = Clock.objects.get(kind="gdpr")
    draft = gdpr.draft
    assert "Ransomware" in draft["facts"] and "Files encrypted" in draft["facts"]
    assert "cut:internet" in draft["containment"] and "crisis-user" in draft["containment"]
    assert "Dossier patient" in draft["scope"] and "Hôpital Central" in draft["scope"]
    assert "Dossier patient" in draft["data"]

    client = client_as("crisis")
    fields = {**draft, "data": "Identity and health data of about 1,200 patients"}
    assert client.post(f"/crisis/clocks/{gdpr.pk}/", fields).status_code == 302
    assert Clock.objects.get(pk=gdpr.pk).draft["data"].startswith("Identity and health")
    # Viewers read it, never change it.
    assert client_as("viewer").get(f"/crisis/clocks/{gdpr.pk}/").status_code == 200
    assert client_as("viewer").post(f"/crisis/clocks/{gdpr.pk}/", fields).status_code == 403

    printed = client_as("viewer").get(f"/crisis/clocks/{gdpr.pk}/print/").content.decode()
    assert "Identity and health data" in printed and "CNIL" in printed
    exported = orjson.loads(
        client_as("viewer").get(f"/crisis/clocks/{gdpr.pk}/export.json").content
    )
    assert exported["draft"]["data"].startswith("Identity") and exported["sent"] is None

    response = client.post(
        f"/crisis/clocks/{gdpr.pk}/sent/", {"how": "notifications.cnil.fr", "reference": "N-42"}
    )
    assert response.status_code == 302
    sent = Clock.objects.get(pk=gdpr.pk)
    assert sent.sent is not None and sent.sent_by == people["crisis"]
    assert (sent.sent_how, sent.sent_reference) == ("notifications.cnil.fr", "N-42")
    assert LogEntry.objects.filter(kind="communication", text__contains="N-42").exists()
    assert AuditEntry.objects.filter(action="clock.sent").count() == 1


def test_the_final_report_counts_from_the_notification_sent(
    client_as: Any, incident: Incident
) -> None:
    declare(client_as("crisis"), incident)
    notification = Clock.objects.get(kind="nis2-notification")
    when = timezone.localtime() - timedelta(hours=10)
    client_as("crisis").post(
        f"/crisis/clocks/{notification.pk}/sent/",
        {"how": "portal", "sent": when.strftime("%Y-%m-%dT%H:%M")},
    )
    sent = Clock.objects.get(pk=notification.pk).sent
    final = Clock.objects.get(kind="nis2-final-report")
    assert sent is not None and final.due == clocks.add_month(sent)


def test_the_establishment_decides_which_clocks_apply(client_as: Any, incident: Incident) -> None:
    form = {}
    for key, rule in clocks.rules().items():
        form[f"{key}-applies"] = "on" if not key.startswith("nis2") else ""
        form[f"{key}-authority"] = rule["authority"]
        form[f"{key}-channel"] = rule["channel"]
    assert client_as("crisis").post("/crisis/clocks/settings/", form).status_code == 403
    assert client_as("admin").post("/crisis/clocks/settings/", form).status_code == 302
    assert set(ClockRule.objects.filter(applies=False).values_list("kind", flat=True)) == {
        "nis2-early-warning",
        "nis2-notification",
        "nis2-final-report",
    }
    page = client_as("crisis").get(f"/crisis/incidents/{incident.pk}/significant/")
    text = page.content.decode()
    assert 'value="gdpr" checked' in text.replace("\n", " ") or 'value="gdpr"' in text
    # The declaring form sends only what is ticked: NIS2 ones are not.
    declare(client_as("crisis"), incident, clocks=["health-authority", "gdpr"])
    assert set(Clock.objects.values_list("kind", flat=True)) == {"health-authority", "gdpr"}


def test_month_arithmetic() -> None:
    from datetime import datetime

    assert clocks.add_month(datetime(2026, 1, 31, 2, 0)) == datetime(2026, 2, 28, 2, 0)
    assert clocks.add_month(datetime(2026, 12, 15)) == datetime(2027, 1, 15)
