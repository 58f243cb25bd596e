"""A source's learned rhythm: events per interval, by hour of the week, and when silence matters.

Each source (a host and channel, a firewall, a flow exporter) counts its events per interval
(five minutes by default). Every closed interval updates, for its hour of the week, an
exponentially weighted mean and mean absolute deviation of the count (like the network
baseline), and the same over all hours (used while an hour has too few intervals to speak for
itself). Nights and week-ends are learned as quiet, so a workstation that sleeps at night is
not "silent".

*Silence* is measured in expected events: a source is silent once the events its rhythm
expected since it was last seen reach :data:`SILENT_EXPECTED` (eight: were the events a Poisson
stream, eight expected and none seen happens three times in ten thousand). ``late_after`` is
the moment that happens if nothing more arrives, computed once when the source is seen and
stored as a column; a source that *keeps sending* but far below its rhythm is a *drop*, found
when its interval closes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

INTERVAL = 300.0
SLOTS = 168  # hours of the week, Monday 00:00 UTC first
ALPHA = 0.2  # weight of a new interval in its hour's mean
ALPHA_ALL = 0.05
MIN_LEARNED = 3  # intervals an hour needs before its own mean is used
SILENT_EXPECTED = 8.0
HORIZON = 7 * 86_400.0  # a source expected to send nothing for a week is looked at weekly
MAX_GAP_INTERVALS = 7 * 288  # zeros folded in when a source comes back (at most a week's)
DROP_MIN_MEAN = 20.0  # a drop is only said of a source that sends at least this per interval
DROP_RATIO = 0.1


def slot_of(ts: float) -> int:
    moment = datetime.fromtimestamp(ts, tz=UTC)
    return moment.weekday() * 24 + moment.hour


@dataclass(slots=True)
class Stat:
    mean: float = 0.0
    dev: float = 0.0
    n: int = 0

    def add(self, value: float, alpha: float) -> None:
        if self.n == 0:
            self.mean, self.dev = value, value / 2
        else:
            a = max(alpha, 1.0 / (self.n + 1))  # plain average while young, then EWMA
            self.dev += a * (abs(value - self.mean) - self.dev)
            self.mean += a * (value - self.mean)
        self.n += 1


@dataclass(frozen=True, slots=True)
class Closed:
    """An interval that closed: its start, its count, and what the rhythm expected then."""

    start: float
    count: int
    expected: float | None
    dev: float

    @property
    def is_drop(self) -> bool:
        if self.expected is None or self.expected < DROP_MIN_MEAN or self.count == 0:
            return False  # nothing at all is silence, not a drop
        return self.count < self.expected * DROP_RATIO and self.count < self.expected - 4 * self.dev


@dataclass(slots=True)
class Rhythm:
    interval: float = INTERVAL
    slots: list[Stat] = field(default_factory=lambda: [Stat() for _ in range(SLOTS)])
    overall: Stat = field(default_factory=Stat)
    bucket: float | None = None  # start of the open interval
    count: int = 0  # events in the open interval

    # -- storage --------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "interval": self.interval,
            "slots": [[round(s.mean, 4), round(s.dev, 4), s.n] for s in self.slots],
            "all": [round(self.overall.mean, 4), round(self.overall.dev, 4), self.overall.n],
            "bucket": self.bucket,
            "count": self.count,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None, interval: float = INTERVAL) -> Rhythm:
        if not data:
            return cls(interval=interval)
        try:
            slots = [Stat(float(m), float(d), int(n)) for m, d, n in data["slots"]]
            m, d, n = data["all"]
            bucket = data.get("bucket")
            rhythm = cls(
                float(data.get("interval", interval)),
                slots if len(slots) == SLOTS else [Stat() for _ in range(SLOTS)],
                Stat(float(m), float(d), int(n)),
                None if bucket is None else float(bucket),
                int(data.get("count", 0)),
            )
        except (KeyError, TypeError, ValueError):
            return cls(interval=interval)  # a damaged row learns again rather than failing
        return rhythm

    # -- learning -------------------------------------------------------------------------------

    def start_of(self, ts: float) -> float:
        return math.floor(ts / self.interval) * self.interval

    def expected(self, start: float) -> tuple[float | None, float]:
        """Events expected in the interval starting at ``start`` (None: not learned yet)."""
        own = self.slots[slot_of(start)]
        if own.n >= MIN_LEARNED:
            return own.mean, own.dev
        if self.overall.n >= MIN_LEARNED:
            return self.overall.mean, self.overall.dev
        return None, 0.0

    def add(self, ts: float, count: int) -> list[Closed]:
        """Count ``count`` events at ``ts``; the intervals this closes (with their counts)."""
        start = self.start_of(ts)
        if self.bucket is None:
            self.bucket, self.count = start, count
            return []
        if start <= self.bucket:  # late or same interval: counted in the open one
            self.count += count
            return []
        closed = list(self.close_until(start))
        self.bucket, self.count = start, count
        return closed

    def close_until(self, start: float) -> Iterator[Closed]:
        """Close the open interval and every empty one before ``start``."""
        if self.bucket is None:
            return
        current, count = self.bucket, self.count
        steps = 0
        while current < start and steps <= MAX_GAP_INTERVALS:
            expected, dev = self.expected(current)
            yield Closed(current, count, expected, dev)
            self.slots[slot_of(current)].add(count, ALPHA)
            self.overall.add(count, ALPHA_ALL)
            current += self.interval
            count = 0
            steps += 1
        self.bucket, self.count = max(start, current), 0

    # -- silence --------------------------------------------------------------------------------

    def expected_between(self, since: float, until: float) -> float | None:
        """Events expected from ``since`` to ``until`` (None while nothing is learned)."""
        total = 0.0
        learned = False
        start = self.start_of(since)
        steps = 0
        while start < until and steps < 4 * 2016:
            expected, _dev = self.expected(start)
            if expected is not None:
                learned = True
                lo, hi = max(start, since), min(start + self.interval, until)
                total += expected * (hi - lo) / self.interval
            start += self.interval
            steps += 1
        return total if learned else None

    def late_after(self, last_seen: float) -> float:
        """When the silence after ``last_seen`` becomes significant (at most a week on)."""
        total = 0.0
        start = self.start_of(last_seen)
        limit = last_seen + HORIZON
        while start < limit:
            expected, _dev = self.expected(start)
            if expected:
                lo = max(start, last_seen)
                share = expected * (start + self.interval - lo) / self.interval
                if total + share >= SILENT_EXPECTED:
                    return lo + (SILENT_EXPECTED - total) / expected * self.interval
                total += share
            start += self.interval
        return limit


@dataclass(frozen=True, slots=True)
class SourceKey:
    kind: str  # "log" or "flow"
    host: str
    channel: str
    input: str

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.host}|{self.channel}"[:512]


def source_key(fields: Mapping[str, Any], input_name: str, sender: str, kind: str) -> SourceKey:
    """Which source an event comes from: its host (the event's, else the sender) and channel
    (a Windows channel, else the input family: syslog, json...)."""
    host = ""
    for name in ("Computer", "host", "hostname", "Hostname"):
        value = fields.get(name)
        if isinstance(value, str) and value.strip():
            host = value
            break
    from sentinelle.service.store import storable  # the store refuses NUL (PostgreSQL)

    host = storable((host or sender).strip().lower()[:255])
    channel = fields.get("Channel")
    text = channel.strip()[:255] if isinstance(channel, str) and channel.strip() else kind
    return SourceKey("log", host, storable(text), input_name)


@dataclass(slots=True)
class SourceCounts:
    """Events per source and interval since the last flush: what the detector hands over.

    Kept per interval, so a backlog matched at once (a restart, a journal replayed) still
    teaches each interval its own count. Bounded: at most ``limit`` (source, interval) pairs
    between two flushes (the rest are counted in ``overflow`` and reported), numbers only.
    """

    counts: dict[tuple[SourceKey, float], list[float]] = field(default_factory=dict)
    flushed_at: float = 0.0
    overflow: int = 0
    limit: int = 200_000
    interval: float = INTERVAL

    def add(self, key: SourceKey, received: float, count: int = 1) -> None:
        slot = (key, math.floor(received / self.interval) * self.interval)
        entry = self.counts.get(slot)
        if entry is None:
            if len(self.counts) >= self.limit:
                self.overflow += count
                return
            self.counts[slot] = [float(count), received]
            return
        entry[0] += count
        entry[1] = max(entry[1], received)

    def take(self) -> dict[SourceKey, list[tuple[int, float]]]:
        """Per source, ``(count, last received)`` of each interval, oldest first."""
        out: dict[SourceKey, list[tuple[int, float]]] = {}
        for (key, _start), (count, last) in sorted(self.counts.items(), key=lambda kv: kv[0][1]):
            out.setdefault(key, []).append((int(count), last))
        self.counts = {}
        return out


def count_events(
    counts: SourceCounts, events: Sequence[tuple[Mapping[str, Any], str, str, str, float]]
) -> None:
    """Count ``(fields, input, sender, kind, received)`` of a slice's events."""
    for fields, input_name, sender, kind, received in events:
        counts.add(source_key(fields, input_name, sender, kind), received)


MAX_FIELDS_PER_KIND = 400
MAX_KINDS = 5_000


@dataclass(slots=True)
class FieldCensus:
    """The populated fields seen per (channel, event id), and how many events: what tells
    coverage which rules can fire. Bounded in kinds and fields per kind."""

    seen: dict[tuple[str, int], set[str]] = field(default_factory=dict)
    events: dict[tuple[str, int], list[float]] = field(default_factory=dict)  # [count, last]
    changed: set[tuple[str, int]] = field(default_factory=set)

    def add(self, fields: Mapping[str, Any], received: float) -> None:
        channel = fields.get("Channel")
        folded = channel.strip().lower()[:255] if isinstance(channel, str) else ""
        key = (folded, _event_id(fields.get("EventID")))
        known = self.seen.get(key)
        if known is None:
            if len(self.seen) >= MAX_KINDS:
                return
            known = self.seen[key] = set()
        counted = self.events.setdefault(key, [0.0, received])
        counted[0] += 1
        counted[1] = max(counted[1], received)
        self.changed.add(key)
        if len(known) >= MAX_FIELDS_PER_KIND:
            return
        # The names not known yet, in C: an event's fields are mostly known, and an empty one
        # (not counted) would otherwise send every such event through the loop below.
        new = fields.keys() - known
        if not new:
            return
        # In the event's order when the cap is near, so which names it keeps is always the same.
        names = new if len(known) + len(new) <= MAX_FIELDS_PER_KIND else list(fields)
        for name in names:
            value = fields[name]
            if value is not None and value != "" and len(known) < MAX_FIELDS_PER_KIND:
                known.add(str(name)[:128])

    def take(self) -> dict[tuple[str, int], tuple[list[str], int, float]]:
        """What changed since the last take: fields, events counted, last seen."""
        out = {
            key: (sorted(self.seen[key]), int(self.events[key][0]), self.events[key][1])
            for key in self.changed
        }
        self.changed = set()
        for counted in self.events.values():
            counted[0] = 0.0
        return out


def _event_id(value: Any) -> int:
    if isinstance(value, bool):
        return -1
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdecimal():
        return int(value.strip()[:9])
    return -1
