"""The impact engine's reasons reach pages in the reader's language: the engine explains an entry
as data (``ImpactEntry.explanation``, causes of known kinds), the web app words it with gettext
when it renders (``sentinelle.web.reasons``); the English it stores and the engine's own English
are the same words."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone, translation

from sentinelle.hospital import HospitalModel, assess
from sentinelle.hospital.report import CAUSE_TEXT, Cause, CauseKind
from sentinelle.web import reasons
from sentinelle.web.accounts.models import User
from sentinelle.web.crisis import live
from sentinelle.web.crisis.board import refresh
from sentinelle.web.incidents.models import ContainmentAction, Incident

pytestmark = pytest.mark.django_db

# One example of each kind's arguments.
ARGS: dict[CauseKind, dict[str, str]] = {
    CauseKind.HOST_UNAVAILABLE: {"host": "pc-12"},
    CauseKind.HOSTS_UNAVAILABLE: {"count": "3", "hosts": "pc-1, pc-2, pc-3"},
    CauseKind.HOST_DEGRADED: {"host": "pc-12"},
    CauseKind.HOST_COMPROMISED: {"host": "pc-12"},
    CauseKind.ASSET_UNAVAILABLE: {"asset": "lab-servers"},
    CauseKind.ASSET_DEGRADED: {"asset": "lab-servers"},
    CauseKind.ASSET_COMPROMISED: {"asset": "lab-servers"},
    CauseKind.SITE_ISOLATED: {"action": "isolate:nord"},
    CauseKind.CUT: {"action": "cut:internet"},
    CauseKind.STOPPED: {"action": "stop:lab-servers"},
    CauseKind.NO_INSTANCE: {"component": "pacs", "site": "nord"},
    CauseKind.SOFT_DEPENDENCY: {"component": "ris", "dependency": "pacs"},
}


def test_every_cause_is_worded_in_both_languages_with_the_engines_english() -> None:
    assert set(CAUSE_TEXT) == set(CauseKind) == set(reasons.CAUSES)
    for kind in CauseKind:
        cause = Cause.of(kind, **ARGS.get(kind, {}))
        with translation.override("en"):
            english = reasons.cause_text(cause.to_dict())
        with translation.override("fr"):
            french = reasons.cause_text(cause.to_dict())
        assert english == cause.text, kind
        assert french != english, f"{kind} has no French text"
        for value in ARGS.get(kind, {}).values():
            assert value in french, (kind, french)


def test_the_webs_english_is_the_engines_for_every_entry(model: HospitalModel) -> None:
    report = assess(
        model,
        compromised=[model.hosts_for_service("patient-record")[0]],
        actions=["cut:internet", "isolate:cht"],
    )
    shown = [e for e in report.entries if e.state.value != "operational"]
    assert len(shown) > 20 and any(e.note for e in shown) and any(e.at_risk for e in shown)
    with translation.override("en"):
        for entry in report.entries:
            assert reasons.impact_text(entry.explanation()) == entry.reason


def _page(client: Client, url: str, language: str) -> str:
    client.cookies["django_language"] = language
    response = client.get(url)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_the_board_says_why_in_french(model: HospitalModel, people: dict[str, User]) -> None:
    host = model.hosts_for_service("patient-record")[0]
    incident = Incident.objects.create(title="Ransomware", hosts=[host])
    ContainmentAction.objects.create(
        incident=incident, kind="cut", target="internet", state="taken",
        decided_at=timezone.now(), created_by=people["admin"],
    )  # fmt: skip
    refresh(model)
    client = Client()
    client.force_login(people["viewer"])
    for url in ("/crisis/", "/crisis/changes/", "/crisis/cell/nord/external-email/"):
        french = _page(client, url, "fr")
        assert "coupé par l'action de confinement cut:internet" in french, url
        assert "cut by containment action" not in french, url
        english = _page(client, url, "en")
        assert "cut by containment action cut:internet" in english, url
    assert f"hôte {host} compromis" in _page(client, "/crisis/cell/cen/patient-record/", "fr")
    assert f"host {host} compromised" in _page(client, "/crisis/cell/cen/patient-record/", "en")
    # The live feed renders each changed cell in both languages.
    (update,), _revision = live.poll(0)
    french_cells = [html.unescape(by_language["fr"]) for _site, by_language in update.cells]
    english_cells = [html.unescape(by_language["en"]) for _site, by_language in update.cells]
    assert any("coupé par l'action de confinement" in cell for cell in french_cells)
    assert not any("cut by containment action" in cell for cell in french_cells)
    assert any("cut by containment action" in cell for cell in english_cells)


def test_the_incident_page_says_why_in_french(
    model: HospitalModel, people: dict[str, User], login: Any
) -> None:
    host = model.hosts_for_service("patient-record")[0]
    incident = Incident.objects.create(title="Ransomware", hosts=[host])
    client = login(people["analyst"])
    client.post(f"/incidents/{incident.pk}/containment/", {"action": "cut:internet"})
    assert ContainmentAction.objects.filter(incident=incident).count() == 1
    french = _page(client, f"/incidents/{incident.pk}/", "fr")
    assert f"hôte {host} compromis" in french  # the current impact
    assert "coupé par l'action de confinement cut:internet" in french  # the simulated cut
    assert "cut by containment action" not in french and f"host {host}" not in french
    english = _page(client, f"/incidents/{incident.pk}/", "en")
    assert f"host {host} compromised" in english
