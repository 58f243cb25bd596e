"""What a collection of logs holds: events per channel, per event id, per computer, and when.

Counts are exact while the number of distinct keys stays under ``MAX_KEYS`` per table; past it
(hostile input with endless channel names) new keys are counted together as ``(other)``, and
the report says how many events that is, so memory stays bounded and nothing is hidden.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sentinelle.events import Event

MAX_KEYS = 100_000
OTHER = "(other)"
NONE = "(none)"


def _key(value: Any) -> str:
    if value is None or value == "":
        return NONE
    return str(value)


@dataclass(slots=True)
class EventMetrics:
    events: int = 0
    without_time: int = 0
    first: float | None = None
    last: float | None = None
    by_channel: Counter[str] = field(default_factory=Counter)
    by_event: Counter[tuple[str, str]] = field(default_factory=Counter)  # (channel, event id)
    by_computer: Counter[str] = field(default_factory=Counter)
    by_source: Counter[str] = field(default_factory=Counter)  # files (archive members)
    folded: int = 0  # events counted under OTHER because a table was full

    def add(self, event: Event) -> None:
        self.events += 1
        ts = event.timestamp
        if ts is None:
            self.without_time += 1
        else:
            if self.first is None or ts < self.first:
                self.first = ts
            if self.last is None or ts > self.last:
                self.last = ts
        fields = event.fields
        channel = _key(fields.get("Channel") or fields.get("log_format") or fields.get("_path"))
        computer = _key(fields.get("Computer") or fields.get("host") or fields.get("devname"))
        self._count(self.by_channel, channel)
        self._count(self.by_event, (channel, _key(fields.get("EventID"))))
        self._count(self.by_computer, computer)
        self._count(self.by_source, event.source)

    def _count(self, table: Counter[Any], key: Any) -> None:
        if key in table or len(table) < MAX_KEYS:
            table[key] += 1
            return
        self.folded += 1
        table[(OTHER, OTHER) if isinstance(key, tuple) else OTHER] += 1

    @property
    def span_seconds(self) -> float | None:
        if self.first is None or self.last is None:
            return None
        return self.last - self.first
