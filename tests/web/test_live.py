"""Live alerts over server-sent events: a new alert reaches an open list, filtered as the list
is; fifty open lists cost one poll per tick; a line break cannot forge an event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient

from sentinelle.web.accounts.models import User
from sentinelle.web.alerts.live import FEED
from sentinelle.web.live import Message
from tests.web.conftest import new_alert
from tests.web.sse import event_data

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_line_break_in_data_stays_inside_the_event() -> None:
    encoded = Message("row", "<tr>\nevent: evil\ndata: x</tr>", "7").encode().decode()
    assert encoded == "event: row\nid: 7\ndata: <tr>\ndata: event: evil\ndata: data: x</tr>\n\n"


async def rows_from(chunks: AsyncIterator[bytes], wanted: int, seconds: float) -> list[str]:
    """The ``row`` events' data read from a stream, until ``wanted`` of them or the time."""
    return await event_data(chunks, "row", lambda rows: len(rows) >= wanted, seconds)


async def close_connections() -> None:
    """The requests' sync parts ran in asgiref's one thread-sensitive thread (no server here to
    close their connections when the streams end): close them there."""
    await sync_to_async(connections.close_all)()


async def open_stream(user: User, query: str = "") -> tuple[Any, AsyncIterator[bytes]]:
    client = AsyncClient()
    await client.aforce_login(user)
    response = await client.get(f"/alerts/stream/{query}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    return response, aiter(response.streaming_content)  # type: ignore[attr-defined]


def test_a_new_alert_reaches_an_open_list_with_its_filters(people: dict[str, User]) -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        _all, everything = await open_stream(people["viewer"])
        _crit, critical_only = await open_stream(people["viewer"], "?level=critical")
        await asyncio.sleep(0.7)  # the poller has started and read "now"
        low = await sync_to_async(new_alert)(level="low", rule_title="Low <b>one</b>")
        high = await sync_to_async(new_alert)(level="critical", rule_title="Critical one")
        got_all = await rows_from(everything, 2, 5.0)
        got_critical = await rows_from(critical_only, 2, 1.5)
        assert low.id and high.id
        await close_connections()
        return got_all, got_critical

    got_all, got_critical = asyncio.run(scenario())
    assert len(got_all) == 2 and "Low &lt;b&gt;one&lt;/b&gt;" in got_all[0]
    assert len(got_critical) == 1 and "Critical one" in got_critical[0]
    assert got_all[0].startswith('<tr id="alert-')


def test_fifty_viewers_cost_one_poll_per_tick(people: dict[str, User]) -> None:
    async def scenario() -> tuple[int, int, list[int]]:
        streams = [await open_stream(people["viewer"]) for _ in range(50)]
        await asyncio.sleep(0.6)
        subscribers = FEED.subscribers
        polls_before = FEED.polls
        await sync_to_async(new_alert)(rule_title="Seen by all")
        counts = await asyncio.gather(*(rows_from(s, 1, 4.0) for _r, s in streams))
        await asyncio.sleep(1.0)
        await close_connections()
        return subscribers, FEED.polls - polls_before, [len(c) for c in counts]

    subscribers, polls, counts = asyncio.run(scenario())
    assert subscribers == 50
    assert counts == [1] * 50
    # About one poll per half second for all of them (the gather took at most ~4 s).
    assert polls <= 12


def test_a_list_opened_late_catches_up(people: dict[str, User]) -> None:
    async def scenario() -> list[str]:
        from django.utils import timezone

        drawn = timezone.now()
        await sync_to_async(new_alert)(rule_title="Stored before the stream opened")
        _r, stream = await open_stream(people["viewer"], f"?after={drawn.isoformat()}")
        rows = await rows_from(stream, 1, 3.0)
        await close_connections()
        return rows

    rows = asyncio.run(scenario())
    assert len(rows) == 1 and "Stored before the stream opened" in rows[0]
