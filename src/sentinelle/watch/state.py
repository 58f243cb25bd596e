"""From results to states: retries before a change (no flapping), maintenance, daily uptime.

A probe's *state* changes only on evidence: one failure is a blip, ``retries + 1`` failures in a
row are an outage; one success after an outage is a recovery (the way Uptime Kuma counts).
Inside a maintenance window the state is ``maintenance`` and failures count for nothing. Each
change is a :class:`Flip` (Healthchecks' word): old state, new state, time and reason; flips are
what raise alerts, so an alert is one per change, never one per failed run.

Uptime is tallied per probe and UTC day: the share of runs that found the target available,
among the runs that said anything about it (maintenance and unknown runs are left out).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sentinelle.hospital.probes import ProbeSpec
from sentinelle.watch.outcome import Result, Status


@dataclass(frozen=True, slots=True)
class Flip:
    probe: str
    component: str
    site: str
    old: Status | None  # None: the first state this probe ever had
    new: Status
    at: float
    reason: str


@dataclass(slots=True)
class Tracker:
    """One probe's state between runs."""

    spec: ProbeSpec
    state: Status | None = None
    since: float | None = None
    failures: int = 0  # in a row
    last: Result | None = None

    def feed(self, result: Result) -> Flip | None:
        """Take one result; the flip it causes, if any."""
        self.last = result
        window = self.spec.in_maintenance(result.checked)
        observed = result.status
        if window is not None:
            self.failures = 0
            reason = f"maintenance: {window.reason}" if window.reason else "maintenance window"
            return self._change(Status.MAINTENANCE, result.checked, reason)
        if observed is Status.DOWN:
            self.failures += 1
            if self.failures <= self.spec.retries:
                return None  # a blip, until the retries are spent
            return self._change(Status.DOWN, result.checked, result.reason)
        self.failures = 0
        return self._change(observed, result.checked, result.reason)

    def _change(self, new: Status, at: float, reason: str) -> Flip | None:
        if new is self.state:
            return None
        old, self.state, self.since = self.state, new, at
        spec = self.spec
        return Flip(spec.id, spec.component, spec.site, old, new, at, reason)


def utc_day(ts: float) -> date:
    return datetime.fromtimestamp(ts, tz=UTC).date()


@dataclass(slots=True)
class DayTally:
    """Runs of one probe on one UTC day, by status."""

    up: int = 0
    degraded: int = 0
    down: int = 0
    other: int = 0  # unknown and maintenance: not counted in the uptime

    def add(self, status: Status) -> None:
        if status is Status.UP:
            self.up += 1
        elif status is Status.DEGRADED:
            self.degraded += 1
        elif status is Status.DOWN:
            self.down += 1
        else:
            self.other += 1

    def merge(self, other: DayTally) -> None:
        self.up += other.up
        self.degraded += other.degraded
        self.down += other.down
        self.other += other.other

    @property
    def uptime(self) -> float | None:
        counted = self.up + self.degraded + self.down
        return (self.up + self.degraded) / counted if counted else None


@dataclass(slots=True)
class ProbeBook:
    """Every probe's tracker, the flips not yet stored and the day tallies not yet stored.

    The scheduler feeds it; the store takes :meth:`drain` periodically, so what is held between
    two drains is bounded by the number of probes (one tally per probe and day), whatever the
    rate of runs.
    """

    trackers: dict[str, Tracker] = field(default_factory=dict)
    flips: list[Flip] = field(default_factory=list)
    tallies: dict[tuple[str, date], DayTally] = field(default_factory=dict)
    results: dict[str, Result] = field(default_factory=dict)  # the latest, since the last drain

    @classmethod
    def for_probes(cls, specs: Iterable[ProbeSpec]) -> ProbeBook:
        return cls(trackers={s.id: Tracker(s) for s in specs})

    def feed(self, result: Result) -> Flip | None:
        tracker = self.trackers.get(result.probe)
        if tracker is None:
            return None
        flip = tracker.feed(result)
        if flip is not None:
            self.flips.append(flip)
        shown = Status.MAINTENANCE if tracker.state is Status.MAINTENANCE else result.status
        self.tallies.setdefault((result.probe, utc_day(result.checked)), DayTally()).add(shown)
        self.results[result.probe] = result
        return flip

    def drain(self) -> tuple[list[Flip], dict[tuple[str, date], DayTally], dict[str, Result]]:
        flips, tallies, results = self.flips, self.tallies, self.results
        self.flips, self.tallies, self.results = [], {}, {}
        return flips, tallies, results
