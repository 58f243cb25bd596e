"""The columns every timeline output shares, computed one way from a detection.

Values inside events come from the logs, which an attacker may have written: everything here
returns plain strings, and the terminal form strips control and bidirectional characters so a
crafted field cannot repaint the analyst's screen or reorder what it shows.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson

from sentinelle.detections import Detection
from sentinelle.events import Event
from sentinelle.hunt.attack import tactics_of, techniques_of

# Hayabusa's level column spelling.
LEVEL_SHORT = {
    "critical": "crit",
    "high": "high",
    "medium": "med",
    "low": "low",
    "informational": "info",
}

# Fields Details leaves out: those with their own column, and the EVTX System header fields
# that say nothing about what happened (Details is for reading, the JSON outputs keep all).
_NOT_DETAILS = frozenset(
    {
        "Channel",
        "EventID",
        "Computer",
        "EventRecordID",
        "Provider_Name",
        "Provider_Guid",
        "Provider_EventSourceName",
        "Keywords",
        "Level",
        "Opcode",
        "Task",
        "Version",
        "ThreadID",
        "ProcessID",
        "SystemTime",
        "ActivityID",
        "RelatedActivityID",
        "Qualifiers",
    }
)

# C0/C1 controls and the Unicode bidi/format characters used for display spoofing.

DETAILS_SEPARATOR = " ¦ "
_LINE_BREAKS = re.compile(r"[\r\n\t]+")


def level_short(level: str) -> str:
    return LEVEL_SHORT.get(level.lower(), level.lower())


def first_event(det: Detection) -> Event | None:
    """The matched event, or the first contributing one for a correlation."""
    if det.event is not None:
        return det.event
    return det.events[0] if det.events else None


def field_text(value: Any) -> str:
    """A field value as text: strings as they are, other values as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    return orjson.dumps(value, default=str).decode()


def event_field(det: Detection, name: str) -> str:
    ev = first_event(det)
    if ev is None:
        return ""
    return field_text(ev.fields.get(name))


def computer(det: Detection) -> str:
    return det.computer or ""


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


def details(det: Detection, limit: int | None = None) -> str:
    """``Name: value ¦ Name: value``: the event's fields, or a correlation's value and group,
    followed by whatever the engine noted in ``details`` (e.g. an incomplete window)."""
    parts: list[str] = []
    if det.event is None and (det.events or det.group or det.value is not None):
        if det.value is not None:
            parts.append(f"Value: {det.value:g}")
        parts.extend(f"{k}: {field_text(v)}" for k, v in det.group.items())
        parts.append(f"Events: {len(det.events)}")
    elif det.event is not None:
        parts.extend(
            f"{k}: {field_text(v)}"
            for k, v in det.event.fields.items()
            if k not in _NOT_DETAILS and v not in (None, "")
        )
    parts.extend(f"{k}: {field_text(v)}" for k, v in det.details.items() if k != "suppressed")
    # One line per detection: multi-line values (XML fragments, access lists) are folded, as
    # Hayabusa folds them; the JSON outputs keep the values exactly.
    text = _LINE_BREAKS.sub(" ", DETAILS_SEPARATOR.join(parts)) if parts else "-"
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return text


def mitre_tactics(det: Detection) -> str:
    return DETAILS_SEPARATOR.join(t.short for t in tactics_of(det.tags))


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
    return DETAILS_SEPARATOR.join(ids)


def other_tags(det: Detection) -> str:
    return DETAILS_SEPARATOR.join(t for t in det.tags if not t.lower().startswith("attack."))
