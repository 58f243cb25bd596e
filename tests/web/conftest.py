"""Fixtures of the web app's tests: one person per role, alerts (some hostile), a client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.http import FileResponse
from django.test import Client
from django.utils import timezone

from sentinelle.detections import level_rank
from sentinelle.service.ids import alert_id
from sentinelle.web.access import Role
from sentinelle.web.accounts.models import User
from sentinelle.web.alerts.models import Alert

PASSWORD = "a long enough passphrase 42"
ROLES = [r.value for r in Role]

# What an attacker puts in the fields the pages show.
HOSTILE = {
    "CommandLine": '<script>alert("cmd")</script><img src=x onerror=alert(1)>',
    "TargetUserName": '"><svg onload=alert(2)>',
    "Url": "javascript:alert(3)",
    "Terminal": "\x1b]0;owned\x07\x1b[2J",
    "Rtl": "invoice\u202egpj.exe",
    "Huge": "A" * (1 << 20),
}


@pytest.fixture
def people(db: Any) -> dict[str, User]:
    return {
        role: User.objects.create_user(f"{role}-user", password=PASSWORD, role=role)
        for role in ROLES
    }


@pytest.fixture
def client_as(people: dict[str, User]) -> Callable[[str], Client]:
    def make(role: str) -> Client:
        client = Client()
        client.force_login(people[role])
        return client

    return make


_counter = iter(range(1, 1 << 30))


def new_alert(**fields: Any) -> Alert:
    """An alert as the detector stores it (deterministic id from its rule and event)."""
    n = next(_counter)
    level = fields.pop("level", "high")
    rule_id = fields.pop("rule_id", f"rule-{n % 3}")
    event_id = fields.pop("event_id", f"{n:032x}")
    now = timezone.now()
    defaults: dict[str, Any] = {
        "id": alert_id(rule_id, event_id),
        "rule_id": rule_id,
        "rule_title": f"Suspicious thing {n}",
        "level": level,
        "level_rank": level_rank(level),
        "tags": ["attack.execution", "attack.t1059.001"],
        "timestamp": now - timedelta(seconds=n),
        "created": now,
        "event_id": event_id,
        "event": {"Computer": "PC-NORD-001", "CommandLine": "whoami /all"},
        "source": "/logs/Security.evtx#42",
        "input": "folder",
        "host": "pc-nord-001",
        "account": "jdupont",
        "site": "nord",
    }
    defaults.update(fields)
    return Alert.objects.create(**defaults)


@pytest.fixture
def make_alert(db: Any) -> Callable[..., Alert]:
    return new_alert


@pytest.fixture
def hostile_alert(db: Any) -> Alert:
    return new_alert(
        rule_title='<script>alert("title")</script>\u202eevil',
        event=dict(HOSTILE),
        host="<b onmouseover=alert(4)>host</b>",
        account="javascript:alert(5)",
        source="\x1b[31m/evil#1",
    )


@pytest.fixture
def evidence_dir(tmp_path: Path, settings: Any) -> Path:
    folder = tmp_path / "evidence"
    settings.MEDIA_ROOT = folder
    return folder


@pytest.fixture
def rule_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A rule set of its own for the rule lookup (the web app reads SENTINELLE_RULES once)."""
    from sentinelle.web import sources

    folder = tmp_path / "rules"
    folder.mkdir()
    monkeypatch.setenv("SENTINELLE_RULES", str(folder))
    sources.rule_index.cache_clear()
    yield folder
    sources.rule_index.cache_clear()


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    """Argon2 with its production cost takes a tenth of a second a hash; tests make hundreds.
    (test_accounts checks that production settings use Argon2.)"""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def discard(response: Any) -> None:
    """Read a file response to its end, which closes its file the way the test client means
    it to. Not ``response.close()``: that sends request_finished, whose handler closes the
    database connection (on PostgreSQL, and the test's transaction with it)."""
    if isinstance(response, FileResponse):
        for _chunk in response.streaming_content:  # type: ignore[union-attr]
            pass


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    """The triage list keeps its counts a few seconds (per process): not from one test to the
    next."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
