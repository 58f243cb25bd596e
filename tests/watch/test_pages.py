"""Watching's pages: probes and their history, sources and known gaps, coverage."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from sentinelle.web.watch import views
from sentinelle.web.watch.models import (
    KnownGap,
    ProbeDay,
    ProbeFlip,
    ProbeStatus,
    SeenFields,
    SourceRhythm,
)

pytestmark = pytest.mark.django_db


def test_probes_page_shows_states_uptime_and_history(client_as: Callable[[str], Client]) -> None:
    now = timezone.now()
    ProbeStatus.objects.create(
        probe="urg-snz", component="emergency", site="snz", kind="http",
        target="http://urg-snz01/status", state="down", since=now, checked=now,
        last_status="down", last_reason="HTTP 503 \x1b[31mred\u202e", reason="HTTP 503",
    )  # fmt: skip
    ProbeDay.objects.create(
        probe="urg-snz", component="emergency", site="snz", day=now.date(), up=3, down=1
    )  # fmt: skip  (a UTC day)
    ProbeFlip.objects.create(probe="urg-snz", component="emergency", site="snz", old="up",
                             new="down", at=now, reason="HTTP 503")  # fmt: skip
    viewer = client_as("viewer")
    page = viewer.get("/watch/probes/").content.decode()
    assert "urg-snz" in page and "emergency@snz" in page and "75%" in page
    assert "<h1>Sondes</h1>" in page  # French first, as the rest of the crisis room
    assert "\x1b" not in page and "\u202e" not in page  # made visible, never passed through
    history = viewer.get("/watch/probes/urg-snz/").content.decode()
    assert "HTTP 503" in history and ">up<" in history.replace("</td>", "<")
    assert viewer.get("/watch/probes/nope/").status_code == 404


def test_sources_page_and_known_gaps(client_as: Callable[[str], Client]) -> None:
    from sentinelle.web.accounts.models import AuditEntry

    SourceRhythm.objects.create(key="log|dc-snz01|security", kind="log", host="dc-snz01",
                                channel="Security", site="snz", state="silent",
                                reason="silent since 10:00")  # fmt: skip
    SourceRhythm.objects.create(key="log|pc-1|syslog", kind="log", host="pc-1", state="ok")
    analyst = client_as("analyst")
    page = analyst.get("/watch/sources/?state=silent").content.decode()
    assert "dc-snz01" in page and "pc-1" not in page and "silent (1)" in page
    made = analyst.post(
        "/watch/sources/gaps/", {"match": "pc-cht-*", "duration": "2d", "reason": "move"}
    )
    assert made.status_code == 302
    gap = KnownGap.objects.get(match="pc-cht-*")
    assert gap.author == "analyst-user"
    assert timedelta(days=1, hours=23) < gap.expires - timezone.now() <= timedelta(days=2)
    assert AuditEntry.objects.filter(action="gap.create").count() == 1
    bad = analyst.post("/watch/sources/gaps/", {"match": "*", "duration": "2d", "reason": "x"})
    assert bad.status_code == 302 and KnownGap.objects.count() == 1
    assert (
        client_as("viewer")
        .post("/watch/sources/gaps/", {"match": "a", "duration": "1h", "reason": "x"})
        .status_code
        == 403
    )
    analyst.post(f"/watch/sources/gaps/{gap.pk}/revoke/")
    gap.refresh_from_db()
    assert gap.revoked is not None
    assert AuditEntry.objects.filter(action="gap.revoke").count() == 1


def test_coverage_page(client_as: Callable[[str], Client], rule_folder: Path) -> None:
    (rule_folder / "logon.yml").write_text(
        "title: Network logon\nid: 00000000-0000-4000-8000-0000000000d1\nstatus: test\n"
        "level: low\ntags: [attack.t1078]\nlogsource: {product: windows, service: security}\n"
        "detection:\n  selection: {EventID: 4624, LogonType: 3}\n  condition: selection\n"
    )
    (rule_folder / "dns.yml").write_text(
        "title: DNS query to a paste site\nid: 00000000-0000-4000-8000-0000000000d2\n"
        "status: test\nlevel: low\ntags: [attack.t1102]\n"
        "logsource: {product: windows, category: dns_query}\n"
        "detection:\n  selection: {QueryName|endswith: pastebin.com}\n  condition: selection\n"
    )
    SeenFields.objects.create(channel="security", event_id=4624, fields=["LogonType"], events=12)
    views._COVERAGE.clear()
    page = client_as("viewer").get("/watch/coverage/").content.decode()
    views._COVERAGE.clear()
    assert "1 règles sur 2 peuvent se déclencher sur les 12 événements reçus" in page
    assert "T1078" in page and "T1102" in page and "Sysmon" in page
