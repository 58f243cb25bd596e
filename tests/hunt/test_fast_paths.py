"""The hunt's fast paths give what the plain ones give: timestamps, JSON lines, ATT&CK tags,
and the choice to let the EVTX worker match."""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentinelle.events import format_timestamp
from sentinelle.hunt import run
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


@pytest.mark.parametrize(
    ("load", "cores", "spare"), [(0.3, 2, True), (1.5, 2, False), (9, 8, False), (2.0, 8, True)]
)
def test_the_worker_matches_only_with_a_core_to_spare(
    monkeypatch: pytest.MonkeyPatch, load: float, cores: int, spare: bool
) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert run.spare_core() is spare
