"""Timesketch import format: JSON lines that import whole, whatever the mix of logs.

Timesketch indexes each line into OpenSearch with dynamic mapping, and a timeline is refused
(in part or whole) when two lines disagree: a field that is a number in one line and text in
another (``ProcessId`` is an integer in Sysmon and a hex string in Security 4688), a dotted key
(``UserData.LogFileCleared.Channel``) that OpenSearch expands into an object where another line
has a plain ``UserData`` value, or more distinct fields than the index allows (a few hundred,
once each text field's sub-fields are counted). So every line here has the same shape:

* a fixed set of keys (``_FIXED``) with fixed types: ``timestamp`` an integer (microseconds),
  every other value a string;
* the event's fields that analysts pivot on (``EVENT_FIELDS``, a fixed list of about sixty
  Sigma field names without dots), always as strings;
* every other field of the event in one string, ``event_other``: compact JSON with sorted keys.

So a timeline has at most ``len(_FIXED) + len(EVENT_FIELDS)`` distinct keys, never a dot in a
key and never two types for one key. A string is cut at ``MAX_VALUE`` characters (an indexed
keyword holds at most 32,766 bytes); the JSONL output keeps every value whole.

``datetime`` is the detection's time and ``timestamp_desc`` says which time it is (the event's,
or when a correlation's condition was met). A detection without a usable time (none, one that a
datetime cannot hold, or one before 1980 that an unset clock gives) cannot be placed on a
timeline: it is left out of this file and counted (``notes()``); the JSONL output keeps it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from sentinelle.detections import Detection
from sentinelle.hunt.attack import techniques_of
from sentinelle.hunt.outputs.details import details
from sentinelle.hunt.outputs.fields import (
    computer,
    event_field,
    field_text,
    first_event,
    json_safe,
    level_short,
    mitre_tactics,
    record_id,
)
from sentinelle.hunt.outputs.jsonl import one_line
from sentinelle.hunt.summary import HuntSummary
from sentinelle.terminal import printable_json

MAX_VALUE = 8000  # characters; 4 bytes each at most in UTF-8, under the 32,766-byte keyword cap
MESSAGE_DETAILS = 500

TIMESTAMP_DESC = {
    "detection": "Event Time",
    "correlation": "Correlation Condition Met",
    "network": "Network Detection Time",
}

# The keys of every line, in the order written.
_FIXED = (
    "message",
    "datetime",
    "timestamp",
    "timestamp_desc",
    "rule_id",
    "rule_title",
    "rule_type",
    "level",
    "tags",
    "mitre_tactics",
    "mitre_techniques",
    "computer",
    "channel",
    "event_id",
    "record_id",
    "source",
    "details",
    "event_other",
)

# Event fields given a key of their own: those an analyst filters or aggregates on. Names are
# Sigma's, none has a dot, none clashes with a fixed key (even ignoring case).
EVENT_FIELDS = (
    # processes
    "CommandLine",
    "Image",
    "ParentImage",
    "ParentCommandLine",
    "ProcessId",
    "ParentProcessId",
    "ProcessGuid",
    "NewProcessName",
    "NewProcessId",
    "ParentProcessName",
    "ProcessName",
    "OriginalFileName",
    "Hashes",
    "IntegrityLevel",
    "CurrentDirectory",
    "SourceImage",
    "TargetImage",
    "GrantedAccess",
    # accounts and logons
    "User",
    "SubjectUserName",
    "SubjectDomainName",
    "SubjectUserSid",
    "SubjectLogonId",
    "TargetUserName",
    "TargetDomainName",
    "TargetUserSid",
    "TargetLogonId",
    "LogonId",
    "LogonType",
    "AuthenticationPackageName",
    "WorkstationName",
    "IpAddress",
    "IpPort",
    "Status",
    "FailureReason",
    "PrivilegeList",
    # objects, files, registry
    "ObjectName",
    "ObjectType",
    "AccessMask",
    "ShareName",
    "RelativeTargetName",
    "TargetFilename",
    "TargetObject",
    "ImageLoaded",
    "PipeName",
    "QueryName",
    # services, tasks, scripts
    "ServiceName",
    "ImagePath",
    "ServiceFileName",
    "TaskName",
    "ScriptBlockText",
    "Payload",
    # network (Sysmon and the text readers' canonical names)
    "SourceIp",
    "SourcePort",
    "DestinationIp",
    "DestinationPort",
    "DestinationHostname",
    "Protocol",
    "src_ip",
    "src_port",
    "dst_ip",
    "dst_port",
    "proto",
    "action",
)
_EVENT_FIELD_SET = frozenset(EVENT_FIELDS)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


# 1980-01-01T00:00:00Z and 10000-01-01T00:00:00Z, in seconds since the epoch.
_EARLIEST = 315_532_800.0
_LATEST = 253_402_300_800.0


def usable_time(ts: float | None) -> float | None:
    """``ts`` when a timeline can place it, otherwise None.

    A usable time is after 1980-01-01 and before the year 10000 (the last a datetime holds).
    No log this program reads was written before 1980: an earlier time is a clock that was
    never set (the epoch's zero, FILETIME's 1601, MS-DOS's 1980-01-01), not when it happened.
    """
    if ts is None or not _EARLIEST < ts < _LATEST:
        return None
    return ts


def _datetime(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="microseconds")


def timesketch_record(det: Detection) -> dict[str, Any] | None:
    """The line for ``det``, or None when it has no usable time."""
    ts = usable_time(det.timestamp)
    if ts is None:
        return None
    ev = first_event(det)
    techniques = techniques_of(det.tags)
    out: dict[str, Any] = {
        "message": _cut(
            f"[{level_short(det.level)}] {det.rule_title}: {details(det, limit=MESSAGE_DETAILS)}"
        ),
        "datetime": _datetime(ts),
        "timestamp": int(ts * 1_000_000),
        "timestamp_desc": TIMESTAMP_DESC.get(det.rule_type, "Detection Time"),
        "rule_id": _cut(det.rule_id),
        "rule_title": _cut(det.rule_title),
        "rule_type": _cut(det.rule_type),
        "level": _cut(det.level),
        "tags": _cut(", ".join(det.tags)),
        "mitre_tactics": mitre_tactics(det),
        "mitre_techniques": ", ".join(techniques),
        "computer": _cut(computer(det)),
        "channel": _cut(event_field(det, "Channel")),
        "event_id": _cut(event_field(det, "EventID")),
        "record_id": record_id(det),
        "source": _cut(ev.ref if ev is not None else ""),
        "details": _cut(details(det)),
    }
    other: dict[str, Any] = {}
    if ev is not None:
        for name, value in ev.fields.items():
            if name in _EVENT_FIELD_SET:
                if value not in (None, ""):
                    out[name] = _cut(field_text(value))
            elif name not in ("Channel", "EventID", "Computer"):
                other[name] = value
    if det.event is None:  # a correlation: its group and value are in details; keep them whole
        other = {"group": det.group, "value": det.value, "events": len(det.events), **other}
    out["event_other"] = _cut(
        orjson.dumps(json_safe(other), option=orjson.OPT_SORT_KEYS).decode() if other else ""
    )
    return out


class TimesketchWriter:
    def __init__(self, stream: TextIO, *, terminal: bool = False) -> None:
        self._stream = stream
        self._terminal = terminal
        self.untimed = 0

    def write(self, det: Detection) -> None:
        record = timesketch_record(det)
        if record is None:
            self.untimed += 1
            return
        text = orjson.dumps(record).decode()
        self._stream.write(one_line(printable_json(text) if self._terminal else text))
        self._stream.write("\n")

    def close(self, summary: HuntSummary) -> None:
        self._stream.flush()

    def notes(self) -> list[str]:
        """What the analyst must know about this file, for the end of the hunt."""
        if not self.untimed:
            return []
        return [
            f"{self.untimed:,} detections without a usable time were left out of the "
            "Timesketch timeline (it cannot place them); the JSONL output keeps them"
        ]
