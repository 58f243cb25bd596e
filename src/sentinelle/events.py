"""The normalised event: what every reader produces and every detector consumes.

An event is a flat mapping of Sigma-native field names (``EventID``, ``Channel``, ``Image``...)
to values, plus its UTC timestamp and its provenance (source file or stream, record or line),
so that any detection points back to exactly one source record.

Measured choice of representation (see ``bench/readers.py`` and ``docs/ARCHITECTURE.md``): the
Sigma engine looks fields up event by event, which plain dicts do faster in CPython than any
columnar layout, so batches hold plain records; ``EventBatch.to_arrow`` converts at the
boundaries that want columns (export, the scale-out engine).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson

# Flags an event can carry; kept as small strings so they serialise as they are.
FLAG_NO_TIMESTAMP = "no-timestamp"
FLAG_BAD_TIMESTAMP = "bad-timestamp"
# The fields of a record decoded late (see readers.evtx) could not be decoded again: empty.
FLAG_UNDECODABLE = "undecodable"


class Event(msgspec.Struct, gc=False, eq=False):
    """One normalised record. ``fields`` is owned by the event; readers never share it.

    A ``msgspec`` struct rather than a plain class: built in C (a third of the time), and
    ``gc=False`` keeps events out of the cyclic garbage collector. Readers make events by the
    million and hold a batch of them at a time; as tracked objects every batch was promoted
    through the collector's generations and scanned again by each full collection (about a
    tenth of the EVTX reader's time). An event cannot be part of a reference cycle: it refers
    to its fields, its raw record and its flags, and nothing it holds refers back to it.
    Equality and hashing stay by identity, as for a plain object.
    """

    fields: dict[str, Any]
    timestamp: float | None  # seconds since the Unix epoch, UTC; None when unreadable
    source: str  # file path (archive members as "archive.zip!member") or stream name
    record: int  # EVTX record id, or 1-based line number in text sources
    # The original record, for outputs: for EVTX its JSON as UTF-8 bytes, as the parser
    # wrote it (decoded only by the rare output that wants it).
    raw: str | bytes | None = None
    flags: tuple[str, ...] = ()
    # Rules already found matching by the reader's worker, as indices into the rule set
    # named by the batch's ``matched_by`` (None: not matched there).
    hits: list[int] | None = None

    @property
    def ref(self) -> str:
        """The provenance as one string, ``path#record``."""
        return f"{self.source}#{self.record}"

    def get(self, name: str) -> Any:
        """The value of a field, or None (the one-method protocol the engine reads through)."""
        return self.fields.get(name)

    @property
    def datetime(self) -> datetime | None:
        if self.timestamp is None:
            return None
        try:
            return datetime.fromtimestamp(self.timestamp, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None

    def iso_time(self) -> str | None:
        """UTC timestamp as ISO 8601 with microseconds and a ``Z`` suffix."""
        return format_timestamp(self.timestamp)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view: the fields plus provenance and time under reserved names."""
        out: dict[str, Any] = {
            "timestamp": self.iso_time(),
            "source": self.ref,
            "fields": self.fields,
        }
        if self.flags:
            out["flags"] = list(self.flags)
        return out

    def __repr__(self) -> str:
        return f"Event({self.ref}, {self.iso_time()}, {len(self.fields)} fields)"


# The same time is formatted again and again: every detection of one event, every output
# of one detection, and the events of a burst share it. Bounded, and a plain function of ``ts``.
@functools.lru_cache(maxsize=1024)
def format_timestamp(ts: float | None) -> str | None:
    """ISO 8601 UTC text of ``ts``; None when there is none or the calendar cannot hold it.

    The readers only make representable times (``readers.timestamps``); other producers
    (flows, tests) may not, and formatting a time must never stop an output.
    """
    if ts is None:
        return None
    try:
        dt = datetime.fromtimestamp(ts, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    if dt.year < 1000:  # strftime does not pad such years; isoformat would
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # isoformat is about a third faster than strftime, and a hunt formats every detection.
    return dt.isoformat(timespec="microseconds")[:-6] + "Z"


@dataclass(frozen=True, slots=True)
class ReadIssue:
    """Something a reader could not read: where it is and why. Travels with the batches."""

    location: str
    reason: str
    kind: str = "record"  # "record" (one record skipped), "file" (whole file), "chunk" (EVTX)

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}"


@dataclass(slots=True)
class EventBatch:
    """A bounded list of events from one source, with the problems met while reading them."""

    source: str
    events: list[Event] = field(default_factory=list)
    issues: list[ReadIssue] = field(default_factory=list)
    format: str = ""
    # The rule set the events' ``hits`` refer to, when the reader ran one (see read_paths).
    matched_by: Any = None

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def to_arrow(self) -> Any:
        """Columnar copy of the batch as a ``pyarrow.Table``.

        Fixed columns ``timestamp`` (UTC, microseconds), ``source``, ``record``; then one
        column per field name seen in the batch. Values keep their type where a column is
        homogeneous (int, float, bool, str) and are JSON-encoded strings otherwise.
        """
        import pyarrow as pa

        names: dict[str, None] = {}
        for ev in self.events:
            names.update(dict.fromkeys(ev.fields))
        columns: dict[str, Any] = {
            "timestamp": pa.array(
                [
                    None if e.timestamp is None else int(e.timestamp * 1_000_000)
                    for e in self.events
                ],
                type=pa.timestamp("us", tz="UTC"),
            ),
            "source": pa.array([e.source for e in self.events], type=pa.string()),
            "record": pa.array([e.record for e in self.events], type=pa.int64()),
        }
        for name in names:
            if name in columns:
                continue
            values = [e.fields.get(name) for e in self.events]
            columns[name] = _arrow_column(values)
        return pa.table(columns)


def _arrow_column(values: list[Any]) -> Any:
    import pyarrow as pa

    kinds = {type(v) for v in values if v is not None}
    if kinds in ({int}, {float}, {bool}, {str}, {int, float}):
        try:
            return pa.array(values)
        except (pa.ArrowInvalid, OverflowError):
            pass
    return pa.array(
        [None if v is None else (v if isinstance(v, str) else _json_text(v)) for v in values],
        type=pa.string(),
    )


def _micros(ts: float | None) -> int | None:
    return None if ts is None else round(ts * 1_000_000)


def _json_text(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def event_from_mapping(
    fields: Mapping[str, Any],
    source: str = "<memory>",
    record: int = 1,
    timestamp: float | None = None,
) -> Event:
    """Build an event from a mapping (tests, scenario generators, the live service)."""
    return Event(dict(fields), timestamp, source, record)
