"""The alert feed: new alerts as the store receives them, for every open triage list.

One poller per process (:class:`sentinelle.web.live.Feed`) reads the rows stored since the
last tick; each row is rendered once per language, and each open list keeps the rows its
filters select. A row may become visible after rows stored later (the detector's transaction
commits after it stamped ``created``), so each poll looks back :data:`LOOKBACK` and skips the
rows it already handed over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from sentinelle.web.alerts.models import Alert
from sentinelle.web.live import Feed, per_language

LOOKBACK = timedelta(seconds=3)
BATCH = 500  # rows read per tick at most; more than that and the lists say "reload"
SHOWN_PER_TICK = 100


@dataclass(frozen=True, slots=True)
class LiveAlert:
    fields: dict[str, Any]  # what the lists' filters look at
    html: dict[str, str]  # the list row, per language
    created: datetime


@dataclass(slots=True)
class FeedState:
    since: datetime  # the (created, id) of the last row handed over
    last_id: str
    seen: dict[str, datetime]  # ids handed over within the look-back window


def render_rows(alerts: Sequence[Alert]) -> list[LiveAlert]:
    out: list[LiveAlert] = []
    for alert in alerts:
        html = per_language("alerts/_row.html", {"alert": alert})
        fields = {
            "level_rank": alert.level_rank,
            "status": alert.status,
            "site": alert.site,
            "host": alert.host,
            "rule_id": alert.rule_id,
            "timestamp": alert.timestamp,
        }
        out.append(LiveAlert(fields, html, alert.created))
    return out


def poll(state: FeedState) -> tuple[list[LiveAlert], FeedState]:
    """Rows after the last one handed over, and rows that became visible late."""
    forward = list(
        Alert.objects.filter(
            Q(created__gt=state.since) | Q(created=state.since, id__gt=state.last_id)
        )
        .select_related("assignee")
        .order_by("created", "id")[:BATCH]
    )
    late = [
        row
        for row in Alert.objects.filter(
            created__gte=state.since - LOOKBACK, created__lte=state.since
        )
        .select_related("assignee")
        .order_by("-created")[:BATCH]
        if row.id not in state.seen and (row.created, row.id) <= (state.since, state.last_id)
    ]
    new = late[::-1] + forward
    if not new:
        return [], state
    since, last_id = (
        (forward[-1].created, forward[-1].id)
        if forward
        else (
            state.since,
            state.last_id,
        )
    )
    cutoff = since - LOOKBACK
    seen = {k: v for k, v in state.seen.items() if v >= cutoff}
    seen.update((row.id, row.created) for row in new)
    return render_rows(new[-SHOWN_PER_TICK:]), FeedState(since, last_id, seen)


def initial() -> FeedState:
    return FeedState(timezone.now(), "", {})


FEED: Feed[LiveAlert, FeedState] = Feed("alerts", poll, initial, interval=0.5)
