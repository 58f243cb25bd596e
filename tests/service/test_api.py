"""The read API: who may read, filters, cursor paging, the OpenAPI description; the probes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from sentinelle.web.accounts.models import ApiToken, User

pytestmark = pytest.mark.django_db


def make_alerts(n: int) -> None:
    from sentinelle.web.alerts.models import Alert

    start = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
    Alert.objects.bulk_create(
        Alert(
            id=f"{i:032x}",
            rule_id="r-high" if i % 2 else "r-low",
            rule_title=f"rule {i}",
            level="high" if i % 2 else "low",
            level_rank=3 if i % 2 else 1,
            timestamp=start + timedelta(minutes=i),
            created=start + timedelta(seconds=i // 3),  # ties on created: paging must hold
            event_id=f"{i:032x}",
            event={"n": i},
            site="cen" if i < 10 else "nord",
        )
        for i in range(25)
    )


def test_alerts_need_an_api_token_or_a_person() -> None:
    make_alerts(3)
    client = Client()
    assert client.get("/api/v1/alerts").status_code == 401
    _row, ingest = ApiToken.objects.create_token("beat", "ingest")
    assert client.get("/api/v1/alerts", HTTP_AUTHORIZATION=f"Bearer {ingest}").status_code == 403
    assert client.get("/api/v1/alerts", HTTP_AUTHORIZATION="Bearer snt_wrong").status_code == 401
    _row, api = ApiToken.objects.create_token("siem", "api")
    assert client.get("/api/v1/alerts", HTTP_AUTHORIZATION=f"Bearer {api}").status_code == 200
    viewer = User.objects.create_user("v", password="x" * 20, role="viewer")
    client.force_login(viewer)
    assert client.get("/api/v1/incidents").status_code == 200


def test_cursor_paging_gives_every_alert_once_in_order() -> None:
    make_alerts(25)
    _row, api = ApiToken.objects.create_token("siem", "api")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api}")
    seen: list[str] = []
    url = "/api/v1/alerts?limit=4"
    while True:
        page = client.get(url).json()
        seen += [item["id"] for item in page["items"]]
        if page["next"] is None:
            break
        url = f"/api/v1/alerts?limit=4&cursor={page['next']}"
    assert len(seen) == 25 and len(set(seen)) == 25
    first = client.get("/api/v1/alerts?limit=1").json()["items"][0]
    assert set(first) >= {"id", "rule_id", "rule_title", "level", "timestamp", "event_id", "event"}


def test_filters_combine() -> None:
    make_alerts(25)
    _row, api = ApiToken.objects.create_token("siem", "api")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api}")
    items = client.get("/api/v1/alerts?level=high&site=cen&limit=100").json()["items"]
    assert sorted(int(i["event"]["n"]) for i in items) == [1, 3, 5, 7, 9]
    items = client.get("/api/v1/alerts?rule=r-low&since=2026-11-27T22:20:00Z").json()["items"]
    assert sorted(int(i["event"]["n"]) for i in items) == [20, 22, 24]
    from sentinelle.web.alerts.models import Alert

    Alert.objects.filter(id__in=[f"{i:032x}" for i in (2, 3)]).update(status="acknowledged")
    items = client.get("/api/v1/alerts?status=acknowledged").json()["items"]
    assert sorted(int(i["event"]["n"]) for i in items) == [2, 3]
    assert len(client.get("/api/v1/alerts?status=new&limit=100").json()["items"]) == 23
    assert client.get("/api/v1/alerts?status=whatever").status_code == 422
    assert client.get("/api/v1/alerts?level=urgent").status_code == 422
    assert client.get("/api/v1/alerts?limit=0").status_code == 422
    assert client.get("/api/v1/alerts?cursor=%%%").status_code == 400
    assert client.get("/api/v1/incidents?cursor=Zm9v").status_code == 400


def test_openapi_description_lists_the_operations() -> None:
    schema = Client().get("/api/v1/openapi.json").json()
    assert {"/api/v1/alerts", "/api/v1/incidents"} <= set(schema["paths"])


def test_probes_answer_without_a_service_as_not_ready() -> None:
    client = Client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503
    assert client.get("/metrics").status_code == 200


def test_a_rule_reload_is_asked_by_an_admin_token_or_an_admin_session_with_csrf(
    tmp_path: object,
) -> None:
    """``POST /api/v1/rules/reload``: admin tokens and admin people only (a person's session
    with its CSRF token), audited; 503 where no detector runs beside the web app."""
    from pathlib import Path

    from sentinelle.service.config import ServeConfig
    from sentinelle.service.journal import Journal, JournalLimits
    from sentinelle.service.runner import Service
    from sentinelle.service.runtime import Runtime, install
    from sentinelle.web.accounts.models import AuditEntry

    assert isinstance(tmp_path, Path)
    url = "/api/v1/rules/reload"
    client = Client(enforce_csrf_checks=True)
    assert client.post(url).status_code == 401
    for role in ("ingest", "api"):
        _row, secret = ApiToken.objects.create_token(f"t-{role}", role)
        assert client.post(url, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 403
    _row, admin_token = ApiToken.objects.create_token("ops", "admin")
    for role in ("viewer", "analyst", "crisis"):
        person = User.objects.create_user(role, password="x" * 20, role=role)
        client.force_login(person)
        assert client.post(url).status_code == 403
    admin = User.objects.create_user("root", password="x" * 20, role="admin")
    client.force_login(admin)
    refused = client.post(url)
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    csrf = "k" * 32  # a CSRF secret: the cookie and the header must carry the same
    client.cookies["csrftoken"] = csrf
    assert client.post(url, HTTP_X_CSRFTOKEN="j" * 32).status_code == 403
    assert client.post(url, HTTP_X_CSRFTOKEN=csrf).status_code == 503  # no service here

    journal = Journal(tmp_path / "journal", JournalLimits(min_free_bytes=0))
    service = Service(ServeConfig(data_dir=str(tmp_path)))  # no detector process started
    runtime = Runtime(sink=journal, ready=True)
    runtime.extras.update(journal=journal, service=service)
    install(runtime)
    try:
        journal.submit([]).result()
        answer = client.post(url, HTTP_X_CSRFTOKEN=csrf)
        assert answer.status_code == 202 and answer.json()["status"] == "requested"
        token_answer = Client().post(url, HTTP_AUTHORIZATION=f"Bearer {admin_token}")
        assert token_answer.status_code == 202
    finally:
        install(None)
        journal.close()
    actors = list(AuditEntry.objects.filter(action="rules.reload").values_list("actor", flat=True))
    assert actors == ["root", "ops"]
