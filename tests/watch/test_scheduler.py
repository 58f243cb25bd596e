"""The scheduler: probes spread over their interval, rate-bounded, never two runs at once."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections import Counter
from pathlib import Path

from sentinelle.hospital.probes import ProbeSpec
from sentinelle.watch import Result, Status
from sentinelle.watch.scheduler import Limits, Scheduler, phase
from tests.watch.clock import SimulatedClock
from tests.watch.probe_specs import probe


def many(tmp_path: Path, count: int, interval: float = 60.0) -> list[ProbeSpec]:
    base = probe(tmp_path, tcp="127.0.0.1:9", interval=f"{interval:g}s")
    return [dataclasses.replace(base, id=f"p{i}") for i in range(count)]


def test_probes_are_spread_over_their_interval_and_run_at_it(tmp_path: Path) -> None:
    clock = SimulatedClock()
    starts: list[tuple[str, float]] = []

    async def check(spec: ProbeSpec) -> Result:
        starts.append((spec.id, clock.now()))
        return Result(spec.id, Status.UP, "", clock.wall())

    specs = many(tmp_path, 600)
    scheduler = Scheduler(specs, check, lambda s, r: None, clock=clock)
    asyncio.run(scheduler.run(until=600.0))
    times: dict[str, list[float]] = {}
    for pid, t in starts:
        times.setdefault(pid, []).append(t)
    assert len(times) == 600
    for runs in times.values():  # every minute, on the probe's phase, jitter included
        assert len(runs) in (9, 10)
        assert all(59.4 <= b - a <= 60.6 for a, b in itertools.pairwise(runs))
    first_minute = Counter(int(t) // 6 for _, t in starts if t < 60)  # ten 6-second slices
    assert max(first_minute.values()) < 2 * min(first_minute.values())  # no burst
    assert scheduler.delays.quantile(0.99) <= 0.1
    assert phase("p1", 60) == phase("p1", 60) != phase("p2", 60)


def test_starts_are_rate_bounded(tmp_path: Path) -> None:
    clock = SimulatedClock()
    starts: list[float] = []

    async def check(spec: ProbeSpec) -> Result:
        starts.append(clock.now())
        return Result(spec.id, Status.UP, "", clock.wall())

    limits = Limits(starts_per_second=50, burst=5)
    specs = many(tmp_path, 500, interval=5.0)  # 100 a second wanted, 50 allowed
    scheduler = Scheduler(specs, check, lambda s, r: None, clock=clock, limits=limits)
    asyncio.run(scheduler.run(until=20.0))
    per_second = Counter(int(t) for t in starts)
    assert max(per_second.values()) <= 50 + 5
    assert scheduler.delays.quantile(0.99) > 1  # the queue is visible as delay


def test_a_hanging_check_is_not_started_twice_and_results_arrive(tmp_path: Path) -> None:
    clock = SimulatedClock()
    results: list[Result] = []
    release = asyncio.Event()

    async def check(spec: ProbeSpec) -> Result:
        if spec.id == "p0":
            await release.wait()  # hangs until p1 has run for a while
        elif clock.now() > 12:
            release.set()
        return Result(spec.id, Status.UP, "", clock.wall())

    specs = many(tmp_path, 2, interval=5.0)
    scheduler = Scheduler(specs, check, lambda s, r: results.append(r), clock=clock)
    asyncio.run(scheduler.run(until=20.0))
    assert scheduler.skipped >= 2
    got = Counter(r.probe for r in results)
    assert got["p0"] >= 1 and got["p1"] >= 3
    assert got["p0"] < got["p1"]


def test_a_check_that_raises_is_counted_and_the_schedule_goes_on(tmp_path: Path) -> None:
    clock = SimulatedClock()
    results: list[Result] = []

    async def check(spec: ProbeSpec) -> Result:
        raise RuntimeError("bug")

    scheduler = Scheduler(many(tmp_path, 3), check, lambda s, r: results.append(r), clock=clock)
    asyncio.run(scheduler.run(until=180.0))
    assert scheduler.failed == 9 and len(results) == 9
    assert all(r.status is Status.UNKNOWN and "bug" in r.reason for r in results)
