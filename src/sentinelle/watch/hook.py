"""The detector's hook: count each slice's events per source, into its checkpointed state.

The counts live in the detector's state (``DetectorState.sources``), pickled with its
checkpoint. Every :data:`FLUSH_SECONDS` the detector takes them out (:func:`due_counts`)
*before* pickling the state and writes them to the source table in the same transaction as the
checkpoint (``web.watch.silencestore.write_counts``): a crash replays the slices after the
checkpoint and counts them again, never twice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sentinelle.watch.rhythm import FieldCensus, SourceCounts, SourceKey, source_key

FLUSH_SECONDS = 30.0


def counts_of(state: Any) -> SourceCounts:
    """The state's counts (made on first use, and for a state pickled before they existed)."""
    counts = getattr(state, "sources", None)
    if not isinstance(counts, SourceCounts):
        counts = SourceCounts()
        state.sources = counts
    return counts


def census_of(state: Any) -> FieldCensus:
    census = getattr(state, "fields", None)
    if not isinstance(census, FieldCensus):
        census = FieldCensus()
        state.fields = census
    return census


@dataclass(slots=True)
class Pending:
    """What a checkpoint writes for watching: events per source and interval, and the fields
    seen per (channel, event id) that changed."""

    counts: dict[SourceKey, list[tuple[int, float]]] = field(default_factory=dict)
    fields: dict[tuple[str, int], tuple[list[str], int, float]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.counts or self.fields)


def due_counts(state: Any, now: float) -> Pending:
    """What to write with this checkpoint (nothing until a flush is due)."""
    counts = counts_of(state)
    if now - counts.flushed_at < FLUSH_SECONDS:
        return Pending()
    counts.flushed_at = now
    return Pending(counts.take(), census_of(state).take())


def count_slice(state: Any, entries: Sequence[Any], events: Sequence[Any]) -> None:
    """Count a slice: its events by (host, channel), its flow datagrams by exporter.

    This runs on every event the service takes, so the events of one source in one interval
    are counted together: the source key (``source_key``) is made once per group of events
    that give it the same names, not once per event."""
    counts = counts_of(state)
    census = census_of(state)
    by_seq = {entry.seq: entry.record for entry in entries}
    interval = counts.interval
    # (what source_key reads of the fields, input, sender, kind, interval) -> [fields, n, last]
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for event in events:
        record = by_seq.get(event.record)
        if record is None:
            continue
        fields = event.fields
        received = record.received
        census.add(fields, received)
        get = fields.get
        names = (get("Computer"), get("host"), get("hostname"), get("Hostname"), get("Channel"))
        slot = (names, record.input, record.sender, record.kind, math.floor(received / interval))
        try:
            group = groups.get(slot)
        except TypeError:  # a list or a map where a name is expected: this event alone
            counts.add(source_key(fields, record.input, record.sender, str(record.kind)), received)
            continue
        if group is None:
            groups[slot] = [fields, 1, received]
        else:
            group[1] += 1
            group[2] = max(group[2], received)
    for (_names, input_name, sender, kind, _slot), (fields, n, last) in groups.items():
        counts.add(source_key(fields, input_name, sender, str(kind)), last, n)
    for entry in entries:
        record = entry.record
        if str(record.kind) == "flow":
            counts.add(
                SourceKey("flow", record.sender.lower(), "netflow", record.input), record.received
            )
