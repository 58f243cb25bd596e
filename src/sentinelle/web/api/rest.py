"""The REST API, read side: alerts and incidents in JSON, paged by cursor, described by OpenAPI.

Built with django-ninja: the query parameters are validated from their declarations (a bad
``level`` or ``limit`` is a 422 naming the parameter) and the OpenAPI description at
``/api/v1/openapi.json`` comes from the same declarations. Every operation passes its policy as
``auth`` (``ApiAuth``); the API's default is ``DENY``, so an operation without one is refused.

Paging is by cursor, not offset: the cursor carries the sort key of the last item given
(``created`` and ``id`` for alerts), so a page stays right while new alerts arrive, and a
deep page costs one indexed range query.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any, Literal

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from ninja import NinjaAPI, Query, Schema, Status
from ninja.errors import HttpError

from sentinelle.detections import level_rank
from sentinelle.web.access import DENY, EVERYONE, ApiAuth, Policy, Role, TokenRole

READ = ApiAuth(Policy(read=EVERYONE, tokens=frozenset({TokenRole.API})))
OPERATE = ApiAuth(Policy(write=frozenset({Role.ADMIN}), tokens=frozenset({TokenRole.ADMIN})))
MAX_LIMIT = 1000

api = NinjaAPI(
    title="Sentinelle API",
    version="1",
    description="Alerts and incidents of a Sentinelle service.",
    auth=DENY,
    urls_namespace="api-v1",
    docs_url=None,  # the interactive page loads scripts from a CDN: not here
)

Level = Literal["informational", "low", "medium", "high", "critical"]
AlertStatusName = Literal["new", "acknowledged", "false_positive", "resolved"]
IncidentStatusName = Literal["open", "contained", "closed", "merged"]


class AlertOut(Schema):
    id: str
    rule_id: str
    rule_title: str
    rule_type: str
    level: str
    tags: list[str]
    timestamp: datetime | None
    created: datetime
    event_id: str
    event: dict[str, Any]
    source: str
    input: str
    host: str
    account: str
    site: str
    zone: str
    asset: str
    services: list[dict[str, Any]]
    criticality: str
    group: dict[str, Any]
    first_seen: datetime | None
    last_seen: datetime | None
    value: float | None
    status: str
    incident: int | None


class AlertPage(Schema):
    items: list[AlertOut]
    next: str | None


class IncidentOut(Schema):
    id: int
    key: str | None
    title: str
    status: str
    severity: str
    opened: datetime
    updated: datetime
    first_seen: datetime | None
    last_seen: datetime | None
    hosts: list[str]
    sites: list[str]
    assets: list[str]
    addresses: list[str]
    accounts: list[str]
    chain: list[dict[str, Any]]
    impact: dict[str, Any]
    alerts: int


class IncidentPage(Schema):
    items: list[IncidentOut]
    next: str | None


class AlertFilters(Schema):
    since: datetime | None = None  # alerts of events at or after this time
    level: Level | None = None  # this level or higher
    site: str | None = None
    rule: str | None = None  # a rule id
    status: AlertStatusName | None = None
    limit: int = 100
    cursor: str | None = None


class IncidentFilters(Schema):
    since: datetime | None = None  # incidents with a detection at or after this time
    status: IncidentStatusName | None = None
    limit: int = 100
    cursor: str | None = None


def _encode(*parts: str) -> str:
    return base64.urlsafe_b64encode("\x1f".join(parts).encode()).decode().rstrip("=")


def _decode(cursor: str, count: int) -> list[str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = base64.urlsafe_b64decode(padded.encode("ascii")).decode().split("\x1f")
    except (binascii.Error, UnicodeError, ValueError):
        raise HttpError(400, "cursor: not a cursor this API gave") from None
    if len(parts) != count:
        raise HttpError(400, "cursor: not a cursor this API gave")
    return parts


def _limit(value: int) -> int:
    if not 1 <= value <= MAX_LIMIT:
        raise HttpError(422, f"limit: must be between 1 and {MAX_LIMIT}")
    return value


def _alert_json(alert: Any) -> dict[str, Any]:
    return {
        "id": alert.id,
        "rule_id": alert.rule_id,
        "rule_title": alert.rule_title,
        "rule_type": alert.rule_type,
        "level": alert.level,
        "tags": alert.tags,
        "timestamp": alert.timestamp,
        "created": alert.created,
        "event_id": alert.event_id,
        "event": alert.event,
        "source": alert.source,
        "input": alert.input,
        "host": alert.host,
        "account": alert.account,
        "site": alert.site,
        "zone": alert.zone,
        "asset": alert.asset,
        "services": alert.services,
        "criticality": alert.criticality,
        "group": alert.group,
        "first_seen": alert.first_seen,
        "last_seen": alert.last_seen,
        "value": alert.value,
        "status": alert.status,
        "incident": alert.incident_id,
    }


@api.get("/alerts", response=AlertPage, auth=READ, summary="Alerts, newest first")
def list_alerts(request: HttpRequest, filters: Query[AlertFilters]) -> dict[str, Any]:
    from sentinelle.web.alerts.models import Alert

    limit = _limit(filters.limit)
    rows: QuerySet[Alert] = Alert.objects.all().order_by("-created", "-id")
    if filters.since is not None:
        rows = rows.filter(timestamp__gte=filters.since)
    if filters.level is not None:
        rows = rows.filter(level_rank__gte=level_rank(filters.level))
    if filters.site:
        rows = rows.filter(site=filters.site)
    if filters.rule:
        rows = rows.filter(rule_id=filters.rule)
    if filters.status:
        rows = rows.filter(status=filters.status)
    if filters.cursor:
        created_text, last_id = _decode(filters.cursor, 2)
        try:
            created = datetime.fromisoformat(created_text)
        except ValueError:
            raise HttpError(400, "cursor: not a cursor this API gave") from None
        rows = rows.filter(Q(created__lt=created) | Q(created=created, id__lt=last_id))
    page = list(rows[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    following = _encode(page[-1].created.isoformat(), page[-1].id) if more and page else None
    return {"items": [_alert_json(a) for a in page], "next": following}


@api.get("/incidents", response=IncidentPage, auth=READ, summary="Incidents, newest first")
def list_incidents(request: HttpRequest, filters: Query[IncidentFilters]) -> dict[str, Any]:
    from django.db.models import Count

    from sentinelle.web.incidents.models import Incident

    limit = _limit(filters.limit)
    rows = Incident.objects.annotate(alert_count=Count("alerts")).order_by("-id")
    if filters.since is not None:
        rows = rows.filter(last_seen__gte=filters.since)
    if filters.status:
        rows = rows.filter(status=filters.status)
    if filters.cursor:
        (last_id,) = _decode(filters.cursor, 1)
        if not last_id.isdecimal() or len(last_id) > 18:
            raise HttpError(400, "cursor: not a cursor this API gave")
        rows = rows.filter(id__lt=int(last_id))
    page = list(rows[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    items = [
        {
            "id": i.pk,
            "key": i.key,
            "title": i.title,
            "status": i.status,
            "severity": i.severity,
            "opened": i.opened,
            "updated": i.updated,
            "first_seen": i.first_seen,
            "last_seen": i.last_seen,
            "hosts": i.hosts,
            "sites": i.sites,
            "assets": i.assets,
            "addresses": i.addresses,
            "accounts": i.accounts,
            "chain": i.chain,
            "impact": i.impact,
            "alerts": i.alert_count,
        }
        for i in page
    ]
    return {"items": items, "next": _encode(str(page[-1].pk)) if more and page else None}


class ReloadOut(Schema):
    status: Literal["requested"]
    accepted_up_to: int  # the journal's newest record when the reload was asked for


class Unavailable(Schema):
    detail: str


@api.post(
    "/rules/reload",
    response={202: ReloadOut, 503: Unavailable},
    auth=OPERATE,
    summary="Load the rules again (as SIGHUP): switched at the detector's next journal position",
)
def reload_rules(request: HttpRequest) -> Status[dict[str, Any]]:
    """The detector loads the rules again and switches to them between two slices of the
    journal: every record before that position was matched by the old rules, every one after
    by the new, none by both (its log says ``detector.rules_switched position=N``)."""
    from sentinelle.service import runtime
    from sentinelle.web.accounts.audit import record

    current = runtime.current()
    service = current.extras.get("service") if current is not None else None
    if service is None:
        return Status(503, {"detail": "no detector runs beside this web app"})
    journal = current.extras.get("journal") if current is not None else None
    newest = int(getattr(getattr(journal, "stats", None), "last_seq", 0))
    service.reload_rules()
    record(request, "rules.reload", ("service", "detector"), after={"accepted_up_to": newest})
    return Status(202, {"status": "requested", "accepted_up_to": newest})
