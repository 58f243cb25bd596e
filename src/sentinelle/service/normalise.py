"""Journal records into events, exactly as the hunt's readers make them.

Records stay raw in the journal (``service.records``); this is where they become events: syslog
lines through ``parse_syslog``, JSON documents through ``normalise_document`` (any shape the
JSON readers take), events the watched folder's readers made as they were. The live detector
and ``sentinelle hunt --journal`` (a retro-hunt) both read the journal through here, so a
retro-hunt sees exactly what live detection saw. Flow datagrams are left to the detector's
flow decoder. A record no reader can read is reported (a ``ReadIssue`` at ``journal#seq``)
and skipped; the rest goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from sentinelle.errors import SentinelleError
from sentinelle.events import Event, EventBatch, ReadIssue
from sentinelle.service.journal import JournalEntry, JournalReader
from sentinelle.service.log import log_event
from sentinelle.service.records import Record, RecordKind

log = logging.getLogger("sentinelle.service.detector")


@dataclass(slots=True)
class Normalised:
    """A slice of the journal as events, with each event's deterministic id and origin."""

    events: list[Event] = field(default_factory=list)
    records: dict[int, Record] = field(default_factory=dict)  # journal seq -> its record
    flows: list[tuple[JournalEntry, bytes]] = field(default_factory=list)
    issues: list[ReadIssue] = field(default_factory=list)
    ids: dict[int, str] = field(default_factory=dict)  # event ids worked out so far

    def event_id(self, seq: int) -> str | None:
        """The deterministic id of the event at ``seq`` (a digest of the record: worked out
        only for the events that make an alert, once each)."""
        known = self.ids.get(seq)
        if known is None:
            record = self.records.get(seq)
            if record is None:
                return None
            known = self.ids[seq] = record.event_id
        return known

    def input(self, seq: int) -> str | None:
        record = self.records.get(seq)
        return record.input if record is not None else None


def source_of(entry: JournalEntry) -> str:
    """An event's ``source``: the input and the sender (its ``record`` is the journal seq)."""
    return f"{entry.record.input}:{entry.record.sender}"


class Normaliser:
    """Journal records into events, through the readers' own functions."""

    def __init__(self) -> None:
        from sentinelle.readers.jsonl import normalise_document
        from sentinelle.readers.syslog import YearGuess, parse_syslog

        self._years: dict[str, YearGuess] = {}
        self._year_guess = YearGuess
        # Looked up once: an import statement run per record cost 2 to 3 us each.
        self._parse_syslog = parse_syslog
        self._normalise_document = normalise_document

    def event(self, entry: JournalEntry) -> Event | None:
        parse_syslog = self._parse_syslog
        normalise_document = self._normalise_document
        record = entry.record
        if record.kind is RecordKind.SYSLOG:
            line = record.data.decode("utf-8", "replace").rstrip("\r\n")
            years = self._years.get(record.sender)
            if years is None:
                years = self._year_guess(record.received)
                if len(self._years) < 10_000:
                    self._years[record.sender] = years
            fields, ts, _has = parse_syslog(line, years)
            fields.setdefault("host", record.sender)
            return Event(fields, ts, source_of(entry), entry.seq, raw=line)
        if record.kind is RecordKind.JSON:
            doc = orjson.loads(record.data)
            if not isinstance(doc, dict):
                raise ValueError("a JSON event must be an object")
            fields, ts, flags = normalise_document(doc)
            return Event(fields, ts, source_of(entry), entry.seq, flags=flags)
        if record.kind is RecordKind.EVENT:
            doc = orjson.loads(record.data)
            given = doc.get("fields") if isinstance(doc, dict) else None
            if not isinstance(given, dict):
                raise ValueError("a normalised event needs its fields")
            ts = doc.get("timestamp")
            source = doc.get("source") or source_of(entry)
            return Event(
                given,
                float(ts) if isinstance(ts, int | float) else None,
                str(source),
                entry.seq,
            )
        return None

    def slice(self, entries: Sequence[JournalEntry], where: str = "journal") -> Normalised:
        out = Normalised()
        for entry in entries:
            if entry.record.kind is RecordKind.FLOW:
                out.flows.append((entry, entry.record.data))
                continue
            try:
                event = self.event(entry)
            except (ValueError, UnicodeDecodeError, orjson.JSONDecodeError, SentinelleError) as exc:
                out.issues.append(ReadIssue(f"{where}#{entry.seq}", str(exc)))
                log_event(
                    log, "detector.record_unreadable", logging.WARNING, seq=entry.seq, why=exc
                )
                continue
            if event is None:
                continue
            out.events.append(event)
            out.records[entry.seq] = entry.record
        return out


def journal_batches(directory: Path, batch_size: int = 2048) -> Iterator[EventBatch]:
    """The journal as event batches, for ``sentinelle hunt --journal`` (the same normalising
    as the detector's); records no reader could read ride on the batches as issues."""
    reader = JournalReader(directory)
    normaliser = Normaliser()
    after = 0
    try:
        while True:
            entries = reader.read(after, batch_size)
            if not entries:
                return
            after = entries[-1].seq
            sliced = normaliser.slice(entries, str(directory))
            yield EventBatch(str(directory), sliced.events, sliced.issues, format="journal")
    finally:
        reader.close()


def read_journal(path: Path, *, batch_size: int = 2048) -> Iterator[EventBatch]:
    """A journal folder as the hunt reads a file (``hunt.run.FileReader``)."""
    return journal_batches(path, batch_size)
