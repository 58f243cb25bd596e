"""JSON Lines timeline: one object per detection, keys sorted, so two hunts diff line by line."""

from __future__ import annotations

from typing import Any, TextIO

import orjson

from sentinelle.detections import Detection
from sentinelle.events import Event, format_timestamp
from sentinelle.hunt.outputs.fields import first_event
from sentinelle.hunt.summary import HuntSummary

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def event_record(ev: Event) -> dict[str, Any]:
    """A contributing event of a correlation: its provenance, time and normalised fields."""
    return {"source": ev.ref, "timestamp": ev.iso_time(), "event": ev.fields}


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
        "timestamp": format_timestamp(det.timestamp),
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
        out["first_seen"] = format_timestamp(det.first_seen)
        out["last_seen"] = format_timestamp(det.last_seen)
        out["value"] = det.value
        out["events"] = [event_record(e) for e in det.events]
    return out


def dumps(record: dict[str, Any]) -> str:
    """One JSON line; values JSON cannot hold (bytes, sets) are written as their text."""
    return orjson.dumps(record, option=_OPTIONS, default=str).decode()


class JsonlWriter:
    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, det: Detection) -> None:
        self._stream.write(dumps(detection_record(det)))
        self._stream.write("\n")

    def close(self, summary: HuntSummary) -> None:
        self._stream.flush()
