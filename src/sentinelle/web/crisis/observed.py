"""What was seen: the board's input from measurement (the probes of the watching issue).

The board does not know how services are watched. Anything that measures them registers an
*observer* with :func:`register`: a function giving the current observed state of (site,
service) cells, each with its time and reason in words. The board calls every observer each
time it is computed; an observer that raises is logged and counted, and the board goes on with
what the others said (a broken probe store must not blank the board).

The probes of the watching app (``sentinelle.web.watch``) are plugged in by the crisis app
when both are installed (:func:`probe_observations`, through their read interface
``web.watch.observed.observed_states``). An observation for site ``""`` speaks for every site
where the service is used (a probe of an external provider, say).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

log = logging.getLogger("sentinelle.web.crisis")

# What a probe can say about availability (it cannot see whether an attacker is there).
UP, DEGRADED, DOWN = "up", "degraded", "down"
SEEN_STATES = (UP, DEGRADED, DOWN)


@dataclass(frozen=True, slots=True)
class Observation:
    """One measured state: ``service`` at ``site`` was ``state`` (up, degraded or down)."""

    site: str
    service: str
    state: str
    at: datetime
    reason: str
    source: str = ""  # which probe or observer said it (shown beside the reason)


Observer = Callable[[], Iterable[Observation]]
_OBSERVERS: dict[str, Observer] = {}
# Observers that raised, since the process started (read by tests and logs).
COUNTERS = {"observer_failures": 0}


def register(name: str, observer: Observer) -> None:
    """Add (or replace) the observer called ``name``."""
    _OBSERVERS[name] = observer


def unregister(name: str) -> None:
    _OBSERVERS.pop(name, None)


def observations() -> dict[tuple[str, str], Observation]:
    """The latest observation of each (site, service) from every observer; when two observers
    speak of one cell, the more recent one wins. States other than up, degraded and down
    (unknown, maintenance) say nothing about availability and are left out."""
    out: dict[tuple[str, str], Observation] = {}
    for name, observer in list(_OBSERVERS.items()):
        try:
            seen = list(observer())
        except Exception:  # another app's store: log, count, and let the board go on
            COUNTERS["observer_failures"] += 1
            log.exception("event=board.observer_failed observer=%s", name)
            continue
        for item in seen:
            if item.state not in SEEN_STATES:
                continue
            key = (item.site, item.service)
            if key not in out or item.at > out[key].at:
                out[key] = item
    return out


def probe_observations() -> list[Observation]:
    """The probes' current states (the watching app's read interface), as observations."""
    from django.utils import timezone

    from sentinelle.web.watch.observed import observed_states

    out: list[Observation] = []
    for seen in observed_states().values():
        when: Any = seen.since or seen.checked or timezone.now()
        probes = ", ".join(seen.probes[:5])
        out.append(Observation(seen.site, seen.component, seen.state, when, seen.reason, probes))
    return out
