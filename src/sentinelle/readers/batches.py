"""Building bounded event batches, with a cap on how many issues one file can report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from sentinelle.events import Event, EventBatch, ReadIssue

# Past this many issues in one source the rest are counted, not listed: a binary file read
# as text would otherwise report millions of identical lines. The count is reported at the end.
MAX_ISSUES_PER_SOURCE = 200


class BatchBuilder:
    """Collects the events and issues of one source and cuts them into bounded batches."""

    __slots__ = (
        "_batch",
        "batch_size",
        "format",
        "issue_count",
        "matched_by",
        "source",
        "suppressed",
    )

    def __init__(self, source: str, fmt: str, batch_size: int, matched_by: Any = None) -> None:
        self.source = source
        self.format = fmt
        self.batch_size = max(1, batch_size)
        self.issue_count = 0
        self.suppressed: Counter[str] = Counter()
        self.matched_by = matched_by  # see EventBatch.matched_by
        self._batch = self._new()

    def _new(self, events: list[Event] | None = None) -> EventBatch:
        return EventBatch(self.source, events or [], format=self.format, matched_by=self.matched_by)

    @property
    def events(self) -> list[Event]:
        return self._batch.events

    def full(self) -> bool:
        return len(self._batch.events) >= self.batch_size or (
            len(self._batch.issues) >= self.batch_size
        )

    def issue(self, location: str, reason: str, kind: str = "record") -> None:
        self.issue_count += 1
        if self.issue_count > MAX_ISSUES_PER_SOURCE and kind == "record":
            # Group what is no longer listed by the reason's first words.
            self.suppressed[reason.split(":", 1)[0][:80]] += 1
            return
        self._batch.issues.append(ReadIssue(location, reason, kind))

    def drain(self) -> Iterator[EventBatch]:
        """Every full batch collected so far, each with at most ``batch_size`` events."""
        while self.full():
            batch = self._batch
            rest = batch.events[self.batch_size :]
            del batch.events[self.batch_size :]
            self._batch = self._new(rest)
            yield batch

    def take(self) -> EventBatch:
        batch = self._batch
        self._batch = self._new()
        return batch

    def finish(self) -> EventBatch | None:
        """The last batch (with the summary of suppressed issues), or None if it is empty."""
        for reason, count in sorted(self.suppressed.items()):
            self._batch.issues.append(
                ReadIssue(self.source, f"{count} more records skipped: {reason}", "record")
            )
        self.suppressed.clear()
        batch = self._batch
        if not batch.events and not batch.issues:
            return None
        self._batch = self._new()
        return batch
