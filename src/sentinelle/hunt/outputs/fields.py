"""The columns every timeline output shares, computed one way from a detection.

Values inside events come from the logs, which an attacker may have written: a number past 64
bits, a NaN, a time in the year 99999, a megabyte of control characters. Everything here
returns plain strings or JSON-ready values for any such input, so no writer can stop a hunt
on one record.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from sentinelle.detections import Detection
from sentinelle.events import Event, format_timestamp
from sentinelle.hunt.attack import tactics_of, techniques_of

# Hayabusa's level column spelling.
LEVEL_SHORT = {
    "critical": "crit",
    "high": "high",
    "medium": "med",
    "low": "low",
    "informational": "info",
}

# Hayabusa separates the values of a multi-valued cell with this.
TAG_SEPARATOR = " ¦ "


def level_short(level: str) -> str:
    return LEVEL_SHORT.get(level.lower(), level.lower())


def first_event(det: Detection) -> Event | None:
    """The matched event, or the first contributing one for a correlation."""
    if det.event is not None:
        return det.event
    return det.events[0] if det.events else None


# Nesting kept by json_safe; deeper values become their text (orjson stops at 255 levels).
MAX_DEPTH = 64
_INT64 = (-(2**63), 2**64 - 1)


def json_safe(value: Any, depth: int = 0) -> Any:
    """``value`` in a shape every JSON writer takes: numbers past 64 bits, NaN and infinities
    as their text, mapping keys as text, bytes and other objects as their ``str``."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= MAX_DEPTH:
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, depth + 1) for v in value]
    return str(value)


def field_text(value: Any) -> str:
    """A field value as text: strings as they are, other values as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    return orjson.dumps(json_safe(value)).decode()


def iso_time(ts: float | None) -> str | None:
    """``ts`` as ISO 8601 UTC with microseconds and ``Z``, or None when absent or outside
    what a datetime holds (a log can claim the year 99999)."""
    return format_timestamp(ts)


def event_field(det: Detection, name: str) -> str:
    ev = first_event(det)
    if ev is None:
        return ""
    return field_text(ev.fields.get(name))


def computer(det: Detection) -> str:
    return field_text(det.computer)


def record_id(det: Detection) -> str:
    ev = first_event(det)
    return "" if ev is None else str(ev.record)


def utc_text(ts: float | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """``ts`` formatted in UTC, or ``-`` when absent or outside what a datetime can hold."""
    if ts is None:
        return "-"
    try:
        return datetime.fromtimestamp(ts, tz=UTC).strftime(fmt)
    except (OverflowError, OSError, ValueError):
        return "-"


def hayabusa_time(ts: float | None) -> str:
    """Hayabusa's timestamp form in UTC: ``2021-12-12 07:16:04.237 +00:00``."""
    if ts is None:
        return ""
    try:
        dt = datetime.fromtimestamp(ts, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return ""
    return dt.strftime("%Y-%m-%d %H:%M:%S.") + f"{dt.microsecond // 1000:03d} +00:00"


def mitre_tactics(det: Detection) -> str:
    return TAG_SEPARATOR.join(t.short for t in tactics_of(det.tags))


def mitre_tags(det: Detection) -> str:
    """Techniques, groups and software ids, as Hayabusa's MitreTags column lists them."""
    ids = techniques_of(det.tags)
    ids.extend(
        sorted(
            tag[len("attack.") :].upper()
            for tag in det.tags
            if re.fullmatch(r"attack\.[gs]\d{4}", tag.lower())
        )
    )
    return TAG_SEPARATOR.join(ids)


def other_tags(det: Detection) -> str:
    return TAG_SEPARATOR.join(t for t in det.tags if not t.lower().startswith("attack."))
