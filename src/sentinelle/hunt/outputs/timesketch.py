"""Timesketch import format: JSON lines with ``message``, ``datetime`` and ``timestamp_desc``.

Timesketch indexes flat attributes, so the event's fields sit at the top level next to the
detection's own; a field whose name Timesketch or this output already uses is kept under an
``event_`` prefix rather than overwriting it.
"""

from __future__ import annotations

from typing import Any, TextIO

from sentinelle.detections import Detection
from sentinelle.events import format_timestamp
from sentinelle.hunt.outputs.fields import (
    computer,
    details,
    event_field,
    field_text,
    first_event,
    level_short,
    mitre_tactics,
    record_id,
)
from sentinelle.hunt.outputs.jsonl import dumps
from sentinelle.hunt.summary import HuntSummary

TIMESTAMP_DESC = "Sentinelle detection"

# Names Timesketch gives a meaning to, plus the ones this output sets itself.
_RESERVED = frozenset(
    {
        "message",
        "datetime",
        "timestamp",
        "timestamp_desc",
        "tag",
        "label",
        "rule_id",
        "rule_title",
        "rule_type",
        "level",
        "tags",
        "mitre_tactics",
        "computer",
        "channel",
        "event_id",
        "record_id",
        "source",
        "details",
    }
)


def timesketch_record(det: Detection) -> dict[str, Any]:
    ts = det.timestamp
    out: dict[str, Any] = {
        "message": f"[{level_short(det.level)}] {det.rule_title}: {details(det, limit=500)}",
        # Timesketch rejects events without a time; an unreadable one is shown at the epoch.
        "datetime": format_timestamp(ts if ts is not None else 0.0),
        "timestamp": round((ts if ts is not None else 0.0) * 1_000_000),
        "timestamp_desc": TIMESTAMP_DESC,
        "rule_id": det.rule_id,
        "rule_title": det.rule_title,
        "rule_type": det.rule_type,
        "level": det.level,
        "tags": ", ".join(det.tags),
        "mitre_tactics": mitre_tactics(det),
        "computer": computer(det),
        "channel": event_field(det, "Channel"),
        "event_id": event_field(det, "EventID"),
        "record_id": record_id(det),
        "details": details(det),
    }
    ev = first_event(det)
    out["source"] = ev.ref if ev is not None else ""
    if ev is not None:
        for name, value in ev.fields.items():
            key = f"event_{name}" if name.lower() in _RESERVED or name in out else name
            out[key] = value if isinstance(value, str | int | float | bool) else field_text(value)
    return out


class TimesketchWriter:
    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, det: Detection) -> None:
        self._stream.write(dumps(timesketch_record(det)))
        self._stream.write("\n")

    def close(self, summary: HuntSummary) -> None:
        self._stream.flush()
