"""The hunt's fast paths give what the plain ones give: timestamps, JSON lines, ATT&CK tags,
detections through the spill."""

from __future__ import annotations

import dataclasses
import math
import pickle
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentinelle.detections import Detection
from sentinelle.events import Event, format_timestamp
from sentinelle.hunt.attack import tactics_of, techniques_of
from sentinelle.hunt.outputs.fields import json_safe
from sentinelle.hunt.outputs.jsonl import dumps, one_line


def _strftime(ts: float) -> str | None:
    try:
        return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    except (OverflowError, OSError, ValueError):
        return None


@given(st.floats(min_value=-62_135_596_800.0, max_value=253_402_300_799.0) | st.floats())
def test_timestamps_read_as_strftime_writes_them(ts: float) -> None:
    assert format_timestamp(ts) == _strftime(ts)


@pytest.mark.parametrize(
    "record",
    [
        {"rule_id": "r", "event": {"CommandLine": "cmd /c é", "EventID": 4688}, "tags": ["a"]},
        {"value": math.nan, "event": {"n": 1}},
        {"big": 2**70, "x": [1, 2]},
        {"keys": {1: "int key"}, "raw": b"\xff"},
        {"none": None, "inf": -math.inf},
        {"sep": "a\u2028b\x85c"},
    ],
)
def test_json_lines_are_those_of_the_safe_path(record: dict[str, Any]) -> None:
    safe = orjson.dumps(json_safe(record), option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    line = dumps(record)
    assert line == one_line(safe.decode())  # byte for byte
    assert "\u2028" not in line and "\x85" not in line


def test_tags_parsed_once_read_the_same() -> None:
    tags = ("attack.execution", "attack.t1059.001", "attack.Defense-Evasion", "cve.2021")
    first = tactics_of(tags)
    assert [t.key for t in first] == ["execution", "defense_evasion"]
    first.clear()  # a caller's list is its own
    assert [t.key for t in tactics_of(tags)] == ["execution", "defense_evasion"]
    assert tactics_of(list(tags)) == tactics_of(tags)
    assert techniques_of(tags) == techniques_of(list(tags)) == ["T1059.001"]


def test_a_detection_pickles_with_every_field() -> None:
    """The spill pickles detections through ``Detection.__reduce__``: a field it forgot would
    come back as its default, silently. Every field here holds a value that is not its
    default, and a field added to Detection must be added here too."""
    events = (Event({"EventID": 1}, 1.0, "a.evtx", 3, b"{}", ("f",)), Event({}, 2.0, "b", 4))
    values: dict[str, Any] = {
        "rule_id": "r",
        "rule_title": "Title",
        "level": "critical",
        "timestamp": 5.5,
        "tags": ("attack.t1059",),
        "rule_type": "correlation",
        "event": events[0],
        "events": events,
        "group": {"TargetUserName": "admin"},
        "first_seen": 1.0,
        "last_seen": 2.0,
        "value": 3.0,
        "details": {"suppressed": True},
        "rule_name": "name",
    }
    assert set(values) == {f.name for f in dataclasses.fields(Detection)}
    back = pickle.loads(pickle.dumps(Detection(**values), pickle.HIGHEST_PROTOCOL))
    assert type(back) is Detection
    for name, value in values.items():
        got = getattr(back, name)
        if name == "event":
            assert got.to_dict() == value.to_dict() and got.raw == value.raw
        elif name == "events":
            assert [e.to_dict() for e in got] == [e.to_dict() for e in value]
        else:
            assert got == value, name
