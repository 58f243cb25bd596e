"""What one group of one correlation remembers about its window, one class per measure.

Every aggregate keeps its entries in arrival order (which is time order) so that expiring a
sliding window is popping from the left. ``value(cutoff)`` is the measure over the entries at or
after ``cutoff``; the caller has already expired older ones, except for the ordered-temporal
chains, which are not stored as entries and filter on ``cutoff`` themselves.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Collection
from typing import Any

from sentinelle.events import Event

# Sentinel for "this detection carries no usable value" (missing or non-numeric field).
NO_VALUE: Any = object()


class Aggregate:
    """Interface; ``size`` counts the entries held, which the memory caps are expressed in."""

    __slots__ = ()

    def add(self, ts: float, pos: int, payload: Any, event: Event | None) -> None:
        raise NotImplementedError

    def expire(self, cutoff: float) -> None:
        """Forget entries older than ``cutoff``."""

    def evict_oldest(self) -> None:
        """Forget the oldest entry early (the per-group cap); the caller counts it."""

    @property
    def size(self) -> int:
        raise NotImplementedError

    def value(self, cutoff: float) -> float | None:
        raise NotImplementedError

    def first_ts(self, cutoff: float) -> float | None:
        """Time of the oldest entry that counts towards the value."""
        raise NotImplementedError

    def contributing(self, cutoff: float) -> list[tuple[float, Event]] | None:
        """Events that make the value, when the aggregate tracks them (temporal kinds)."""
        return None


class _Queue(Aggregate):
    """Entries in arrival order in a list read from ``head``: what a group holds costs a list
    (a deque costs over 600 bytes empty, and most groups hold one entry). The consumed front is
    dropped once it is half the list, so expiring stays amortised O(1)."""

    __slots__ = ("head", "items")

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.head = 0

    def _front(self) -> Any:
        return self.items[self.head]

    def _pop(self) -> Any:
        item = self.items[self.head]
        self.head += 1
        if self.head == len(self.items):
            self.items.clear()
            self.head = 0
        elif self.head >= 32 and self.head * 2 >= len(self.items):
            del self.items[: self.head]
            self.head = 0
        return item

    @property
    def size(self) -> int:
        return len(self.items) - self.head


class CountAggregate(_Queue):
    """event_count: the entries are timestamps."""

    __slots__ = ()

    def add(self, ts: float, pos: int, payload: Any, event: Event | None) -> None:
        self.items.append(ts)

    def expire(self, cutoff: float) -> None:
        while self.size and self._front() < cutoff:
            self._pop()

    def evict_oldest(self) -> None:
        self._pop()

    def value(self, cutoff: float) -> float | None:
        return float(self.size)

    def first_ts(self, cutoff: float) -> float | None:
        return self._front() if self.size else None


class _EntryAggregate(_Queue):
    """Entries ``(time, payload)`` in arrival order; subclasses keep their measure in step."""

    __slots__ = ()

    def add(self, ts: float, pos: int, payload: Any, event: Event | None) -> None:
        if payload is NO_VALUE:
            return
        self.items.append((ts, payload))
        self._added(payload, event, ts)

    def _added(self, payload: Any, event: Event | None, ts: float) -> None:
        raise NotImplementedError

    def _dropped(self, payload: Any) -> None:
        raise NotImplementedError

    def expire(self, cutoff: float) -> None:
        while self.size and self._front()[0] < cutoff:
            self._dropped(self._pop()[1])

    def evict_oldest(self) -> None:
        self._dropped(self._pop()[1])

    def first_ts(self, cutoff: float) -> float | None:
        return self._front()[0] if self.size else None


class DistinctAggregate(_EntryAggregate):
    """value_count: a counter per value tells when the last one leaves the window."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[Any, int] = {}

    def _added(self, payload: Any, event: Event | None, ts: float) -> None:
        self.counts[payload] = self.counts.get(payload, 0) + 1

    def _dropped(self, payload: Any) -> None:
        left = self.counts[payload] - 1
        if left:
            self.counts[payload] = left
        else:
            del self.counts[payload]

    def value(self, cutoff: float) -> float | None:
        return float(len(self.counts))


class SumAggregate(_EntryAggregate):
    """value_sum and value_avg: the total is kept running.

    Integers stay integers, so the usual byte counts are summed exactly; when the window empties
    the running float total is reset, so rounding drift cannot outlive a quiet period.
    """

    __slots__ = ("average", "total")

    def __init__(self, average: bool) -> None:
        super().__init__()
        self.total: int | float = 0
        self.average = average

    def _added(self, payload: Any, event: Event | None, ts: float) -> None:
        self.total += payload

    def _dropped(self, payload: Any) -> None:
        self.total = self.total - payload if self.size else 0

    def value(self, cutoff: float) -> float | None:
        if not self.size:
            return None  # like SQL: the sum or mean of no values is NULL, which fails every test
        return self.total / self.size if self.average else float(self.total)


class PercentileAggregate(_EntryAggregate):
    """value_percentile / value_median: the same numbers are also kept sorted."""

    __slots__ = ("percentile", "sorted")

    def __init__(self, percentile: float) -> None:
        super().__init__()
        self.sorted: list[int | float] = []
        self.percentile = percentile

    def _added(self, payload: Any, event: Event | None, ts: float) -> None:
        bisect.insort(self.sorted, payload)

    def _dropped(self, payload: Any) -> None:
        del self.sorted[bisect.bisect_left(self.sorted, payload)]

    def value(self, cutoff: float) -> float | None:
        return percentile_of(self.sorted, self.percentile)


def percentile_of(ordered: list[int | float], percentile: float) -> float | None:
    """Linear interpolation between the closest ranks (numpy's default, ``method='linear'``)."""
    if not ordered:
        return None
    rank = (len(ordered) - 1) * percentile / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    fraction = rank - low
    return float(ordered[low] + (ordered[high] - ordered[low]) * fraction)


class TemporalAggregate(_EntryAggregate):
    """temporal: entries carry the rule position; the value is how many rules are in the window.

    The latest event of each rule is kept, so an alert can show one event per rule.
    """

    __slots__ = ("counts", "latest", "test")

    def __init__(self, positions: int, test: Callable[[Collection[int]], bool] | None) -> None:
        super().__init__()
        self.counts = [0] * positions
        self.latest: list[tuple[float, Event] | None] = [None] * positions
        self.test = test

    def add(self, ts: float, pos: int, payload: Any, event: Event | None) -> None:
        super().add(ts, pos, pos, event)

    def _added(self, payload: Any, event: Event | None, ts: float) -> None:
        self.counts[payload] += 1
        if event is not None:
            self.latest[payload] = (ts, event)

    def _dropped(self, payload: Any) -> None:
        self.counts[payload] -= 1
        if not self.counts[payload]:
            self.latest[payload] = None

    def seen(self) -> set[int]:
        return {pos for pos, n in enumerate(self.counts) if n}

    def value(self, cutoff: float) -> float | None:
        return float(sum(1 for n in self.counts if n))

    def holds(self) -> bool:
        """The boolean (extended) condition over the rules in the window."""
        assert self.test is not None
        return self.test(self.seen())

    def first_ts(self, cutoff: float) -> float | None:
        times = [item[0] for item in self.latest if item is not None]
        return min(times) if times else None

    def contributing(self, cutoff: float) -> list[tuple[float, Event]] | None:
        return sorted((i for i in self.latest if i is not None), key=lambda item: item[0])


# One ordered chain: its start time and its events, oldest first.
Chain = tuple[float, tuple[tuple[float, Event | None, int], ...]]


class OrderedAggregate(Aggregate):
    """temporal_ordered: the longest chain of the rules, in list order, inside the window.

    ``best[pos][length]`` is the chain of ``length`` rules (positions strictly increasing, the
    last one ``pos``) that started latest: the latest start is the one that stays in a sliding
    window longest, so keeping only it loses nothing. Rules may be skipped (with a condition
    below the number of rules, ``a`` then ``c`` is an ordered chain of two out of ``a, b, c``).
    Equal timestamps keep arrival order.
    """

    __slots__ = ("best", "filled", "positions")

    def __init__(self, positions: int) -> None:
        self.positions = positions
        # A chain ending at position p has at most p + 1 steps.
        self.best: list[list[Chain | None]] = [[None] * (p + 2) for p in range(positions)]
        self.filled = 0  # chains held: what the memory caps count for this aggregate

    def add(self, ts: float, pos: int, payload: Any, event: Event | None) -> None:
        cutoff = payload  # the caller passes the window start (or -inf for anchored windows)
        row = self.best[pos]
        for length in range(pos + 1, 1, -1):
            candidate: Chain | None = None
            for earlier in range(length - 2, pos):  # earlier rows hold no longer chains
                chain = self.best[earlier][length - 1]
                if (
                    chain is not None
                    and chain[0] >= cutoff
                    and (candidate is None or chain[0] >= candidate[0])
                ):
                    candidate = chain
            if candidate is not None:
                current = row[length]
                if current is None or current[0] < cutoff or candidate[0] >= current[0]:
                    self.filled += current is None
                    row[length] = (candidate[0], (*candidate[1], (ts, event, pos)))
        self.filled += row[1] is None
        row[1] = (ts, ((ts, event, pos),))

    def evict_oldest(self) -> None:
        """Chains have no order to evict by: past the per-group cap they are all forgotten."""
        self.best = [[None] * (p + 2) for p in range(self.positions)]
        self.filled = 0

    @property
    def size(self) -> int:
        return self.filled

    def _longest(self, cutoff: float) -> Chain | None:
        for length in range(self.positions, 0, -1):
            found: Chain | None = None
            for row in self.best[length - 1 :]:
                chain = row[length]
                if (
                    chain is not None
                    and chain[0] >= cutoff
                    and (found is None or chain[0] > found[0])
                ):
                    found = chain
            if found is not None:
                return found
        return None

    def value(self, cutoff: float) -> float | None:
        chain = self._longest(cutoff)
        return float(len(chain[1])) if chain else 0.0

    def first_ts(self, cutoff: float) -> float | None:
        chain = self._longest(cutoff)
        return chain[0] if chain else None

    def contributing(self, cutoff: float) -> list[tuple[float, Event]] | None:
        chain = self._longest(cutoff)
        if chain is None:
            return []
        return [(ts, ev) for ts, ev, _ in chain[1] if ev is not None]

    def chain_positions(self, cutoff: float) -> list[int]:
        """Positions (in the rules list) of the longest chain in the window."""
        chain = self._longest(cutoff)
        return [pos for _, _, pos in chain[1]] if chain else []
