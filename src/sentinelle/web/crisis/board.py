"""The status board: every service of the hospital model at every site where it is used, with
its status (down, degraded, at risk, operational), the reason, and where the status comes from.

Three sources speak of a cell:

* **predicted**: the impact engine (:func:`sentinelle.hospital.assess`, the engine behind
  ``sentinelle impact``) on the hosts and assets of the incidents not yet closed (compromised)
  and the containment actions recorded as taken;
* **seen**: what measurement says (the probes, through :mod:`sentinelle.web.crisis.observed`);
* **declared**: a person's declaration (author, time, reason, expected end). Once its expected
  end has passed it is *expired*: the cell shows it as such, the other sources decide the status
  again, and that change is a :class:`StatusChange` row like any other (a person ends a
  declaration; time only expires it, so nothing is written to the declaration itself).

A declaration has the last word (someone on the ground said so), then measurement, then the
prediction; a probe sees availability only, so a service seen up that the engine finds at risk
shows "at risk". When two sources disagree on availability the cell says so ("predicted down,
seen up"): that is a finding too.

:func:`compute` is pure (inputs in, cells out); :func:`refresh` reads the inputs from the store,
and writes the cells that changed, a :class:`StatusChange` row for each status that flipped,
stamped with the next board revision (the live feed reads what is newer than its revision).
Reading a board page never writes; ``sentinelle serve`` refreshes every second
(:func:`keep_fresh`) and every write of the crisis pages refreshes at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from django.db import IntegrityError, close_old_connections, connections, transaction
from django.utils import timezone

from sentinelle.errors import SentinelleError
from sentinelle.hospital import HospitalModel, assess, parse_action, resolve_action
from sentinelle.hospital.model import CRITICALITY_RANK, Criticality
from sentinelle.web.crisis import observed
from sentinelle.web.crisis.models import (
    Board,
    Declaration,
    ServiceStatus,
    Status,
    StatusChange,
)
from sentinelle.web.incidents.containment import action_text
from sentinelle.web.incidents.models import (
    ContainmentAction,
    ContainmentState,
    Incident,
    IncidentStatus,
)

log = logging.getLogger("sentinelle.web.crisis")

PREDICTED, SEEN, DECLARED = "predicted", "seen", "declared"
LIVE_INCIDENTS = (IncidentStatus.OPEN, IncidentStatus.CONTAINED)
# What a probe's word means for availability, and availability classes for comparing sources.
SEEN_STATUS = {observed.UP: Status.OPERATIONAL, observed.DEGRADED: Status.DEGRADED}
SEEN_STATUS[observed.DOWN] = Status.DOWN
_AVAILABILITY = {
    Status.OPERATIONAL: "up",
    Status.AT_RISK: "up",
    Status.DEGRADED: "degraded",
    Status.DOWN: "down",
}


@dataclass(frozen=True, slots=True)
class DeclaredState:
    id: int
    site: str
    service: str
    status: str
    reason: str
    author: str
    at: datetime
    expected_end: datetime | None


@dataclass(frozen=True, slots=True)
class Inputs:
    """Everything the board is computed from (a digest of it says whether anything moved)."""

    compromised: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    refused_actions: tuple[str, ...] = ()  # taken actions the model cannot apply, with why
    declarations: tuple[DeclaredState, ...] = ()
    observations: tuple[observed.Observation, ...] = ()
    expired: tuple[DeclaredState, ...] = ()  # not ended, but past their expected end

    def digest(self, model: HospitalModel) -> str:
        data = {
            "model": [model.name, len(model.services), len(model.sites)],
            "compromised": self.compromised,
            "actions": self.actions,
            "declarations": [(d.id, d.status, d.reason) for d in self.declarations],
            "expired": [d.id for d in self.expired],
            "seen": sorted((o.site, o.service, o.state, o.reason) for o in self.observations),
        }
        return hashlib.sha256(orjson.dumps(data)).hexdigest()


@dataclass(frozen=True, slots=True)
class Cell:
    site: str
    service: str
    status: str
    source: str
    reason: str  # in English (the API's, the exports'); pages word ``why`` in their language
    sources: dict[str, Any] = field(default_factory=dict)
    why: list[dict[str, Any]] = field(default_factory=list)  # sentinelle.web.reasons parts

    @property
    def key(self) -> tuple[str, str]:
        return (self.site, self.service)

    def comparable(self) -> bytes:
        """What a change of is worth showing: everything but the probes' times."""
        sources = dict(self.sources)
        if SEEN in sources:
            sources[SEEN] = {k: v for k, v in sources[SEEN].items() if k != "at"}
        return orjson.dumps([self.status, self.source, self.reason, self.why, sources])


def service_order(model: HospitalModel) -> list[str]:
    """Vital services first (criticality from the model), then the model's order."""
    rank = {sid: i for i, sid in enumerate(model.services)}
    return sorted(
        model.services,
        key=lambda sid: (CRITICALITY_RANK.get(model.services[sid].criticality, 9), rank[sid]),
    )


def disagreements(sources: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Pairs of sources that disagree on availability: (source, says, other source, says),
    where "says" is up, degraded or down ("predicted down, seen up")."""
    said: dict[str, str] = {}
    for name in (DECLARED, PREDICTED):
        if name in sources and not sources[name].get("expired"):
            said[name] = _AVAILABILITY[Status(sources[name]["status"])]
    if SEEN in sources:
        said[SEEN] = sources[SEEN]["state"]
    out = []
    for first, second in ((PREDICTED, SEEN), (DECLARED, SEEN), (DECLARED, PREDICTED)):
        if first in said and second in said and said[first] != said[second]:
            out.append((first, said[first], second, said[second]))
    return out


def compute(model: HospitalModel, inputs: Inputs) -> list[Cell]:
    """Every (site, service) cell of the board: services vital first, sites in model order."""
    report = assess(model, compromised=inputs.compromised, actions=inputs.actions)
    declared = {(d.site, d.service): d for d in inputs.declarations}
    expired = {(d.site, d.service): d for d in inputs.expired}
    seen = {(o.site, o.service): o for o in inputs.observations}
    site_rank = {s: i for i, s in enumerate(model.sites)}
    cells: list[Cell] = []
    for sid in service_order(model):
        service = model.services[sid]
        for site in sorted(service.used_at, key=site_rank.__getitem__):
            entry = report.entry(sid, site)
            predicted = Status(entry.state.value) if entry is not None else Status.OPERATIONAL
            reason = entry.reason if entry is not None else ""
            engine: list[dict[str, Any]] = (
                [{"impact": entry.explanation()}] if entry is not None else []
            )
            sources: dict[str, Any] = {
                PREDICTED: {"status": predicted.value, "reason": reason, "why": engine}
            }
            status, source, shown, why = predicted, PREDICTED, reason, engine
            obs = seen.get((site, sid)) or seen.get(("", sid))  # "": seen everywhere
            if obs is not None:
                sources[SEEN] = {
                    "state": obs.state,
                    "reason": obs.reason,
                    "at": obs.at.isoformat(),
                    "by": obs.source,
                }
                status, source, shown = SEEN_STATUS[obs.state], SEEN, obs.reason
                why = [{"text": obs.reason}]
                if status is Status.OPERATIONAL and entry is not None and entry.at_risk:
                    status = Status.AT_RISK
                    shown = f"{obs.reason}; {entry.reason}"
                    why = [{"text": obs.reason}, *engine]
            decl = declared.get((site, sid))
            if decl is not None:
                sources[DECLARED] = _declared_source(decl)
                status, source, shown = Status(decl.status), DECLARED, decl.reason
                why = [{"text": decl.reason}]
            elif (site, sid) in expired:  # said so until its expected end; the others decide
                over = expired[(site, sid)]
                sources[DECLARED] = {**_declared_source(over), "expired": True}
                why = [{"expired": _expired_part(over)}, *why]
                shown = "; ".join(t for t in (_expired_text(over), shown) if t)
            disagree = disagreements(sources)
            if disagree:
                sources["disagree"] = [list(d) for d in disagree]
            cells.append(Cell(site, sid, status.value, source, shown, sources, why))
    return cells


def _declared_source(decl: DeclaredState) -> dict[str, Any]:
    return {
        "status": decl.status,
        "reason": decl.reason,
        "by": decl.author,
        "at": decl.at.isoformat(),
        "expected_end": decl.expected_end.isoformat() if decl.expected_end else None,
        "id": decl.id,
    }


def _expired_part(decl: DeclaredState) -> dict[str, Any]:
    """What a cell says of a declaration past its expected end (worded by web.reasons)."""
    assert decl.expected_end is not None
    return {
        "id": decl.id,
        "status": decl.status,
        "expected_end": decl.expected_end.isoformat(),
        "by": decl.author,
    }


def _expired_text(decl: DeclaredState) -> str:
    assert decl.expected_end is not None
    end = timezone.localtime(decl.expected_end)
    return f"declaration expired ({decl.status} until {end:%Y-%m-%d %H:%M}, by {decl.author})"


# -- the store ---------------------------------------------------------------------------------


def gather(model: HospitalModel, now: datetime | None = None) -> Inputs:
    """The board's inputs as the store holds them at ``now`` (the declarations past their
    expected end by then apart)."""
    now = now or timezone.now()
    compromised: set[str] = set()
    for hosts, assets in Incident.objects.filter(status__in=LIVE_INCIDENTS).values_list(
        "hosts", "assets"
    ):
        for names in (hosts, assets):
            if isinstance(names, list):
                compromised.update(str(n) for n in names if n)
    actions: list[str] = []
    refused: list[str] = []
    taken = ContainmentAction.objects.filter(state=ContainmentState.TAKEN).order_by(
        "decided_at", "id"
    )
    for row in taken:
        text = action_text(row)
        try:
            resolve_action(model, parse_action(text))
        except SentinelleError as exc:  # recorded against another model: named, not applied
            refused.append(f"{text}: {exc}")
            continue
        actions.append(text)
    standing = [
        DeclaredState(
            d.pk, d.site, d.service, d.status, d.reason, d.author.username, d.at, d.expected_end
        )
        for d in Declaration.objects.filter(ended__isnull=True, superseded_by__isnull=True)
        .select_related("author")
        .order_by("at", "id")
    ]
    over = tuple(d for d in standing if d.expected_end is not None and d.expected_end <= now)
    return Inputs(
        tuple(sorted(compromised)),
        tuple(dict.fromkeys(actions)),
        tuple(refused),
        tuple(d for d in standing if d not in over),
        tuple(observed.observations().values()),
        over,
    )


@dataclass(frozen=True, slots=True)
class Refreshed:
    revision: int
    changed: int  # cells whose status, source or reason changed
    flips: int  # of which the status changed (StatusChange rows written)
    refused_actions: tuple[str, ...] = ()


def _locked_board() -> Board:
    """The board row, locked until the end of the transaction (made on first use)."""
    found = Board.objects.select_for_update().filter(pk=1).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            Board.objects.create(pk=1)
    except IntegrityError:  # another process made it meanwhile
        pass
    return Board.objects.select_for_update().get(pk=1)


def next_revision() -> int:
    """Stamp a change the board shows (a clock, say) with a new revision; inside the caller's
    transaction, so the feed sees the stamp and the change together."""
    board = _locked_board()
    board.revision += 1
    board.save(update_fields=["revision"])
    return board.revision


def _differs(row: ServiceStatus | None, cell: Cell) -> bool:
    if row is None:
        return True
    stored = Cell(row.site, row.service, row.status, row.source, row.reason, row.sources, row.why)
    return stored.comparable() != cell.comparable()


def refresh(
    model: HospitalModel | None = None, *, force: bool = False, now: datetime | None = None
) -> Refreshed:
    """Compute the board as it stands at ``now`` and write what changed (nothing at all when
    nothing moved). A declaration expiring moves the inputs, so the next refresh after its
    expected end (``sentinelle serve`` refreshes every second) shows it."""
    if model is None:
        from sentinelle.web.sources import hospital_model

        model = hospital_model()
    now = now or timezone.now()
    inputs = gather(model, now)
    digest = inputs.digest(model)
    board = Board.objects.filter(pk=1).first()
    if not force and board is not None and board.inputs == digest:
        return Refreshed(board.revision, 0, 0, inputs.refused_actions)
    cells = compute(model, inputs)
    with transaction.atomic():
        board = _locked_board()
        current = {(r.site, r.service): r for r in ServiceStatus.objects.all()}
        changed = [c for c in cells if _differs(current.get(c.key), c)]
        gone = set(current) - {c.key for c in cells}
        if not changed and not gone:
            if board.inputs != digest:
                board.inputs, board.computed = digest, now
                board.save(update_fields=["inputs", "computed"])
            return Refreshed(board.revision, 0, 0, inputs.refused_actions)
        board.revision += 1
        flips = _write(changed, current, board.revision, now)
        if gone:  # cells of a model no longer served (derived rows; their changes stay)
            ServiceStatus.objects.filter(pk__in=[current[k].pk for k in gone]).delete()
        board.inputs, board.computed = digest, now
        board.save(update_fields=["revision", "inputs", "computed"])
    return Refreshed(board.revision, len(changed), flips, inputs.refused_actions)


def _write(
    changed: Sequence[Cell], current: dict[tuple[str, str], ServiceStatus], rev: int, now: Any
) -> int:
    flips: list[StatusChange] = []
    for cell in changed:
        row = current.get(cell.key)
        old = row.status if row is not None else ""
        if row is None:
            row = ServiceStatus(site=cell.site, service=cell.service, since=now)
            if cell.status != Status.OPERATIONAL:  # a first state worth noting
                flips.append(_flip(cell, "", now))
        elif row.status != cell.status:
            row.since = now
            flips.append(_flip(cell, old, now))
        elif _expires_now(row, cell):  # the status stays, but who decides it changed: noted
            flips.append(_flip(cell, old, now))
        row.status, row.source, row.reason = cell.status, cell.source, cell.reason
        row.sources, row.why, row.revision = cell.sources, cell.why, rev
        row.save()
    StatusChange.objects.bulk_create(flips)
    return len(flips)


def _expires_now(row: ServiceStatus, cell: Cell) -> bool:
    """Whether ``cell`` shows expired a declaration that ``row`` (as stored) still applied."""
    before = row.sources.get(DECLARED) if isinstance(row.sources, dict) else None
    after = cell.sources.get(DECLARED)
    return (
        isinstance(before, dict)
        and not before.get("expired")
        and isinstance(after, dict)
        and bool(after.get("expired"))
        and before.get("id") == after.get("id")
    )


def _flip(cell: Cell, old: str, now: Any) -> StatusChange:
    return StatusChange(
        site=cell.site,
        service=cell.service,
        old=old,
        new=cell.status,
        at=now,
        source=cell.source,
        reason=cell.reason[:4000],
        why=cell.why,
    )


def refresh_after_commit() -> None:
    """Refresh once the current transaction commits (a containment action recorded, say)."""
    transaction.on_commit(_refresh_logged)


def _refresh_logged() -> None:
    try:
        refresh()
    except Exception:  # the write that asked for it is committed; the periodic one will retry
        log.exception("event=board.refresh_failed")


async def keep_fresh(interval: float = 1.0) -> None:
    """Refresh the board every ``interval`` seconds, for ever (a task of ``sentinelle serve``):
    what the detector and the probes change reaches the board without anyone asking."""
    executor = ThreadPoolExecutor(1, thread_name_prefix="board")
    loop = asyncio.get_running_loop()

    def once() -> None:
        close_old_connections()
        _refresh_logged()

    try:
        while True:
            await loop.run_in_executor(executor, once)
            await asyncio.sleep(interval)
    finally:
        executor.submit(connections.close_all)
        executor.shutdown(wait=False)


def current_rows(model: HospitalModel) -> list[ServiceStatus]:
    """The board's rows as stored; before the first refresh (a web app run without the
    service), computed on the spot and not stored, so that reading never writes."""
    rows = list(ServiceStatus.objects.all())
    if rows:
        return rows
    return [
        ServiceStatus(
            site=c.site,
            service=c.service,
            status=c.status,
            source=c.source,
            reason=c.reason,
            sources=c.sources,
            why=c.why,
        )
        for c in compute(model, gather(model))
    ]


def grid(
    model: HospitalModel, rows: Iterable[ServiceStatus], sites: Sequence[str] = ()
) -> dict[str, Any]:
    """The board as templates draw it: sites (columns), services vital first (rows), each row
    a list of cells (None where the service is not used at that site)."""
    by_key = {(r.site, r.service): r for r in rows}
    shown_sites = [s for s in model.sites.values() if not sites or s.id in sites]
    lines = []
    for sid in service_order(model):
        service = model.services[sid]
        cells = [by_key.get((site.id, sid)) for site in shown_sites]
        if sites and not any(cells):
            continue
        lines.append(
            {
                "service": service,
                "vital": service.criticality is Criticality.VITAL,
                "cells": cells,
            }
        )
    return {"sites": shown_sites, "lines": lines}
