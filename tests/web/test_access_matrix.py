"""Authorization, generated from the route table: every route x every role, every token role
and anonymous, for reading and writing, against the policy the route's view declares.

A route without a policy fails here. Reading never changes the store; a state-changing request
without its CSRF token is refused on every route that accepts writes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from sentinelle.web.access import API_ROUTE, Policy, Principal, policy_of
from sentinelle.web.accounts.models import ApiToken, User
from sentinelle.web.alerts.models import Alert, Suppression
from sentinelle.web.incidents import evidence
from sentinelle.web.incidents.models import (
    ContainmentAction,
    Evidence,
    Incident,
    Indicator,
    Task,
)
from sentinelle.web.watch.models import KnownGap, ProbeStatus
from tests.web.conftest import ROLES, discard
from tests.web.crisis.world import crisis_world
from tests.web.routes import Route, walk

pytestmark = pytest.mark.django_db

ROUTES = [r for r in walk() if policy_of(r.callback) is not API_ROUTE]
TOKEN_ROLES = ("ingest", "api", "admin")


@pytest.fixture
def world(
    people: dict[str, User], make_alert: Callable[..., Alert], evidence_dir: Any
) -> dict[str, Any]:
    """One of everything a route can name."""
    admin = people["admin"]
    incident = Incident.objects.create(title="Ransomware at Nord", origin="manual")
    alert = make_alert(incident=incident)
    task = Task.objects.create(incident=incident, title="Reimage PC", created_by=admin)
    indicator = Indicator.objects.create(
        incident=incident, kind="ipv4-addr", value="203.0.113.7", created_by=admin
    )
    sha, size = evidence.store(SimpleUploadedFile("a.txt", b"evidence"), 1 << 20)
    proof = Evidence.objects.create(
        incident=incident, name="a.txt", sha256=sha, size=size, uploaded_by=admin
    )
    action = ContainmentAction.objects.create(
        incident=incident, kind="cut", target="internet", created_by=admin
    )
    suppression = Suppression.objects.create(rule_id="r", reason="noisy", author=admin)
    probe = ProbeStatus.objects.create(probe="dpi-web", component="patient-record", kind="http",
                                       target="https://dpi.chu-loire.example/")  # fmt: skip
    gap = KnownGap.objects.create(match="dc-snz01", reason="rebuilt", author="ops",
                                  expires=timezone.now() + timedelta(days=1))  # fmt: skip
    token, _secret = ApiToken.objects.create_token("probe", "api")
    tokens = {role: ApiToken.objects.create_token(f"t-{role}", role)[1] for role in TOKEN_ROLES}
    crisis = crisis_world(admin, incident)
    return {
        "values": {
            **crisis,
            "user_id": people["viewer"].pk,
            "token_id": token.pk,
            "incident_id": incident.pk,
            "alert_id": alert.pk,
            "task_id": task.pk,
            "indicator_id": indicator.pk,
            "evidence_id": proof.pk,
            "action_id": action.pk,
            "suppression_id": suppression.pk,
            "probe_id": probe.pk,
            "gap_id": gap.pk,
            "path": "sentinelle/app.css",
            "index": "winlogbeat-8.19.0",  # the ingest app's Elasticsearch routes
            "rest": "_ilm/policy/winlogbeat",
        },
        "tokens": tokens,
        "people": people,
    }


def url_of(route: Route, values: dict[str, Any]) -> str:
    missing = [a for a in route.arguments if a not in values]
    assert not missing, f"{route.name}: the matrix has no sample value for {missing}"
    kwargs = {a: values[a] for a in route.arguments}
    return reverse(route.name, kwargs=kwargs)


def fingerprint() -> str:
    """The store's content (all our models), less what reading may touch (sessions, token use,
    the lockout tables)."""
    digest = hashlib.sha256()
    for model in apps.get_models():
        label = model._meta.label_lower
        if label.startswith(("sessions.", "axes.", "contenttypes.", "auth.")):
            continue
        for row in model.objects.order_by("pk").values():  # type: ignore[attr-defined]
            row.pop("last_used", None)
            row.pop("last_login", None)
            digest.update(repr(sorted(row.items())).encode())
    return digest.hexdigest()


def principals(world: dict[str, Any]) -> list[tuple[Principal, Client]]:
    out: list[tuple[Principal, Client]] = [(Principal("anonymous", "", None), Client())]
    for role in ROLES:
        client = Client()
        client.force_login(world["people"][role])
        out.append((Principal("user", role, role), client))
    for role in TOKEN_ROLES:
        client = Client(HTTP_AUTHORIZATION=f"Bearer {world['tokens'][role]}")
        out.append((Principal("token", role, role), client))
    return out


def refused(response: Any, principal: Principal, method: str) -> bool:
    if response.status_code in (401, 403):
        return True
    location = response.get("Location", "") if response.status_code == 302 else ""
    return principal.is_anonymous and method == "GET" and location.startswith("/login/")


def test_every_route_declares_a_policy() -> None:
    missing = [r.pattern for r in ROUTES if policy_of(r.callback) is None]
    assert not missing, f"routes without an access policy: {missing}"
    assert len(ROUTES) > 30


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_route_answers_each_principal_as_its_policy_says(
    route: Route, world: dict[str, Any]
) -> None:
    policy = policy_of(route.callback)
    assert isinstance(policy, Policy), f"{route.pattern} declares no access policy"
    url = url_of(route, world["values"])
    for principal, client in principals(world):
        for method in ("GET", "POST"):
            before = fingerprint() if method == "GET" else ""
            response = client.get(url) if method == "GET" else client.post(url, {})
            discard(response)
            allowed = policy.allows(principal, method)
            if principal.kind == "user" and route.name == "accounts:logout" and method == "POST":
                client.force_login(world["people"][principal.role or "viewer"])
            assert refused(response, principal, method) is not allowed, (
                f"{method} {url} as {principal.kind} {principal.role}:"
                f" {response.status_code}, policy allows={allowed}"
            )
            if method == "GET":
                assert fingerprint() == before, f"GET {url} as {principal.role} changed the store"


WRITE_ROUTES = [
    r
    for r in ROUTES
    if (p := policy_of(r.callback)) is not None and (p.write or p.public) and r.name != "static"
]


@pytest.mark.parametrize("route", WRITE_ROUTES, ids=lambda r: r.name)
def test_state_changing_route_refuses_a_request_without_csrf_token(
    route: Route, world: dict[str, Any]
) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world["people"]["admin"])
    before = fingerprint()
    response = client.post(url_of(route, world["values"]), {"title": "x", "action": "acknowledge"})
    assert response.status_code == 403, f"{route.name}: {response.status_code}"
    assert fingerprint() == before
