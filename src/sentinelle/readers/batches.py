"""Building bounded event batches, with a cap on how many issues one file can report.

A batch is sealed when it leaves the builder: every event kept with an unreadable time (flag
``bad-timestamp``) is then reported with its location, whatever reader made it, so a time an
attacker wrote out of range is never dropped from the analysis in silence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from sentinelle.events import FLAG_BAD_TIMESTAMP, Event, EventBatch, ReadIssue
from sentinelle.readers.limits import DEFAULT_LIMITS, ReadLimits
from sentinelle.terminal import printable

# Past this many issues in one source the rest are counted, not listed: a binary file read
# as text would otherwise report millions of identical lines. The count is reported at the end.
MAX_ISSUES_PER_SOURCE = 200


def make_issue(location: str, reason: str, kind: str = "record") -> ReadIssue:
    """A read issue whose text is safe for a terminal: locations hold file and archive member
    names and reasons quote the input, both written by whoever wrote the input."""
    return ReadIssue(printable(location), printable(reason), kind)


class BatchBuilder:
    """Collects the events and issues of one source and cuts them into bounded batches."""

    __slots__ = (
        "_batch",
        "_bytes",
        "batch_size",
        "format",
        "issue_count",
        "limits",
        "matched_by",
        "source",
        "suppressed",
    )

    def __init__(
        self,
        source: str,
        fmt: str,
        batch_size: int,
        matched_by: Any = None,
        limits: ReadLimits = DEFAULT_LIMITS,
    ) -> None:
        self.source = source
        self.format = fmt
        self.batch_size = max(1, batch_size)
        self.issue_count = 0
        self.suppressed: Counter[str] = Counter()
        self.matched_by = matched_by  # see EventBatch.matched_by
        self.limits = limits
        self._bytes = 0  # input bytes behind the events of the batch being built
        self._batch = self._new()

    def _new(self, events: list[Event] | None = None) -> EventBatch:
        return EventBatch(self.source, events or [], format=self.format, matched_by=self.matched_by)

    @property
    def events(self) -> list[Event]:
        return self._batch.events

    def add(self, event: Event, size: int) -> None:
        """Append ``event``, read from ``size`` bytes of input (the batch's byte budget)."""
        self._batch.events.append(event)
        self._bytes += size

    def full(self) -> bool:
        return (
            len(self._batch.events) >= self.batch_size
            or len(self._batch.issues) >= self.batch_size
            or self._bytes >= self.limits.max_batch_bytes
        )

    def issue(
        self, location: str, reason: str, kind: str = "record", batch: EventBatch | None = None
    ) -> None:
        """Report a problem on the batch being built (or on ``batch``, one being sealed)."""
        self.issue_count += 1
        if self.issue_count > MAX_ISSUES_PER_SOURCE and kind == "record":
            # Group what is no longer listed by the reason's first words.
            self.suppressed[reason.split(":", 1)[0][:80]] += 1
            return
        (batch or self._batch).issues.append(make_issue(location, reason, kind))

    def drain(self) -> Iterator[EventBatch]:
        """Every full batch collected so far, each with at most ``batch_size`` events."""
        while self.full():
            batch = self._batch
            rest = batch.events[self.batch_size :]
            del batch.events[self.batch_size :]
            self._batch = self._new(rest)
            self._bytes = 0
            self._seal(batch)
            yield batch

    def take(self) -> EventBatch:
        batch = self._batch
        self._batch = self._new()
        self._bytes = 0
        self._seal(batch)
        return batch

    def finish(self) -> EventBatch | None:
        """The last batch (with the summary of suppressed issues), or None if it is empty."""
        for reason, count in sorted(self.suppressed.items()):
            self._batch.issues.append(
                make_issue(self.source, f"{count} more records skipped: {reason}", "record")
            )
        self.suppressed.clear()
        batch = self._batch
        self._seal(batch)
        if not batch.events and not batch.issues:
            return None
        self._batch = self._new()
        return batch

    def _seal(self, batch: EventBatch) -> None:
        """Report the events of ``batch`` whose time could not be read (kept, without a time)."""
        evtx = self.format == "evtx"
        for event in batch.events:
            if event.flags and FLAG_BAD_TIMESTAMP in event.flags:
                where = (
                    f"{event.source} record {event.record}"
                    if evtx
                    else f"{event.source}:{event.record}"
                )
                self.issue(where, _BAD_TIME, batch=batch)


_BAD_TIME = "timestamp unreadable or out of range (years 1 to 9999): event kept without a time"
