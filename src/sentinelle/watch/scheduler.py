"""Running probes on schedule, spread so they never burst, on one asyncio loop.

Each probe has a fixed *phase* inside its interval, taken from a digest of its id: a thousand
probes of one minute start spread over the minute, at start-up as ever after, and the same
probe keeps its place across restarts. On top of that each run is jittered a little (at most
2 % of the interval, half a second), starts are rate-bounded (a token bucket) and the checks in
flight are bounded (a semaphore), so neither a model with ten thousand probes nor a stall of
the loop turns into a burst of connections.

A run that comes due while the previous run of the same probe still runs is skipped, not
queued: a hanging target must not pile up connections. Runs missed while the loop was stalled
are not made up either: the next one is at the next point of the probe's phase.

Time comes from a :class:`Clock`, so ``bench/probes.py`` runs an hour of schedule in seconds.
The scheduling delay of every run (start minus due time) is kept in a fixed histogram.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from sentinelle.hospital.probes import ProbeSpec
from sentinelle.watch.outcome import Result, Status


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale."""
        ...

    def wall(self) -> float:
        """Seconds since the epoch."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class LoopClock:
    """The real time of the running loop."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass(frozen=True, slots=True)
class Limits:
    max_running: int = 256  # checks in flight at once
    starts_per_second: float = 400.0
    burst: int = 20  # starts allowed at once after a quiet moment
    max_jitter: float = 0.5  # seconds (and at most 2 % of the interval)


class DelayHistogram:
    """Scheduling delays in 5 ms steps up to 30 s (one overflow bucket): fixed memory."""

    STEP = 0.005
    SIZE = 6_000

    def __init__(self) -> None:
        self.counts = [0] * (self.SIZE + 1)
        self.total = 0
        self.worst = 0.0

    def add(self, delay: float) -> None:
        index = min(self.SIZE, max(0, int(delay / self.STEP)))
        self.counts[index] += 1
        self.total += 1
        self.worst = max(self.worst, delay)

    def quantile(self, q: float) -> float:
        """The delay below which ``q`` of the runs started (upper edge of its bucket)."""
        if not self.total:
            return 0.0
        wanted = math.ceil(q * self.total)
        seen = 0
        for index, count in enumerate(self.counts):
            seen += count
            if seen >= wanted:
                return min((index + 1) * self.STEP, max(self.worst, self.STEP))
        return self.worst


def phase(probe_id: str, interval: float) -> float:
    """The probe's fixed offset inside its interval (stable across restarts)."""
    digest = hashlib.sha256(probe_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * interval


@dataclass(slots=True)
class _Bucket:
    rate: float
    capacity: float
    tokens: float
    at: float

    def wait(self, now: float) -> float:
        """Seconds to wait before the next start (0: start now, and the token is taken)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0 - 1e-9:  # float sums fall short of 1 by a hair
            self.tokens = max(0.0, self.tokens - 1.0)
            return 0.0
        # At least a millisecond: a wait that rounds to nothing would spin without time passing.
        return max(0.001, (1.0 - self.tokens) / self.rate)


Check = Callable[[ProbeSpec], Awaitable[Result]]
OnResult = Callable[[ProbeSpec, Result], None]


@dataclass(slots=True)
class Scheduler:
    """Runs ``check`` for every probe at its interval; hands each result to ``on_result``."""

    specs: Iterable[ProbeSpec]
    check: Check
    on_result: OnResult
    clock: Clock = field(default_factory=LoopClock)
    limits: Limits = field(default_factory=Limits)
    seed: int = 0
    delays: DelayHistogram = field(default_factory=DelayHistogram)
    started: int = 0
    skipped: int = 0  # runs not started because the previous one still ran
    failed: int = 0  # checks that raised (a bug: counted, the probe goes on)
    # (due, order, base, spec): ``base`` is the point of the probe's phase, ``due`` adds this
    # run's jitter, so jitter never accumulates into a drift.
    _heap: list[tuple[float, int, float, ProbeSpec]] = field(default_factory=list)
    _running: set[str] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _stop: asyncio.Event | None = None
    _random: random.Random = field(default_factory=random.Random)

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    async def run(self, until: float | None = None) -> None:
        """Run until :meth:`stop` (or until the clock reaches ``until``), then wait for the
        checks in flight to finish."""
        self._stop = asyncio.Event()
        self._random.seed(self.seed)
        start = self.clock.now()
        self._heap = []
        for i, s in enumerate(self.specs):
            base = start + phase(s.id, s.interval)
            self._heap.append((base, i, base, s))
        heapq.heapify(self._heap)
        limits = self.limits
        bucket = _Bucket(limits.starts_per_second, float(limits.burst), float(limits.burst), start)
        slots = asyncio.Semaphore(limits.max_running)
        try:
            while self._heap and not self._stop.is_set():
                due, order, base, spec = self._heap[0]
                now = self.clock.now()
                if until is not None and due >= until:
                    break
                if due > now:
                    await self._pause(min(due - now, 1.0))
                    continue
                wait = bucket.wait(now)
                if wait > 0:
                    await self._pause(wait)
                    continue
                await slots.acquire()
                following = self._following(spec, base)
                jitter = self._random.uniform(0.0, min(limits.max_jitter, spec.interval * 0.02))
                heapq.heapreplace(self._heap, (following + jitter, order, following, spec))
                if spec.id in self._running:
                    self.skipped += 1
                    slots.release()
                    continue
                self.delays.add(self.clock.now() - due)
                self.started += 1
                self._running.add(spec.id)
                task = asyncio.create_task(self._one(spec, slots))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        finally:
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _pause(self, seconds: float) -> None:
        assert self._stop is not None
        if isinstance(self.clock, LoopClock):
            with contextlib.suppress(TimeoutError):  # woken early only by stop()
                await asyncio.wait_for(self._stop.wait(), seconds)
        else:
            await self.clock.sleep(seconds)

    def _following(self, spec: ProbeSpec, base: float) -> float:
        interval = spec.interval
        now = self.clock.now()
        following = base + interval
        if following <= now:  # the loop stalled: skip to the next point of the phase
            following += interval * math.ceil((now - following) / interval)
        return following

    async def _one(self, spec: ProbeSpec, slots: asyncio.Semaphore) -> None:
        try:
            result = await self.check(spec)
        except Exception as exc:  # noqa: BLE001 - a check's bug must not stop the others
            self.failed += 1
            result = Result(spec.id, Status.UNKNOWN, f"probe failed: {exc!r}"[:300], time.time())
        finally:
            slots.release()
            self._running.discard(spec.id)
        self.on_result(spec, result)
