"""The REST API fuzzed from its own OpenAPI description (schemathesis) against the live app under
uvicorn: whatever the parameters, no 5xx, and no role gets past an operation's policy, with
and without a token of each role.

``/api/v1/openapi.json`` stays public: it describes the shape of the API, which the published
source describes too, and holds no data of the hospital; the operations it lists are what need
a token. Clients and tools (this test, client generators) read it before they have one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from sentinelle.service.config import ServeConfig
from sentinelle.service.journal import Journal, JournalLimits
from sentinelle.service.runner import Service
from sentinelle.web.accounts.models import ApiToken
from tests.service.harness import serving

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.network]

ROLES = ("ingest", "api", "admin")
# Who may call each operation: every operation of the description must be listed here, so a
# new one cannot go unfuzzed for its access.
ALLOWED = {
    ("GET", "/api/v1/alerts"): {"api"},
    ("GET", "/api/v1/incidents"): {"api"},
    ("POST", "/api/v1/rules/reload"): {"admin"},
}


def _store() -> None:
    from sentinelle.web.alerts.models import Alert
    from sentinelle.web.incidents.models import Incident

    incident = Incident.objects.create(title="Ransomware", key="k1", origin="live")
    start = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
    Alert.objects.bulk_create(
        Alert(
            id=f"{i:032x}",
            rule_id=f"r{i % 3}",
            rule_title=f"rule {i}",
            level="high",
            level_rank=3,
            timestamp=start + timedelta(minutes=i),
            event_id=f"{i:032x}",
            event={"n": i, "text": "é\u202e"},
            site="cen",
            incident=incident,
        )
        for i in range(30)
    )


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    _store()
    tokens = {role: ApiToken.objects.create_token(f"t-{role}", role)[1] for role in ROLES}
    journal = Journal(tmp_path / "journal", JournalLimits(min_free_bytes=0))
    service = Service(ServeConfig(data_dir=str(tmp_path)))  # reloads are asked, none started
    try:
        with serving(journal, journal=journal, service=service) as base:
            yield base, tokens
    finally:
        journal.close()


@pytest.fixture
def api_schema(live: tuple[str, dict[str, str]]) -> Any:
    base, _tokens = live
    return schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json")


def operations(api_schema: Any) -> list[Any]:
    return [result.ok() for result in api_schema.get_all_operations()]


def test_no_5xx_and_no_role_past_the_policy(
    api_schema: Any, live: tuple[str, dict[str, str]]
) -> None:
    base, tokens = live
    for operation in operations(api_schema):
        fuzz(operation, ALLOWED[(operation.method.upper(), operation.path)], base, tokens)


def fuzz(operation: Any, allowed: set[str], base: str, tokens: dict[str, str]) -> None:
    """Generated requests of one operation, sent as nobody and as each token role."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case: Any) -> None:
        for role in (None, *ROLES):
            headers = {"Authorization": f"Bearer {tokens[role]}"} if role else {}
            response = case.call(base_url=base, headers=headers)
            where = f"{case.method} {case.formatted_path} {case.query} as {role or 'nobody'}"
            assert response.status_code < 500, f"{where}: {response.status_code} {response.text}"
            if role in allowed:
                assert response.status_code not in (401, 403), where
            else:
                assert response.status_code == (401 if role is None else 403), where

    check()


def test_every_operation_is_fuzzed_for_its_access(api_schema: Any) -> None:
    assert {(op.method.upper(), op.path) for op in operations(api_schema)} == set(ALLOWED)
