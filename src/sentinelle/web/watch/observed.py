"""What the probes see, per (site, component): the read interface of the status board.

:func:`observed_states` is what the crisis board reads (it never touches the probe tables
itself): for each (site, component) with at least one probe, the worst current state of its
probes, since when, and why. ``site`` is ``""`` for a component watched everywhere (an external
provider), and the component is ``"wan"`` for a site's WAN link.

:func:`disagreements` sets that beside what the impact engine predicts, so the board can say
"predicted down, seen up" (and the reverse); :func:`observed_impact` runs the impact engine on
what the probes see down, to show what else follows from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sentinelle.hospital import HospitalModel, ImpactReport, assess
from sentinelle.hospital.probes import WAN

# Worst first; unknown and maintenance say nothing of availability, so they lose to any answer.
_RANK = {"down": 0, "degraded": 1, "up": 2, "maintenance": 3, "unknown": 4, "": 5}


@dataclass(frozen=True, slots=True)
class Observation:
    site: str  # "" : everywhere
    component: str  # a component id, or "wan"
    state: str  # up, degraded, down, unknown, maintenance, or "" (pending: no state yet)
    since: datetime | None
    checked: datetime | None  # the latest run of any of its probes
    reason: str  # the worst probe's reason, prefixed with its id
    probes: tuple[str, ...]


def observed_states() -> dict[tuple[str, str], Observation]:
    """Every (site, component) the probes watch, with its observed state (one query)."""
    from sentinelle.web.watch.models import ProbeStatus

    groups: dict[tuple[str, str], list[ProbeStatus]] = {}
    for row in ProbeStatus.objects.order_by("probe"):
        groups.setdefault((row.site, row.component), []).append(row)
    out: dict[tuple[str, str], Observation] = {}
    for key, rows in groups.items():
        worst = min(rows, key=lambda r: (_RANK.get(r.state, 5), r.probe))
        checks = [r.checked for r in rows if r.checked is not None]
        out[key] = Observation(
            site=key[0],
            component=key[1],
            state=worst.state,
            since=worst.since,
            checked=max(checks) if checks else None,
            reason=f"{worst.probe}: {worst.reason}" if worst.reason else worst.probe,
            probes=tuple(r.probe for r in rows),
        )
    return out


@dataclass(frozen=True, slots=True)
class Disagreement:
    site: str
    component: str
    predicted: str  # the impact engine's state
    observed: str  # the probes'
    text: str  # "predicted down, seen up"


def disagreements(
    predicted: Mapping[tuple[str, str], str],
    observed: Mapping[tuple[str, str], Observation],
) -> list[Disagreement]:
    """Where the prediction (``(site, component) -> state`` from the impact engine) and the
    probes disagree: down or degraded on one side, available on the other. A probe watching a
    component everywhere (site ``""``) answers for every site."""
    out: list[Disagreement] = []
    for (site, component), state in sorted(predicted.items()):
        seen = observed.get((site, component)) or observed.get(("", component))
        if seen is None or seen.state not in ("up", "degraded", "down"):
            continue
        said_down = state in ("down", "degraded")
        seen_down = seen.state == "down"
        seen_available = seen.state in ("up", "degraded")
        if said_down and seen_available and state == "down":
            out.append(
                Disagreement(
                    site, component, state, seen.state, f"predicted down, seen {seen.state}"
                )
            )
        elif not said_down and seen_down:
            out.append(
                Disagreement(site, component, state, seen.state, f"predicted {state}, seen down")
            )
    return out


def observed_impact(
    model: HospitalModel, observed: Iterable[Observation] | None = None
) -> ImpactReport:
    """The impact engine run on what the probes see: components down (and degraded) at their
    sites, WAN links down as the sites' isolation."""
    listed = list(observed if observed is not None else observed_states().values())
    unavailable: list[str] = []
    degraded: list[str] = []
    actions: list[str] = []
    for seen in listed:
        if seen.component == WAN:
            if seen.state == "down" and seen.site:
                actions.append(f"isolate:{seen.site}")
            continue
        if model.component(seen.component) is None:
            continue
        name = f"{seen.component}@{seen.site}" if seen.site else seen.component
        if seen.state == "down":
            unavailable.append(name)
        elif seen.state == "degraded":
            degraded.append(name)
    return assess(model, unavailable=unavailable, degraded=degraded, actions=actions)
