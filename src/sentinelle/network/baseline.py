"""A learned normal per subject: exponentially weighted mean and deviation, per time of day.

Each subject (a destination, a site, an internal host) keeps, for each of its metrics, an
exponentially weighted mean and mean absolute deviation over the whole day and one per time
slot (an hour by default). A slot's own baseline is used once it has seen enough windows, so
that 03:00 is compared with earlier nights rather than with the daytime peak. Values live in
one flat ``array`` per subject: about 1.2 KB for three metrics and 24 slots, which is what
bounds the memory of the detectors together with their subject caps.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sentinelle.errors import ConfigError
from sentinelle.network.config import BaselineConfig


class Baseline:
    """Mean and deviation of ``metrics`` values, all-day (slot index ``slots``) and per slot."""

    __slots__ = ("counts", "metrics", "values")

    def __init__(self, metrics: int, slots: int) -> None:
        self.metrics = metrics
        # Layout: [slot][metric][mean, deviation]; the last slot is the all-day baseline.
        self.values = array("d", bytes(8 * 2 * metrics * (slots + 1)))
        self.counts = array("I", bytes(4 * (slots + 1)))

    def update(self, slot: int, sample: Sequence[float], alpha: float) -> None:
        all_day = len(self.counts) - 1
        for index in (slot, all_day):
            base = index * self.metrics * 2
            values = self.values
            first = self.counts[index] == 0
            for m, x in enumerate(sample):
                at = base + 2 * m
                if first:
                    values[at] = x
                    values[at + 1] = 0.0
                else:
                    mean = values[at]
                    values[at + 1] += alpha * (abs(x - mean) - values[at + 1])
                    values[at] = mean + alpha * (x - mean)
            if self.counts[index] < 0xFFFFFFFF:
                self.counts[index] += 1

    def samples(self, slot: int | None = None) -> int:
        return self.counts[len(self.counts) - 1 if slot is None else slot]

    def mean_dev(self, slot: int, metric: int, slot_min_samples: int) -> tuple[float, float]:
        """Mean and deviation from the slot when it is mature, else from the whole day."""
        index = slot if self.counts[slot] >= slot_min_samples else len(self.counts) - 1
        at = (index * self.metrics + metric) * 2
        return self.values[at], self.values[at + 1]

    def thresholds(
        self,
        slot: int,
        floors: Sequence[float],
        factor: float,
        deviations: float,
        config: BaselineConfig,
    ) -> list[float]:
        """Per metric, the value above which it is anomalous: never under its floor."""
        if self.counts[len(self.counts) - 1] < config.min_samples:
            return list(floors)
        out = []
        for m, floor in enumerate(floors):
            mean, dev = self.mean_dev(slot, m, config.slot_min_samples)
            out.append(max(floor, factor * mean, mean + deviations * dev))
        return out


class SlotClock:
    """Maps epoch seconds to the local time-of-day slot; offsets are cached per hour."""

    def __init__(self, config: BaselineConfig) -> None:
        try:
            self._zone = ZoneInfo(config.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"baseline.timezone: unknown time zone {config.timezone!r}") from exc
        self._slot_seconds = 86400 / config.slots_per_day
        self._offsets: dict[int, float] = {}

    def slot(self, epoch: float) -> int:
        hour = int(epoch // 3600)
        offset = self._offsets.get(hour)
        if offset is None:
            if len(self._offsets) > 4096:
                self._offsets.clear()
            try:
                moment = datetime.fromtimestamp(hour * 3600, tz=UTC).astimezone(self._zone)
                delta = moment.utcoffset()
            except (OverflowError, OSError, ValueError):
                delta = None  # past what datetime holds (the detector sets such flows aside)
            offset = delta.total_seconds() if delta is not None else 0.0
            self._offsets[hour] = offset
        return int(((epoch + offset) % 86400) // self._slot_seconds)
