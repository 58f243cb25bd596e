"""Watching the services and the watchers: probes, silent sources, detection coverage.

Plain Python, no Django at import time: the web app (``sentinelle.web.watch``) stores what
these modules compute, and ``sentinelle serve`` runs them (``watch.service``).

* probes (``checks``, ``state``, ``scheduler``): the checks the hospital model declares
  (``sentinelle.hospital.probes``), run on schedule, turned into states without flapping;
* silent sources (``rhythm``, ``silence``): each source's learned rhythm, and what went quiet;
* coverage (``coverage``): which rules can fire on the sources actually received.

``docs/WATCH.md`` describes what a person sees and sets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from sentinelle.hospital.probes import ProbeSpec
from sentinelle.watch.outcome import Result, Status


async def run_once(specs: Iterable[ProbeSpec], max_running: int = 64) -> list[Result]:
    """Every probe once, at most ``max_running`` at a time; results in the order given."""
    from sentinelle.watch.checks import Prober

    listed = list(specs)
    gate = asyncio.Semaphore(max_running)
    async with Prober() as prober:

        async def one(spec: ProbeSpec) -> Result:
            async with gate:
                return await prober.check(spec)

        return list(await asyncio.gather(*(one(s) for s in listed)))


__all__ = ["Result", "Status", "run_once"]
