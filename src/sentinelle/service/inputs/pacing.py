"""Sharing the inputs between senders: per-source rates and connection slots.

A token bucket per source address: ``rate`` messages a second, ``burst`` at most saved up. UDP
asks :meth:`SourceRates.allow` per datagram and drops what is over; a stream input charges a
whole batch with :meth:`SourceRates.charge` and is told how long to stop reading, so nothing
it already read is lost and the sender's own queue takes the wait.
"""

from __future__ import annotations

import ipaddress

from sentinelle.service.inputs.limits import InputLimits


def source_of(peer: object) -> str:
    """A peer's address without its port; an IPv4-mapped IPv6 address as plain IPv4."""
    host = peer[0] if isinstance(peer, tuple) and peer else str(peer or "unknown")
    text = str(host)
    if text.startswith("::ffff:"):
        try:
            mapped = ipaddress.IPv6Address(text).ipv4_mapped
        except ValueError:
            return text
        if mapped is not None:
            return str(mapped)
    return text


class SourceRates:
    """Token buckets by source address, bounded to ``max_sources`` entries."""

    __slots__ = ("_buckets", "_burst", "_max_sources", "_rate")

    def __init__(self, rate: float, burst: int, max_sources: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._max_sources = max_sources
        self._buckets: dict[str, list[float]] = {}  # source -> [tokens, last refill time]

    @classmethod
    def from_limits(cls, limits: InputLimits) -> SourceRates:
        return cls(limits.source_rate, limits.source_burst, limits.max_tracked_sources)

    def _bucket(self, source: str, now: float) -> list[float]:
        bucket = self._buckets.get(source)
        if bucket is None:
            if len(self._buckets) >= self._max_sources:
                # Forget the oldest tenth at once (insertion order): a flood of spoofed
                # addresses cannot grow the table, and the cost is spread over many inserts.
                for old in list(self._buckets)[: max(1, self._max_sources // 10)]:
                    del self._buckets[old]
            bucket = self._buckets[source] = [self._burst, now]
            return bucket
        elapsed = now - bucket[1]
        if elapsed > 0:
            bucket[0] = min(self._burst, bucket[0] + elapsed * self._rate)
            bucket[1] = now
        return bucket

    def allow(self, source: str, now: float) -> bool:
        """Take one token if there is one (a datagram)."""
        bucket = self._bucket(source, now)
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            return True
        return False

    def charge(self, source: str, count: int, now: float) -> tuple[float, int]:
        """Take ``count`` tokens, into debt if need be: the seconds until the debt is paid,
        and how many of the ``count`` went over the rate."""
        bucket = self._bucket(source, now)
        before = bucket[0]
        bucket[0] -= count
        if bucket[0] >= 0:
            return 0.0, 0
        over = count - max(0, int(before))
        return -bucket[0] / self._rate, over

    def __len__(self) -> int:
        return len(self._buckets)


class ConnectionSlots:
    """Open connections, in total and per source, against their caps."""

    __slots__ = ("_by_source", "_per_source", "_total", "open")

    def __init__(self, total: int, per_source: int) -> None:
        self._total = total
        self._per_source = per_source
        self._by_source: dict[str, int] = {}
        self.open = 0

    def take(self, source: str) -> str:
        """``""`` when the connection may stay, else why not (``over-total``, ``over-source``)."""
        if self.open >= self._total:
            return "over-total"
        held = self._by_source.get(source, 0)
        if held >= self._per_source:
            return "over-source"
        self._by_source[source] = held + 1
        self.open += 1
        return ""

    def give_back(self, source: str) -> None:
        held = self._by_source.get(source, 0) - 1
        if held <= 0:
            self._by_source.pop(source, None)
        else:
            self._by_source[source] = held
        self.open = max(0, self.open - 1)
