"""Every page as an administrator, with hostile event fields in the store: escaped, no inline
script or style (the Content-Security-Policy allows neither), security headers on every
response, a phone viewport and a print stylesheet."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from sentinelle.web.access import API_ROUTE, policy_of
from sentinelle.web.alerts.models import Alert
from sentinelle.web.incidents.models import Incident
from tests.web.conftest import discard
from tests.web.routes import walk

pytestmark = pytest.mark.django_db


class Hygiene(HTMLParser):
    """Collects what the CSP would block or what would run: inline scripts, style attributes,
    event handlers, ``javascript:`` links."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {k.lower(): v or "" for k, v in attrs}
        if tag == "script" and "src" not in names:
            self.problems.append("inline <script>")
        if tag == "style":
            self.problems.append("<style> element")
        if "style" in names:
            self.problems.append(f"style attribute on <{tag}>")
        for name, value in names.items():
            if name.startswith("on"):
                self.problems.append(f"{name} handler on <{tag}>")
            if name in ("href", "src", "action") and value.strip().lower().startswith(
                "javascript:"
            ):
                self.problems.append(f"javascript: URL in {name}")


def check_headers(response: Any) -> None:
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    # A kiosk screen's address is its secret: it sends no referrer at all, not even in.
    assert response["Referrer-Policy"] in ("same-origin", "no-referrer")
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def pages(alert: Alert, incident: Incident, extra: dict[str, Any] | None = None) -> list[str]:
    values = {"alert_id": alert.pk, "incident_id": incident.pk, "user_id": 1, **(extra or {})}
    out = []
    for route in walk():
        policy = policy_of(route.callback)
        if policy is API_ROUTE or route.name in {"static", "alerts:stream"}:
            continue
        if all(a in values for a in route.arguments):
            out.append(reverse(route.name, kwargs={a: values[a] for a in route.arguments}))
    return out


def hostile_rows(admin: Any, incident: Incident) -> dict[str, Any]:
    """The crisis room's and the watching pages' rows, holding what senders and probed servers
    control (host names from events, a server's answer in a probe's reason) or what a person
    typed; the sample values of their routes' arguments."""
    from datetime import timedelta

    from django.utils import timezone

    from sentinelle.web.crisis import board, chain
    from sentinelle.web.crisis.models import Declaration
    from sentinelle.web.watch.models import KnownGap, ProbeStatus, SourceRhythm
    from tests.web.conftest import HOSTILE
    from tests.web.crisis.world import crisis_world

    evil = HOSTILE["CommandLine"] + HOSTILE["Terminal"] + HOSTILE["Rtl"]
    values = crisis_world(admin, incident)  # its clock is the hostile incident's
    chain.append(admin, "information", evil)
    Declaration.objects.create(
        site="cen", service="laboratory", status="down", reason=evil, author=admin
    )
    board.refresh()
    SourceRhythm.objects.create(
        key=f"log|{evil}|Security", kind="log", host=evil, channel="Security",
        state="silent", reason=evil,
    )  # fmt: skip
    probe = ProbeStatus.objects.create(
        probe="dpi-web", component="patient-record", kind="http", target=HOSTILE["Url"],
        state="down", reason=f"HTTP 503 {evil}", last_reason=evil,
    )  # fmt: skip
    gap = KnownGap.objects.create(
        match=evil, reason=evil, author="ops", expires=timezone.now() + timedelta(days=1)
    )
    return {**values, "probe_id": probe.pk, "gap_id": gap.pk}


def test_every_page_is_clean_with_hostile_fields(
    client_as: Callable[[str], Client], hostile_alert: Alert, people: Any
) -> None:
    incident = Incident.objects.create(
        title='<script>alert("incident")</script>', hosts=["<img src=x onerror=alert(1)>"]
    )
    Alert.objects.filter(pk=hostile_alert.pk).update(incident=incident)
    extra = hostile_rows(people["admin"], incident)
    client = client_as("admin")
    seen = 0
    for url in pages(hostile_alert, incident, extra):
        response = client.get(url)
        check_headers(response)
        if response.status_code != 200 or "text/html" not in response["Content-Type"]:
            continue
        seen += 1
        html = response.content.decode()
        parser = Hygiene()
        parser.feed(html)
        assert not parser.problems, f"{url}: {parser.problems}"
        assert '<meta name="viewport"' in html and 'media="print"' in html
        for bad in ("<script>alert", "\u202e", "\x1b"):
            assert bad not in html, (
                url,
                bad,
                html[max(0, html.find(bad) - 300) : html.find(bad) + 80],
            )
    assert seen >= 25  # part 1's pages, the crisis room's and watching's
    page = client.get(reverse("alerts:detail", args=[hostile_alert.pk])).content.decode()
    assert "&lt;script&gt;alert(&quot;cmd&quot;)&lt;/script&gt;" in page
    assert "\\u202e" in page and "\\x1b" in page  # shown, not obeyed
    assert "more characters" in page  # the 1 MB value is cut
    assert len(page) < 400_000


def test_refusals_and_static_files_carry_the_headers_too(client: Client) -> None:
    for url in ("/alerts/", "/login/", "/static/sentinelle/app.js", "/nowhere/"):
        response = client.get(url)
        check_headers(response)
        discard(response)


def test_static_files_are_served_and_nothing_outside_them(client: Client) -> None:
    response = client.get("/static/sentinelle/app.js")
    assert response.status_code == 200
    assert b"EventSource" in response.content
    assert response["Content-Type"] == "text/javascript"
    since = response["Last-Modified"]
    assert client.get("/static/sentinelle/app.js", HTTP_IF_MODIFIED_SINCE=since).status_code == 304
    for bad in ("sentinelle/../../settings.py", "../settings.py", ".hidden", "sentinelle/nope.js"):
        assert client.get(f"/static/{bad}").status_code == 404


def test_language_switch_and_french_by_default(client_as: Callable[[str], Client]) -> None:
    client = client_as("viewer")
    assert "Alertes" in client.get("/alerts/").content.decode()
    client.post("/i18n/setlang/", {"language": "en", "next": "/alerts/"})
    assert "<h1>Alerts</h1>" in client.get("/alerts/").content.decode()


def test_static_assets_hold_no_external_reference() -> None:
    from pathlib import Path

    import sentinelle.web

    folder = Path(sentinelle.web.__file__).parent
    for path in [*folder.rglob("*.html"), *folder.rglob("*.css"), *folder.rglob("*.js")]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(src|href)=\"https?://(?!attack\.mitre\.org)", text), path
        assert "@import" not in text and "url(http" not in text, path


def test_the_whole_event_is_a_download(
    client_as: Callable[[str], Client], hostile_alert: Alert
) -> None:
    response = client_as("viewer").get(f"/alerts/{hostile_alert.pk}/event.json")
    assert response["Content-Disposition"].startswith("attachment;")
    import orjson

    data = orjson.loads(response.content)
    assert data["event"]["Huge"] == "A" * (1 << 20) and data["source"] == "\x1b[31m/evil#1"
