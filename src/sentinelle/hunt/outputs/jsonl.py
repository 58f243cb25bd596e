"""JSON Lines timeline: one object per detection, keys sorted, so two hunts diff line by line.

Values are written as the log gave them, except what JSON cannot hold (numbers past 64 bits,
NaN, infinities, bytes): those are written as their text (``fields.json_safe``), so every line
parses. Written to a terminal, the line passes through ``terminal.printable_json``.
"""

from __future__ import annotations

import re
from typing import Any, TextIO

import orjson

from sentinelle.detections import Detection
from sentinelle.events import Event
from sentinelle.hunt.outputs.fields import first_event, iso_time, json_safe
from sentinelle.hunt.summary import HuntSummary
from sentinelle.terminal import printable_json

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def event_record(ev: Event) -> dict[str, Any]:
    """A contributing event of a correlation: its provenance, time and normalised fields."""
    return {"source": ev.ref, "timestamp": iso_time(ev.timestamp), "event": ev.fields}


def detection_record(det: Detection) -> dict[str, Any]:
    """The JSON view of a detection that every machine-readable output starts from."""
    ev = first_event(det)
    fields = ev.fields if ev is not None else {}
    out: dict[str, Any] = {
        "rule_id": det.rule_id,
        "rule_title": det.rule_title,
        "rule_type": det.rule_type,
        "level": det.level,
        "tags": list(det.tags),
        "timestamp": iso_time(det.timestamp),
        "computer": det.computer,
        "channel": fields.get("Channel"),
        "event_id": fields.get("EventID"),
    }
    if det.details:
        out["details"] = det.details
    if det.event is not None:
        out["source"] = det.event.ref
        out["event"] = det.event.fields
    else:
        out["source"] = None
        out["group"] = det.group
        out["first_seen"] = iso_time(det.first_seen)
        out["last_seen"] = iso_time(det.last_seen)
        out["value"] = det.value
        out["events"] = [event_record(e) for e in det.events]
    return out


# Characters that JSON leaves raw in strings but that some readers take for line breaks.
_LINE_SEPARATORS = re.compile("[\x85\u2028\u2029]")


def one_line(text: str) -> str:
    """JSON ``text`` with the Unicode line separators escaped, so it stays one line for every
    reader of JSON Lines (the escape means the same character)."""
    if text.isascii():  # most lines: nothing to look for
        return text
    return _LINE_SEPARATORS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def dumps(record: dict[str, Any], *, terminal: bool = False) -> str:
    """One JSON line of ``record``, whatever its values hold."""
    try:
        # Most records hold nothing JSON cannot: written as they are, at C speed. orjson
        # refuses numbers past 64 bits, keys that are not text and unknown types, and writes
        # NaN and infinities as null: those records (any null, to be sure) take json_safe.
        raw = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        raw = b"null"
    if b"null" in raw:
        raw = orjson.dumps(json_safe(record), option=_OPTIONS)
    text = raw.decode()
    return one_line(printable_json(text) if terminal else text)


class JsonlWriter:
    def __init__(self, stream: TextIO, *, terminal: bool = False) -> None:
        self._stream = stream
        self._terminal = terminal

    def write(self, det: Detection) -> None:
        self._stream.write(dumps(detection_record(det), terminal=self._terminal))
        self._stream.write("\n")

    def close(self, summary: HuntSummary) -> None:
        if summary.hospital is not None:  # incidents and impact after the detections
            from sentinelle.hunt.outputs.hospital import hospital_records

            for record in hospital_records(summary.hospital):
                self._stream.write(dumps(record, terminal=self._terminal) + "\n")
        self._stream.flush()
