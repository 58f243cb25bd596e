"""The triage list (filters, counts, keyset paging in every order), an alert's page (rule YAML
found by id, ATT&CK links, the model, related alerts), triage actions one by one and in bulk,
suppressions; every change audited."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from sentinelle.web.accounts.models import AuditEntry, User
from sentinelle.web.alerts.models import Alert, Suppression
from sentinelle.web.alerts.triage import SORTS, AlertQuery
from sentinelle.web.incidents.models import Incident
from sentinelle.web.paging import BadCursor, decode_cursor, keyset_page

pytestmark = pytest.mark.django_db


def ids_on(client: Client, url: str) -> tuple[list[str], str]:
    """The alert ids a list page shows, and its next page's query."""
    response = client.get(url)
    assert response.status_code == 200
    page = response.context["page"]
    return [a.id for a in page.items], page.next_query


def test_filters_and_counts_per_value(
    client_as: Callable[[str], Client], make_alert: Callable[..., Alert]
) -> None:
    for level in ("high", "high", "low"):
        make_alert(level=level, site="nord")
    make_alert(level="critical", site="sud", host="srv-sud-01")
    client = client_as("viewer")
    response = client.get("/alerts/?level=high")
    assert {a.level for a in response.context["page"].items} == {"high"}
    facets = response.context["facets"]
    assert dict(facets["level"]) == {"high": 2, "low": 1, "critical": 1}  # others' filters only
    assert dict(facets["site"]) == {"nord": 2}
    response = client.get("/alerts/?site=sud")
    assert [a.host for a in response.context["page"].items] == ["srv-sud-01"]
    since = (timezone.now() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    assert client.get(f"/alerts/?since={since}").context["page"].items == []


@pytest.mark.parametrize("sort", list(SORTS))
def test_keyset_paging_visits_every_alert_once_in_every_order(
    sort: str, make_alert: Callable[..., Alert]
) -> None:
    moment = timezone.now()
    made = set()
    for n in range(23):
        # Ties on every key but the id, and events without a time, are the hard cases.
        made.add(
            make_alert(
                created=moment - timedelta(seconds=n // 4),
                timestamp=None if n % 5 == 0 else moment - timedelta(seconds=n // 3),
                level=("low", "high", "critical")[n % 3],
            ).id
        )
    query = AlertQuery(sort=sort)
    seen: list[str] = []
    cursor = None
    while True:
        page = keyset_page(query.queryset(), query.keys, cursor, 5)
        seen.extend(a.id for a in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)) == len(made) and set(seen) == made
    everything = list(query.queryset().order_by(*(k.order() for k in query.keys)))
    assert seen == [a.id for a in everything]


def test_a_tampered_cursor_is_refused(client_as: Callable[[str], Client]) -> None:
    with pytest.raises(BadCursor):
        decode_cursor("W3siIjoxfV0:forged", 2)
    response = client_as("viewer").get("/alerts/?cursor=abc:def&level=high")
    assert response.status_code == 302 and response["Location"] == "/alerts/?level=high"


def test_the_list_pages_through_the_view(
    client_as: Callable[[str], Client], make_alert: Callable[..., Alert]
) -> None:
    for _ in range(60):
        make_alert()
    client = client_as("viewer")
    first, next_query = ids_on(client, "/alerts/")
    second, last_query = ids_on(client, f"/alerts/?{next_query}")
    assert len(first) == 50 and len(second) == 10 and not set(first) & set(second)
    assert last_query == ""


def test_an_alerts_page_shows_its_rule_model_and_neighbours(
    client_as: Callable[[str], Client],
    make_alert: Callable[..., Alert],
    rule_folder: Path,
) -> None:
    rule_id = "9d3b9c45-7a0c-4c5e-9d0e-0a4f8d1e2b11"
    (rule_folder / "whoami.yml").write_text(
        f"title: Whoami run\nid: {rule_id}\nlevel: high\ntags:\n  - attack.t1033\n"
        "logsource:\n  product: windows\ndetection:\n  sel:\n    CommandLine|contains: whoami\n"
        "  condition: sel\n",
        encoding="utf-8",
    )
    alert = make_alert(
        rule_id=rule_id,
        tags=["attack.discovery", "attack.t1033"],
        host="pc-nord-001",
        asset="postes-nord",
        site="nord",
        services=[{"id": "dpi", "name": "Dossier patient", "criticality": "vital"}],
    )
    neighbour = make_alert(host="pc-nord-001", account="other")
    stranger = make_alert(host="elsewhere", account="nobody")
    page = client_as("viewer").get(f"/alerts/{alert.id}/").content.decode()
    assert "CommandLine|contains: whoami" in page  # the YAML, from the file with that id
    assert 'href="https://attack.mitre.org/techniques/T1033/"' in page
    assert "Dossier patient" in page and "/logs/Security.evtx#42" in page
    assert neighbour.id in page and stranger.id not in page


def test_triage_actions_one_and_in_bulk_are_audited(
    client_as: Callable[[str], Client],
    make_alert: Callable[..., Alert],
    people: dict[str, User],
) -> None:
    alerts = [make_alert() for _ in range(3)]
    ids = [a.id for a in alerts]
    client = client_as("analyst")
    client.post("/alerts/actions/", {"alert": ids, "action": "acknowledge"})
    assert set(Alert.objects.values_list("status", flat=True)) == {"acknowledged"}
    refused = client.post("/alerts/actions/", {"alert": ids[0], "action": "false_positive"})
    assert refused.status_code == 302
    assert Alert.objects.get(pk=ids[0]).status == "acknowledged"  # no reason, no change
    client.post(
        "/alerts/actions/",
        {"alert": ids[0], "action": "false_positive", "reason": "backup job"},
    )
    client.post(
        "/alerts/actions/",
        {"alert": ids[1:], "action": "assign", "assignee": people["analyst"].pk},
    )
    first = Alert.objects.get(pk=ids[0])
    assert (first.status, first.status_reason) == ("false_positive", "backup job")
    assert {a.assignee_id for a in Alert.objects.filter(pk__in=ids[1:])} == {people["analyst"].pk}
    entries = AuditEntry.objects.filter(object_type="alerts.alert")
    assert entries.count() == 3 + 1 + 2
    fp = entries.get(action="alert.false_positive")
    assert isinstance(fp.before, dict) and isinstance(fp.after, dict)
    assert fp.before["status"] == "acknowledged" and fp.after["status"] == "false_positive"
    assert fp.actor == "analyst-user"


def test_opening_and_attaching_to_incidents(
    client_as: Callable[[str], Client], make_alert: Callable[..., Alert]
) -> None:
    a = make_alert(host="pc-a", tags=["attack.execution"])
    b = make_alert(host="pc-b", tags=["attack.impact"], level="critical")
    client = client_as("analyst")
    response = client.post(
        "/alerts/actions/", {"alert": [a.id], "action": "open_incident", "title": "Ransomware"}
    )
    incident = Incident.objects.get()
    assert response["Location"] == f"/incidents/{incident.pk}/"
    assert incident.title == "Ransomware" and incident.origin == "manual"
    client.post(
        "/alerts/actions/", {"alert": [b.id], "action": "attach", "incident_id": incident.pk}
    )
    incident.refresh_from_db()
    assert incident.hosts == ["pc-a", "pc-b"] and incident.severity == "critical"
    assert [s["tactic"] for s in incident.chain] == ["execution", "impact"]
    assert Alert.objects.filter(incident=incident).count() == 2


def test_suppressions_are_made_listed_and_revoked(
    client_as: Callable[[str], Client], people: dict[str, User]
) -> None:
    client = client_as("analyst")
    empty = client.post("/alerts/suppressions/new/", {"reason": "x", "duration": "1h"})
    assert empty.status_code == 200 and not Suppression.objects.exists()  # no scope
    client.post(
        "/alerts/suppressions/new/",
        {"rule_id": "r-1", "host": "backup-01", "duration": "7d", "reason": "nightly backup"},
    )
    row = Suppression.objects.get()
    assert row.author == people["analyst"] and row.expires is not None
    assert row.expires - timezone.now() > timedelta(days=6)
    listed = client.get("/alerts/suppressions/")
    assert listed.context["active"] == [row]
    client.post(f"/alerts/suppressions/{row.pk}/revoke/")
    row.refresh_from_db()
    assert row.revoked is not None and row.revoked_by == people["analyst"]
    assert client.get("/alerts/suppressions/").context["active"] == []
    actions = AuditEntry.objects.filter(object_type="alerts.suppression")
    assert list(actions.values_list("action", flat=True)) == [
        "suppression.create",
        "suppression.revoke",
    ]


def test_viewers_see_no_triage_controls(
    client_as: Callable[[str], Client], make_alert: Callable[..., Alert]
) -> None:
    alert = make_alert()
    page = client_as("viewer").get(f"/alerts/{alert.id}/").content.decode()
    assert 'action="/alerts/actions/"' not in page
    assert client_as("viewer").post("/alerts/actions/", {"alert": alert.id}).status_code == 403


def test_counts_equal_the_plain_ones_in_one_read_per_condition(
    make_alert: Callable[..., Alert], django_assert_num_queries: Any
) -> None:
    """The counts as the page gets them (through the covering index on SQLite, grouped by
    condition on PostgreSQL) are the plain ones, top values and ties in the same order; on
    PostgreSQL the facets of filters not set share one read."""
    from django.db import connection
    from django.db.models import Count

    from sentinelle.web.alerts.triage import FACET_SIZE, FACETS

    for n in range(60):
        make_alert(
            level=("low", "high", "critical")[n % 3],
            status=("new", "acknowledged")[n % 2],
            site=("nord", "sud", "")[n % 3],
            host=f"pc-{n % 15:02d}" if n % 7 else "",  # 15 hosts, more than a facet shows
            rule_id=f"rule-{n % 4}",
        )
    since = timezone.now() - timedelta(hours=1)
    for query in (
        AlertQuery(),
        AlertQuery(status="new"),
        AlertQuery(since=since, status="acknowledged"),
        AlertQuery(level="high", site="nord", host="pc-01", rule="rule-1", status="new"),
    ):
        set_filters = sum(1 for name in FACETS if getattr(query, name))
        reads = len(FACETS)
        if connection.vendor == "postgresql":
            reads = set_filters + (1 if set_filters < len(FACETS) else 0)
        with django_assert_num_queries(reads):
            counted = query._count_facets()
        for name, column in FACETS.items():
            plain = (
                Alert.objects.filter(query.condition(without=name))
                .exclude(**({} if name == "level" else {column: ""}))
                .values_list(column)
                .annotate(n=Count("pk"))
                .order_by("-n", column)[:FACET_SIZE]
            )
            expected = [(str(v), n) for v, n in plain]
            if name == "level":
                levels = ("informational", "low", "medium", "high", "critical")
                expected = [(levels[int(k)], n) for k, n in expected]
            assert counted[name] == expected, (query, name)


@pytest.mark.parametrize("sort", ["-timestamp", "timestamp", "-created", "created"])
def test_the_list_by_time_is_read_in_index_order_not_sorted(
    make_alert: Callable[..., Alert], sort: str
) -> None:
    """Each time order of the list walks an index (the first page costs what the thousandth
    does). On PostgreSQL, newest event time first with the alerts without one last needed an
    index of its own (alerts migration 0003): it sorted every matching row instead."""
    from django.db import connection

    from sentinelle.web.paging import keyset_page

    for n in range(20):
        make_alert(timestamp=None if n % 5 == 0 else timezone.now() - timedelta(minutes=n))
    query = AlertQuery(sort=sort, since=timezone.now() - timedelta(days=1))
    page = keyset_page(query.queryset(), query.keys, None, 5, {})
    later = keyset_page(query.queryset(), query.keys, page.next_cursor, 5, {})
    assert later.items and later.items[0].pk not in {a.pk for a in page.items}
    rows = query.queryset().order_by(*[k.order() for k in query.keys])[:51]
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_sort = off")  # sorting only when nothing else can
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(str(r[0]) for r in cursor.fetchall())
            assert "Sort" not in plan, plan
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            plan = "\n".join(str(r[-1]) for r in cursor.fetchall())
            assert "TEMP B-TREE" not in plan, plan
