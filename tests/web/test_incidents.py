"""Incidents: opened by hand, tasks, notes, indicators (validated, exported as STIX 2.1 and as
MISP JSON), evidence files (size cap, hostile names, served only as downloads), merge and split,
impact and containment simulated through the impact engine, then recorded with who decided."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from sentinelle.hospital import assess, example_model_path, load_model
from sentinelle.web.accounts.models import AuditEntry, User
from sentinelle.web.alerts.models import Alert
from sentinelle.web.incidents.models import (
    ContainmentAction,
    Evidence,
    Incident,
    Indicator,
    Task,
)
from tests.web.conftest import discard

pytestmark = pytest.mark.django_db

STIX_ID = re.compile(
    r"^[a-z][a-z0-9-]+--[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)
STIX_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
# Required properties of the STIX 2.1 objects the export makes (STIX 2.1, sections 3.2, 4.5,
# 4.7, 8.1: the common ones, then each type's own).
REQUIRED = {
    "indicator": {"pattern", "pattern_type", "valid_from"},
    "grouping": {"context", "object_refs"},
}
COMMON = {"type", "spec_version", "id", "created", "modified"}


def check_stix_bundle(bundle: dict[str, Any]) -> None:
    assert bundle["type"] == "bundle" and STIX_ID.match(bundle["id"])
    assert bundle["id"].startswith("bundle--") and "spec_version" not in bundle
    ids = {o["id"] for o in bundle["objects"]}
    for obj in bundle["objects"]:
        missing = (COMMON | REQUIRED[obj["type"]]) - set(obj)
        assert not missing, f"{obj['type']} lacks {missing}"
        assert obj["spec_version"] == "2.1" and obj["id"].startswith(obj["type"] + "--")
        assert STIX_ID.match(obj["id"]), obj["id"]
        for name in ("created", "modified", "valid_from"):
            if name in obj:
                assert STIX_TIME.match(obj[name]), obj[name]
        if obj["type"] == "indicator":
            assert obj["pattern_type"] == "stix"
            assert re.fullmatch(r"\[[a-z0-9-]+:[\w.'-]+ = '(?:[^'\\]|\\.)*'\]", obj["pattern"])
        if obj["type"] == "grouping":
            assert obj["object_refs"] and set(obj["object_refs"]) <= ids


@pytest.fixture
def incident(people: dict[str, User], make_alert: Callable[..., Alert]) -> Incident:
    made = Incident.objects.create(title="Ransomware at Nord", origin="manual")
    make_alert(incident=made, host="pc-nord-001", tags=["attack.execution", "attack.t1059"])
    return made


def test_tasks_and_notes(client_as: Callable[[str], Client], incident: Incident) -> None:
    client = client_as("analyst")
    client.post(
        f"/incidents/{incident.pk}/tasks/",
        {"title": "Reimage the PC", "due": "2026-11-28T08:00"},
    )
    task = Task.objects.get()
    assert task.title == "Reimage the PC" and task.due is not None and task.state == "todo"
    client.post(f"/incidents/{incident.pk}/tasks/{task.pk}/", {"state": "done"})
    task.refresh_from_db()
    assert task.state == "done"
    client.post(f"/incidents/{incident.pk}/notes/", {"text": "Called the CERT <b>now</b>"})
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "Called the CERT &lt;b&gt;now&lt;/b&gt;" in page and "Reimage the PC" in page
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"task.create", "task.update", "note.create"} <= actions


def test_indicators_are_validated_and_exported(
    client_as: Callable[[str], Client], incident: Incident
) -> None:
    client = client_as("analyst")
    url = f"/incidents/{incident.pk}/indicators/"
    for kind, value in (("ipv4-addr", "999.1.1.1"), ("file:sha256", "abc"), ("url", "nope")):
        client.post(url, {"kind": kind, "value": value})
    assert not Indicator.objects.exists()
    good = [
        ("ipv4-addr", "203.0.113.7"),
        ("domain-name", "Evil.Example.com"),
        ("file:sha256", "A" * 64),
        ("url", "https://evil.example.com/a?b='c'"),
        ("user-account", "svc_backup"),
        ("process:command_line", "vssadmin delete shadows /all /quiet \\"),
    ]
    for kind, value in good:
        assert client.post(url, {"kind": kind, "value": value}).status_code == 302
    client.post(url, {"kind": "ipv4-addr", "value": "203.0.113.7"})  # twice: one row
    assert Indicator.objects.count() == len(good)
    assert Indicator.objects.get(kind="domain-name").value == "evil.example.com"
    stix = client.get(f"/incidents/{incident.pk}/export/stix/")
    assert stix["Content-Disposition"].startswith("attachment;")
    bundle = orjson.loads(stix.content)
    check_stix_bundle(bundle)
    patterns = {o["pattern"] for o in bundle["objects"] if o["type"] == "indicator"}
    assert "[file:hashes.'SHA-256' = '" + "a" * 64 + "']" in patterns
    assert "[url:value = 'https://evil.example.com/a?b=\\'c\\'']" in patterns
    assert "[process:command_line = 'vssadmin delete shadows /all /quiet \\\\']" in patterns
    again = orjson.loads(client.get(f"/incidents/{incident.pk}/export/stix/").content)
    assert [o["id"] for o in again["objects"]] == [o["id"] for o in bundle["objects"]]
    misp = orjson.loads(client.get(f"/incidents/{incident.pk}/export/misp/").content)["Event"]
    assert misp["info"] == "Ransomware at Nord" and len(misp["Attribute"]) == len(good)
    types = {a["type"] for a in misp["Attribute"]}
    assert {"ip-dst", "domain", "sha256", "url", "target-user", "text"} == types
    assert all({"uuid", "category", "value", "to_ids"} <= set(a) for a in misp["Attribute"])


def test_an_empty_export_is_still_a_valid_bundle(
    client_as: Callable[[str], Client], incident: Incident
) -> None:
    bundle = orjson.loads(client_as("viewer").get(f"/incidents/{incident.pk}/export/stix/").content)
    check_stix_bundle(bundle)
    assert bundle["objects"] == []


def test_evidence_is_stored_by_digest_and_served_only_as_a_download(
    client_as: Callable[[str], Client], incident: Incident, evidence_dir: Path
) -> None:
    client = client_as("analyst")
    html = b"<html><script>alert(document.cookie)</script></html>"
    upload = SimpleUploadedFile("../../../etc/cron.d/evil.html", html, content_type="text/html")
    client.post(f"/incidents/{incident.pk}/evidence/", {"file": upload})
    row = Evidence.objects.get()
    import hashlib

    assert row.sha256 == hashlib.sha256(html).hexdigest() and row.size == len(html)
    assert row.name == "evil.html"
    stored = evidence_dir / row.sha256[:2] / row.sha256
    assert stored.read_bytes() == html
    assert [p for p in evidence_dir.rglob("*") if p.is_file()] == [stored]
    response = client_as("viewer").get(f"/incidents/{incident.pk}/evidence/{row.pk}/")
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")
    assert 'filename="evil.html"' in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert b"".join(response.streaming_content) == html  # type: ignore[attr-defined]
    discard(response)


def test_oversized_evidence_is_refused_and_nothing_stays(
    client_as: Callable[[str], Client], incident: Incident, evidence_dir: Path, settings: Any
) -> None:
    settings.SENTINELLE_EVIDENCE_MAX_BYTES = 1000
    client = client_as("analyst")
    big = SimpleUploadedFile("big.bin", b"x" * 5000)
    client.post(f"/incidents/{incident.pk}/evidence/", {"file": big})
    just = SimpleUploadedFile("just.bin", b"x" * 1001)
    client.post(f"/incidents/{incident.pk}/evidence/", {"file": just})
    assert not Evidence.objects.exists()
    assert not [p for p in evidence_dir.rglob("*") if p.is_file()]


def test_merge_moves_everything_and_split_makes_a_new_incident(
    client_as: Callable[[str], Client], people: dict[str, User], make_alert: Callable[..., Alert]
) -> None:
    keep = Incident.objects.create(title="Kept")
    gone = Incident.objects.create(title="Absorbed")
    make_alert(incident=keep, host="pc-a")
    moved = [make_alert(incident=gone, host="pc-b") for _ in range(2)]
    Task.objects.create(incident=gone, title="t", created_by=people["admin"])
    Indicator.objects.create(
        incident=gone, kind="ipv4-addr", value="192.0.2.1", created_by=people["admin"]
    )
    Indicator.objects.create(
        incident=keep, kind="ipv4-addr", value="192.0.2.1", created_by=people["admin"]
    )
    client = client_as("analyst")
    assert client.post(f"/incidents/{gone.pk}/merge/", {"into": gone.pk}).status_code == 302
    gone.refresh_from_db()
    assert gone.status == "open"  # not into itself
    client.post(f"/incidents/{gone.pk}/merge/", {"into": keep.pk})
    gone.refresh_from_db()
    keep.refresh_from_db()
    assert gone.status == "merged" and gone.merged_into == keep
    assert keep.alerts.count() == 3 and keep.tasks.count() == 1 and keep.indicators.count() == 1
    assert keep.hosts == ["pc-a", "pc-b"]
    response = client.post(
        f"/incidents/{keep.pk}/split/", {"alert": [a.id for a in moved], "title": "Second wave"}
    )
    new = Incident.objects.get(title="Second wave")
    assert response["Location"] == f"/incidents/{new.pk}/"
    assert new.origin == "split" and new.alerts.count() == 2 and new.hosts == ["pc-b"]
    keep.refresh_from_db()
    assert keep.hosts == ["pc-a"]
    everything = [a.id for a in keep.alerts.all()]
    client.post(f"/incidents/{keep.pk}/split/", {"alert": everything})  # all: refused
    assert keep.alerts.count() == 1


def test_containment_is_simulated_with_the_impact_engine_then_recorded(
    client_as: Callable[[str], Client], incident: Incident, people: dict[str, User]
) -> None:
    client = client_as("analyst")
    page = client.get(f"/incidents/{incident.pk}/")
    assert (
        page.context["impact_counts"]
        == assess(load_model(example_model_path()), compromised=["pc-nord-001"]).counts()
    )
    client.post(f"/incidents/{incident.pk}/containment/", {"action": "cut:internet"})
    action = ContainmentAction.objects.get()
    assert action.state == "simulated" and action.kind == "cut" and action.target == "internet"
    model = load_model(example_model_path())
    base = assess(model, compromised=["pc-nord-001"])
    expected = assess(model, compromised=["pc-nord-001"], actions=["cut:internet"])
    changes = expected.changes_since(base)
    assert changes and len(action.impact["changes"]) == len(changes)
    assert {(c["site"], c["component"]) for c in action.impact["changes"]} == {
        (e.site, e.component) for _old, e in changes
    }
    shown = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert changes[0][1].name in shown
    client.post(f"/incidents/{incident.pk}/containment/{action.pk}/", {"decision": "take"})
    action.refresh_from_db()
    assert action.state == "taken" and action.decided_by == people["analyst"]
    assert action.decided_at is not None
    after = client.get(f"/incidents/{incident.pk}/")
    assert after.context["impact_counts"] == expected.counts()  # taken actions now count
    bad = client.post(f"/incidents/{incident.pk}/containment/", {"action": "cut:nothing"})
    assert bad.status_code == 302 and ContainmentAction.objects.count() == 1
    assert AuditEntry.objects.filter(action="containment.take").get().actor == "analyst-user"


def test_opening_an_incident_by_hand(client_as: Callable[[str], Client]) -> None:
    response = client_as("analyst").post("/incidents/new/", {"title": "Phishing wave"})
    made = Incident.objects.get()
    assert response["Location"] == f"/incidents/{made.pk}/" and made.origin == "manual"
    listed = client_as("viewer").get("/incidents/").content.decode()
    assert "Phishing wave" in listed
