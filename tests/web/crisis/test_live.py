"""The board live: an open board or screen first gets the whole board, then each changed cell
as it changes (the alerts' server-sent events mechanism); a screen's secret address shows its
sites only, and shows nothing once revoked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient, Client

from sentinelle.web.accounts.models import User
from sentinelle.web.crisis.board import refresh
from sentinelle.web.crisis.models import Declaration, KioskScreen
from tests.web.sse import event_data

pytestmark = pytest.mark.django_db(transaction=True)


async def swaps(chunks: AsyncIterator[bytes], until: str, seconds: float) -> list[str]:
    """The ``swap`` events' data, until one holds ``until`` (or the time is up)."""
    return await event_data(chunks, "swap", lambda found: until in found[-1], seconds)


async def opened(path: str, user: User | None = None) -> AsyncIterator[bytes]:
    client = AsyncClient(HTTP_ACCEPT_LANGUAGE="en")
    if user is not None:
        await client.aforce_login(user)
    response = await client.get(path)
    assert response.status_code == 200, path
    assert response["Content-Type"].startswith("text/event-stream")
    return aiter(response.streaming_content)  # type: ignore[attr-defined]


def declare(user: User, site: str, service: str, status: str, reason: str) -> None:
    client = Client()
    client.force_login(user)
    response = client.post(f"/crisis/cell/{site}/{service}/", {"status": status, "reason": reason})
    assert response.status_code == 302


def test_an_open_board_gets_the_whole_board_then_each_change(people: dict[str, User]) -> None:
    refresh()

    async def scenario() -> tuple[list[str], list[str]]:
        stream = await opened("/crisis/stream/", people["viewer"])
        first = await swaps(stream, 'id="board-stamp"', 5.0)
        await asyncio.sleep(0.7)  # the poller has read the revision
        await sync_to_async(declare)(
            people["crisis"], "snz", "laboratory", "down", "power <b>cut</b>"
        )
        later = await swaps(stream, 'id="cell-snz-laboratory"', 5.0)
        await sync_to_async(connections.close_all)()
        return first, later

    first, later = asyncio.run(scenario())
    assert first[0].startswith('<div id="board-grid"') and 'id="cell-cht-emergency"' in first[0]
    assert 'id="board-clocks"' in first[1]
    cell = next(s for s in later if 'id="cell-snz-laboratory"' in s)
    assert 'data-status="down"' in cell and "power &lt;b&gt;cut&lt;/b&gt;" in cell


def test_a_screen_shows_its_sites_and_nothing_once_revoked(
    people: dict[str, User], client_as: Any
) -> None:
    refresh()
    client = client_as("crisis")
    page = client.post("/crisis/screens/", {"name": "ED Saint-Nazaire", "sites": ["snz"]})
    text = page.content.decode()
    address = text.split('<code id="new-address">', 1)[1].split("</code>", 1)[0]
    path = address.split("://", 1)[1].split("/", 1)[1]
    path = "/" + path
    screen = KioskScreen.objects.get()
    assert screen.digest not in path and screen.sites == ["snz"]
    anonymous = Client(HTTP_ACCEPT_LANGUAGE="en")
    shown = anonymous.get(path)
    assert shown.status_code == 200 and shown["Referrer-Policy"] == "no-referrer"
    body = shown.content.decode()
    assert 'id="cell-snz-laboratory"' in body and 'id="cell-cen-laboratory"' not in body
    assert anonymous.post(path).status_code == 405  # a screen only reads

    async def scenario() -> list[str]:
        stream = await opened(f"{path}stream/")
        await swaps(stream, 'id="board-stamp"', 5.0)
        await asyncio.sleep(0.7)
        await sync_to_async(declare)(people["crisis"], "cen", "laboratory", "down", "elsewhere")
        await sync_to_async(declare)(people["crisis"], "snz", "imaging", "degraded", "here")
        later = await swaps(stream, 'id="cell-snz-imaging"', 5.0)
        await sync_to_async(connections.close_all)()
        return later

    later = asyncio.run(scenario())
    assert any('id="cell-snz-imaging"' in s for s in later)
    assert not any('id="cell-cen-laboratory"' in s for s in later)
    assert Declaration.objects.count() == 2

    client.post(f"/crisis/screens/{screen.pk}/revoke/")
    assert anonymous.get(path).status_code == 404
    assert anonymous.get(f"{path}stream/").status_code == 404
    assert anonymous.get("/crisis/screen/kiosk_guessed/").status_code == 404
