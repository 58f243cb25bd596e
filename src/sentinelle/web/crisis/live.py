"""The board's live feed: what changed since the last revision, for every open board and screen.

One poller per process (:class:`sentinelle.web.live.Feed`, the alerts' mechanism) reads the
board's revision every half second; when it moved, it reads the cells and clocks stamped with a
newer one, renders each cell once per language, and every open page takes the cells of its sites.
A page (re)connecting first gets the whole board (:func:`snapshot`), so a screen that lost its
server for a while, or missed changes, is whole again as soon as it is back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone

from sentinelle.hospital import HospitalModel
from sentinelle.web.crisis.board import current_rows, grid
from sentinelle.web.crisis.models import Board, Clock, ServiceStatus
from sentinelle.web.live import Feed, Message, per_language


@dataclass(frozen=True, slots=True)
class BoardUpdate:
    revision: int
    cells: list[tuple[str, dict[str, str]]]  # (site, html per language)
    clocks: dict[str, str] | None  # the clocks panel per language, when a clock changed
    stamp: dict[str, str]


def _model() -> HospitalModel:
    from sentinelle.web.sources import hospital_model

    return hospital_model()


def cell_context(model: HospitalModel, row: ServiceStatus) -> dict[str, Any]:
    site = model.sites.get(row.site)
    service = model.services.get(row.service)
    return {
        "row": row,
        "site_name": site.name if site else row.site,
        "service_name": service.name if service else row.service,
    }


def running_clocks() -> list[Clock]:
    return list(
        Clock.objects.filter(sent__isnull=True)
        .select_related("incident")
        .order_by("due", "id")[:50]
    )


def clocks_context() -> dict[str, Any]:
    return {"clocks": running_clocks(), "now": timezone.now()}


def stamp_context(revision: int) -> dict[str, Any]:
    return {"now": timezone.now(), "revision": revision}


def render_clocks() -> str:
    return render_to_string("crisis/_clocks.html", clocks_context())


def render_stamp(revision: int) -> str:
    return render_to_string("crisis/_stamp.html", stamp_context(revision))


def poll(state: int) -> tuple[list[BoardUpdate], int]:
    revision = Board.objects.filter(pk=1).values_list("revision", flat=True).first() or 0
    if revision <= state:
        return [], state
    model = _model()
    rows = list(ServiceStatus.objects.filter(revision__gt=state, revision__lte=revision))
    clock_moved = Clock.objects.filter(revision__gt=state, revision__lte=revision).exists()
    cells = [
        (row.site, per_language("crisis/_cell.html", cell_context(model, row))) for row in rows
    ]
    clocks = per_language("crisis/_clocks.html", clocks_context()) if clock_moved else None
    stamp = per_language("crisis/_stamp.html", stamp_context(revision))
    return [BoardUpdate(revision, cells, clocks, stamp)], revision


def initial() -> int:
    return Board.objects.filter(pk=1).values_list("revision", flat=True).first() or 0


FEED: Feed[BoardUpdate, int] = Feed("board", poll, initial, interval=0.5)


def snapshot(model: HospitalModel, sites: Sequence[str]) -> list[Message]:
    """The whole board of ``sites`` (all when empty) and the running clocks, as swaps."""
    revision = initial()
    rows = current_rows(model)
    board = render_to_string("crisis/_grid.html", {"grid": grid(model, rows, sites)})
    return [
        Message("swap", board.strip()),
        Message("swap", render_clocks().strip()),
        Message("swap", render_stamp(revision).strip()),
    ]


def messages_for(
    batch: Sequence[BoardUpdate], language: str, sites: Sequence[str]
) -> list[Message]:
    out: list[Message] = []
    for update in batch:
        for site, html in update.cells:
            if not sites or site in sites:
                out.append(Message("swap", html[language]))
        if update.clocks is not None:
            out.append(Message("swap", update.clocks[language]))
        out.append(Message("swap", update.stamp[language]))
    return out
