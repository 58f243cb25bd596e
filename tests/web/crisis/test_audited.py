"""Every action of the crisis room appears in the audit trail: generated from the route table,
each route of the crisis app that takes writes is called once with a valid request, and the
trail must have grown by the action it names. A new write route without its sample here
fails, as a route without a policy fails the authorization matrix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from sentinelle.web.access import policy_of
from sentinelle.web.accounts.models import AuditEntry, User
from sentinelle.web.crisis import chain, clocks
from sentinelle.web.incidents.models import Incident
from tests.web.crisis.world import crisis_world
from tests.web.routes import walk

pytestmark = pytest.mark.django_db

WRITE_ROUTES = [
    route
    for route in walk()
    if route.name.startswith("crisis:")
    and (policy := policy_of(route.callback)) is not None
    and policy.write
]


def samples(
    world: dict[str, Any], people: dict[str, User]
) -> dict[str, tuple[dict[str, Any], str]]:
    """Route name -> (a valid form, the audit action it must write)."""
    return {
        "crisis:cell": ({"status": "down", "reason": "Flooded"}, "declaration.create"),
        "crisis:declaration-end": ({}, "declaration.end"),
        "crisis:log": ({"kind": "decision", "text": "Cut the internet"}, chain.APPEND_ACTION),
        "crisis:log-correct": ({"kind": "information", "text": "At 02:10"}, chain.APPEND_ACTION),
        "crisis:clock-settings": (
            {f"{key}-applies": "on" for key in clocks.KINDS if key != "gdpr"},
            "clock.rule",
        ),
        "crisis:clock": ({"facts": "Files encrypted on the file servers"}, "clock.draft"),
        "crisis:clock-sent": ({"how": "the ARS portal", "reference": "R-1"}, "clock.sent"),
        "crisis:significance": (
            {"reason": "Care disrupted", "clocks": ["nis2-early-warning"]},
            "incident.significant",
        ),
        "crisis:contacts": (
            {"role": "IT on call", "name": "B. Durand", "position": 5},
            "contact.create",
        ),
        "crisis:contact": (
            {"role": "Director on duty", "name": "C. Martin", "phones": "4401", "position": 1},
            "contact.update",
        ),
        "crisis:contact-retire": ({}, "contact.retire"),
        "crisis:screens": ({"name": "Urgences Nord"}, "screen.create"),
        "crisis:screen-revoke": ({}, "screen.revoke"),
        "crisis:members": ({"user": people["analyst"].pk}, "cell.add"),
        "crisis:member-remove": ({}, "cell.remove"),
    }


@pytest.fixture
def world(people: dict[str, User]) -> dict[str, Any]:
    incident = Incident.objects.create(title="Ransomware at Nord", origin="manual")
    return {"incident_id": incident.pk, **crisis_world(people["admin"], incident)}


def test_every_write_route_has_a_sample(world: dict[str, Any], people: dict[str, User]) -> None:
    missing = [r.name for r in WRITE_ROUTES if r.name not in samples(world, people)]
    assert not missing, f"crisis write routes without a sample here: {missing}"
    assert len(WRITE_ROUTES) >= 15


@pytest.mark.parametrize("route", WRITE_ROUTES, ids=lambda r: r.name)
def test_a_write_is_in_the_audit_trail(
    route: Any,
    world: dict[str, Any],
    people: dict[str, User],
    client_as: Callable[[str], Client],
) -> None:
    form, action = samples(world, people)[route.name]
    url = reverse(route.name, kwargs={a: world[a] for a in route.arguments})
    before = AuditEntry.objects.count()
    answer = client_as("admin").post(url, form)
    assert answer.status_code in (200, 302), (url, answer.status_code)
    written = list(AuditEntry.objects.order_by("pk")[before:].values_list("action", "actor"))
    assert (action, "admin-user") in written, (url, written)
