"""Reading a text log stream (plain file, gzip/bzip2 stream, zip member) of a known format into
normalised batches. One function per family; all report bad records on the batch and go on.

Every event leaves through :func:`_keep`, which settles its fields (the cap, values no output
can encode: :mod:`sentinelle.readers.values`) and counts its input bytes against the batch's
byte budget, so a batch costs a bounded amount of memory whatever the lines hold.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sentinelle.errors import ReadError
from sentinelle.events import Event, EventBatch
from sentinelle.readers.batches import BatchBuilder
from sentinelle.readers.csvlog import read_csv_lines
from sentinelle.readers.jsonl import (
    TIME_KEYS,
    JsonItem,
    iter_json_documents,
    normalise_document,
)
from sentinelle.readers.lines import ByteStream, Line, iter_lines
from sentinelle.readers.syslog import YearGuess, parse_syslog
from sentinelle.readers.timestamps import parse_timestamp
from sentinelle.readers.values import FieldBudget, settle
from sentinelle.readers.winevent import FLAGS_BAD_TIME, FLAGS_NO_TIME, NO_FLAGS
from sentinelle.readers.zeek import read_zeek_lines

Fields = dict[str, Any]


def read_text_stream(
    stream: ByteStream,
    fmt: str,
    source: str,
    builder: BatchBuilder,
    *,
    mtime: float | None = None,
    first_line: int = 1,
) -> Iterator[EventBatch]:
    """Fill ``builder`` from ``stream``, yielding every batch that fills up.

    ``first_line`` is the number of the stream's first line (blank lines before it skipped).
    """
    if fmt == "jsonl":
        yield from _json(iter_json_documents(stream, first_line), source, builder)
    elif fmt == "zeek":
        yield from _zeek(iter_lines(stream, first_line=first_line), source, builder)
    elif fmt == "csv":
        yield from _csv(iter_lines(stream, first_line=first_line), source, builder)
    else:  # syslog, cef, kv, text
        lines = iter_lines(stream, first_line=first_line)
        yield from _syslog(lines, source, builder, YearGuess(mtime))


def _keep(
    builder: BatchBuilder,
    fields: Fields,
    ts: float | None,
    location: str,
    number: int,
    raw: str | None,
    flags: tuple[str, ...],
    size: int,
) -> None:
    fields, note = settle(fields, builder.limits)
    if note is not None:
        builder.issue(location, note)
    builder.add(Event(fields, ts, builder.source, number, raw, flags), size)


def _time_flags(ts: float | None, had_stamp: bool) -> tuple[str, ...]:
    if ts is not None:
        return NO_FLAGS
    return FLAGS_BAD_TIME if had_stamp else FLAGS_NO_TIME


def _json(
    documents: Iterator[JsonItem], source: str, builder: BatchBuilder
) -> Iterator[EventBatch]:
    for line, doc, raw, problem, note in documents:
        location = f"{source}:{line}"
        if problem is not None:
            builder.issue(location, problem)
        elif not isinstance(doc, dict):
            builder.issue(location, f"JSON {type(doc).__name__} is not an object, skipped")
        else:
            if note is not None:
                builder.issue(location, note)
            budget = FieldBudget(builder.limits)
            fields, ts, flags = normalise_document(doc, budget)
            if (flattened := budget.note()) is not None:
                builder.issue(location, flattened)
            text = raw.decode("utf-8", "replace") if raw is not None else None
            size = len(raw) if raw is not None else 0
            _keep(builder, fields, ts, location, line, text, flags, size)
        if builder.full():
            yield from builder.drain()


def _syslog(
    lines: Iterator[Line], source: str, builder: BatchBuilder, years: YearGuess
) -> Iterator[EventBatch]:
    for line in lines:
        location = f"{source}:{line.number}"
        if line.problem is not None:
            builder.issue(location, line.problem)
            continue
        if not line.text.strip():
            continue
        if line.note is not None:
            builder.issue(location, line.note)
        fields, ts, had_stamp = parse_syslog(line.text, years)
        flags = _time_flags(ts, had_stamp)
        _keep(builder, fields, ts, location, line.number, line.text, flags, len(line.text))
        if builder.full():
            yield from builder.drain()


def _zeek(lines: Iterator[Line], source: str, builder: BatchBuilder) -> Iterator[EventBatch]:
    for line, fields, problem in read_zeek_lines(lines):
        location = f"{source}:{line.number}"
        if fields is None:
            builder.issue(location, problem or "unreadable Zeek line")
            continue
        if line.note is not None:
            builder.issue(location, line.note)
        if problem is not None:  # kept, with values not of their column's type as text
            builder.issue(location, problem)
        stamp = fields.get("ts")
        ts = parse_timestamp(stamp) if stamp is not None else None
        flags = _time_flags(ts, stamp is not None)
        _keep(builder, fields, ts, location, line.number, line.text, flags, len(line.text))
        if builder.full():
            yield from builder.drain()


def _csv(lines: Iterator[Line], source: str, builder: BatchBuilder) -> Iterator[EventBatch]:
    try:
        yield from _csv_records(lines, source, builder)
    except ReadError as exc:  # the header: no row after it could be named
        line = exc.location.line if exc.location is not None else None
        builder.issue(f"{source}:{line}", f"{exc.message}: file not read", "file")


def _csv_records(lines: Iterator[Line], source: str, builder: BatchBuilder) -> Iterator[EventBatch]:
    time_key: str | None = None
    for number, fields, problem, note in read_csv_lines(lines):
        location = f"{source}:{number}"
        if fields is None:
            builder.issue(location, problem or "unreadable CSV record")
            continue
        if note is not None:
            builder.issue(location, note)
        if time_key is None:
            time_key = next((key for key in TIME_KEYS if key in fields), "")
        stamp = fields.get(time_key) if time_key else None
        ts = parse_timestamp(stamp) if stamp else None
        size = sum(map(len, fields.values()))
        _keep(builder, fields, ts, location, number, None, _time_flags(ts, bool(stamp)), size)
        if builder.full():
            yield from builder.drain()
