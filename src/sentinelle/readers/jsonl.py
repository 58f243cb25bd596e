"""JSON logs: JSON lines, one or several pretty-printed documents, or a top-level array.

Each document is normalised by its shape: evtx-JSON (``{"Event": {"System": ...}}``) and
Winlogbeat/ECS documents through :mod:`sentinelle.readers.winevent` (the same names as EVTX),
anything else (Zeek JSON, application logs) with nested keys as dotted names; Zeek records also
get the canonical network fields.

A file whose first document fits on its first line is read as JSON lines: a bad line is reported
and skipped, and cannot swallow the lines after it. From the first line that does not parse alone
and is a lone ``{`` or ``[`` (and from the start, if the first line does not parse alone),
documents are cut out of the text by a bracket scanner that skips string contents, so memory is
bounded by the largest document (``DOCUMENT_CAP``), never by the file.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

import orjson

from sentinelle.readers.lines import DOCUMENT_CAP, ByteStream, iter_raw_lines
from sentinelle.readers.timestamps import parse_timestamp
from sentinelle.readers.values import FieldBudget, json_text
from sentinelle.readers.winevent import (
    FLAGS_BAD_TIME,
    FLAGS_NO_TIME,
    NO_FLAGS,
    flatten_evtx_json,
    flatten_winlogbeat,
    is_evtx_json,
    is_winlogbeat,
)
from sentinelle.readers.zeek import add_zeek_canonical

Fields = dict[str, Any]

# Keys tried, in order, for the time of a generic JSON record.
TIME_KEYS = (
    "@timestamp",
    "timestamp",
    "ts",
    "time",
    "eventTime",
    "event_time",
    "EventTime",
    "TimeCreated",
    "UtcTime",
    "datetime",
    "date",
    "_time",
)
_TOKEN_RE = re.compile(rb'"(?:[^"\\\n]|\\.)*"|[\[\]{},]')


def flatten_json(
    value: Any, prefix: str = "", out: Fields | None = None, budget: FieldBudget | None = None
) -> Fields:
    """Nested objects as dotted names; lists of scalars stay lists, objects in lists get indexes.

    Bounded by ``budget`` (default: the default limits): past its depth a value is kept whole
    as JSON text, past its fields or bytes the rest is counted, not kept.
    """
    out = {} if out is None else out
    _flatten(value, prefix, out, FieldBudget() if budget is None else budget, 0)
    return out


def _flatten(value: Any, prefix: str, out: Fields, budget: FieldBudget, depth: int) -> None:
    if isinstance(value, dict | list) and value and depth >= budget.depth:
        name = prefix or "value"
        text = json_text(value)
        if budget.room(name, text):
            budget.deep += 1
            out[name] = text
        return
    if isinstance(value, dict):
        if budget.spent(prefix):
            budget.dropped += len(value)
            return
        for key, child in value.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(child, dict | list):
                _flatten(child, name, out, budget, depth + 1)
            elif budget.room(name, child):
                out[name] = child
    elif isinstance(value, list) and any(isinstance(item, dict | list) for item in value):
        if budget.spent(prefix):
            budget.dropped += len(value)
            return
        for index, item in enumerate(value):
            _flatten(item, f"{prefix}.{index}" if prefix else str(index), out, budget, depth + 1)
    elif budget.room(prefix or "value", value):
        out[prefix or "value"] = value


def normalise_document(
    doc: dict[str, Any], budget: FieldBudget | None = None
) -> tuple[Fields, float | None, tuple[str, ...]]:
    """Fields, timestamp and flags of one JSON object, whatever its shape.

    ``budget`` bounds the flattening (see :class:`FieldBudget`); its ``note()`` then says what
    was dropped or kept as text.
    """
    budget = FieldBudget() if budget is None else budget
    if is_evtx_json(doc):
        return flatten_evtx_json(doc, budget)
    if is_winlogbeat(doc):
        return flatten_winlogbeat(doc, budget)
    fields = flatten_json(doc, budget=budget)
    add_zeek_canonical(fields)
    for key in TIME_KEYS:
        if key in fields:
            ts = parse_timestamp(fields[key])
            return fields, ts, (NO_FLAGS if ts is not None else FLAGS_BAD_TIME)
    return fields, None, FLAGS_NO_TIME


class _DocumentScanner:
    """Cuts JSON documents (objects, or the elements of a top-level array) out of lines."""

    def __init__(self) -> None:
        self.depth = 0
        self.base = 0  # 1 inside a top-level array
        self.parts: list[bytes] = []
        self.size = 0
        self.start_line = 0
        self.oversized = False

    def pending(self) -> bool:
        return self.depth > self.base or self.base > 0

    def feed(self, number: int, raw: bytes) -> Iterator[tuple[int, bytes | None, str | None]]:
        piece_start = 0 if self.depth > self.base else None
        for match in _TOKEN_RE.finditer(raw):
            char = raw[match.start()]
            if char == 0x22:  # a string: its brackets are not structure
                continue
            if char in (0x7B, 0x5B):  # { [
                if self.depth == 0 and char == 0x5B:
                    self.depth = self.base = 1
                    continue
                if self.depth == self.base:
                    self.start_line = number
                    piece_start = match.start()
                    self.parts, self.size, self.oversized = [], 0, False
                self.depth += 1
            elif char in (0x7D, 0x5D):  # } ]
                if self.depth == self.base:
                    if self.base == 1 and char == 0x5D:
                        self.depth = self.base = 0
                        continue
                    yield number, None, "unbalanced closing bracket"
                    continue
                self.depth -= 1
                if self.depth == self.base and piece_start is not None:
                    self._keep(raw[piece_start : match.end()])
                    piece_start = None
                    if self.oversized:
                        yield self.start_line, None, f"JSON document over {DOCUMENT_CAP} bytes"
                    else:
                        yield self.start_line, b"".join(self.parts), None
                    self.parts, self.size = [], 0
        if self.depth > self.base and piece_start is not None:
            self._keep(raw[piece_start:] + b"\n")

    def _keep(self, piece: bytes) -> None:
        self.size += len(piece)
        if self.size > DOCUMENT_CAP:
            self.oversized = True
            self.parts = []
        elif not self.oversized:
            self.parts.append(piece)


JsonItem = tuple[int, Any, bytes | None, str | None, str | None]


def iter_json_documents(stream: ByteStream, first_line: int = 1) -> Iterator[JsonItem]:
    """``(line, document, raw text, problem, note)``; document is None when problem is set.

    ``note`` reports a repair of a kept document (invalid UTF-8 replaced by U+FFFD).
    """
    mode: str | None = None  # "lines" or "documents", chosen by the first document
    scanner = _DocumentScanner()
    first = True
    for number, line_bytes in iter_raw_lines(stream, DOCUMENT_CAP, first_line):
        raw = line_bytes
        if raw is None:
            yield number, None, None, f"line longer than {DOCUMENT_CAP} bytes, skipped", None
            continue
        if first and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        first = False
        if mode != "documents":
            stripped = raw.strip()
            if not stripped:
                continue
            note = None
            try:
                doc = orjson.loads(stripped)
            except orjson.JSONDecodeError as exc:
                doc, note = _repaired(stripped)
                if note is None:
                    # A lone "{" or "[" opens a pretty-printed document even after one-line
                    # documents; any other bad line in a JSON-lines file is just bad.
                    if mode == "lines" and stripped not in (b"{", b"["):
                        yield number, None, None, _json_problem(stripped, exc), None
                        continue
                    mode = "documents"
            if mode != "documents":
                mode = "lines"
                if isinstance(doc, list):
                    for item in doc:
                        yield number, item, None, None, note
                else:
                    yield number, doc, stripped, None, note
                continue
        for line, text, problem in scanner.feed(number, raw):
            if problem is not None or text is None:
                yield line, None, None, problem or "bad JSON document", None
                continue
            try:
                yield line, orjson.loads(text), text, None, None
            except orjson.JSONDecodeError as exc:
                doc, note = _repaired(text)
                if note is None:
                    yield line, None, None, _json_problem(text, exc), None
                else:
                    yield line, doc, text, None, note
    if scanner.depth > scanner.base:
        yield scanner.start_line, None, None, "JSON document not terminated at end of input", None


def _repaired(text: bytes) -> tuple[Any, str | None]:
    """A document whose only fault is invalid UTF-8 (decoded with U+FFFD), or numbers orjson
    refuses (past the float range, ``NaN``, ``Infinity``: kept as their text); else (None, None)."""
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as bad:
        try:
            doc = orjson.loads(text.decode("utf-8", "replace"))
        except orjson.JSONDecodeError:
            return None, None
        return doc, f"invalid UTF-8 at byte {bad.start} replaced by U+FFFD (record kept)"
    if not any(mark in text for mark in (b"e", b"E", b"NaN", b"Infinity")):
        return None, None  # only an exponent or those words make a number orjson refuses
    huge: list[str] = []

    def _constant(name: str) -> str:
        huge.append(name)  # NaN, Infinity: written by Python's json and others, kept as text
        return name

    def number(spelling: str) -> float | str:
        value = float(spelling)
        if math.isfinite(value):
            return value
        huge.append(spelling)
        return spelling

    try:
        # orjson refuses 1e400; the standard parser hands such numbers over as text.
        doc = json.loads(decoded, parse_float=number, parse_constant=_constant)
    except (ValueError, RecursionError):
        return None, None
    if not huge:
        return None, None
    return doc, f"numbers JSON cannot hold kept as text: {', '.join(huge[:3])[:80]}"


def _json_problem(text: bytes, exc: orjson.JSONDecodeError) -> str:
    try:
        text.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"invalid UTF-8 in JSON at byte {bad.start}"
    return f"malformed JSON: {exc}"
