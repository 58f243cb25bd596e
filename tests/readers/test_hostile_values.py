"""Values an attacker writes at the edge of each type: each costs its own record (a time marked
unreadable, a number kept as text, a nesting kept as JSON text), reported with its location,
and every other record is read."""

from __future__ import annotations

import json
import math
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinelle.events import FLAG_BAD_TIMESTAMP, format_timestamp
from sentinelle.readers import read_file
from sentinelle.readers.timestamps import (
    MAX_EPOCH,
    MIN_EPOCH,
    parse_timestamp,
    parse_windows_time,
)
from sentinelle.readers.values import json_text, settle

ZEEK_HEAD = (
    "#separator \\x09\n#path\tconn\n#fields\tts\tuid\tid.orig_h\torig_bytes\tduration\n"
    "#types\ttime\tstring\taddr\tcount\tinterval\n"
)


def read_all(path: Path) -> tuple[list, list]:  # type: ignore[type-arg]
    events, issues = [], []
    for batch in read_file(path):
        events += batch.events
        issues += batch.issues
    return events, issues


@pytest.mark.parametrize(
    "value",
    [
        1e300,
        -1e300,
        float("nan"),
        float("inf"),
        -1.0,
        10**30,
        "1e300",
        "99999-01-01T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59-05:00",
        "0001-01-01T00:00:00+05:00",
        "nan",
        "inf",
        "-5",
        "Feb 30 12:00:00",
    ],
)
def test_parse_timestamp_is_total(value: object) -> None:
    ts = parse_timestamp(value)
    assert ts is None or (MIN_EPOCH <= ts <= MAX_EPOCH and format_timestamp(ts) is not None)


@pytest.mark.parametrize(
    "text",
    [
        "2020-01-01T00:00:1e300Z",
        "2020-01-01T00:00:nanZ",
        "9999-12-99T99:99:99Z",
        "0000-01-01T00:00:00Z",
        "2020-01-01T00:00:infZ",
        "99999-01-01T00:00:00.0Z",
    ],
)
def test_windows_time_out_of_range_is_none(text: str) -> None:
    assert parse_windows_time(text) is None


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.floats(), st.integers(), st.text(max_size=40)))
def test_every_timestamp_parsed_can_be_formatted(value: object) -> None:
    ts = parse_timestamp(value)
    assert ts is None or format_timestamp(ts) is not None


def test_zeek_time_out_of_range_and_wrong_kinds_keep_the_record(tmp_path: Path) -> None:
    log = tmp_path / "conn.log"
    log.write_text(
        ZEEK_HEAD
        + "1e300\tC1\t10.0.0.1\t5\t1.0\n"
        + "1700000000.0\tC2\t10.0.0.2\t100000000000000000000000\t1.0\n"
        + "1700000000.0\tC3\t10.0.0.3\tabc\tnan\n"
        + "1700000000.0\tC4\t10.0.0.4\t7\t2.5\n"
    )
    events, issues = read_all(log)
    assert [e.fields["uid"] for e in events] == ["C1", "C2", "C3", "C4"]
    assert events[0].timestamp is None and events[0].flags == (FLAG_BAD_TIMESTAMP,)
    assert events[1].fields["orig_bytes"] == "100000000000000000000000"
    assert "bytes_out" not in events[1].fields  # no canonical count from a number past 64 bits
    assert events[2].fields["orig_bytes"] == "abc" and events[2].fields["duration"] == "NaN"
    assert events[3].fields["orig_bytes"] == 7 and events[3].fields["bytes_out"] == 7
    where: dict[str, str] = {}
    for issue in issues:
        where[issue.location] = where.get(issue.location, "") + issue.reason + ";"
    assert "out of range" in where[f"{log}:5"]
    assert "orig_bytes" in where[f"{log}:6"]
    assert "orig_bytes (count)" in where[f"{log}:7"]
    for event in events:  # every output's encoder takes every event
        orjson.dumps(event.to_dict())
        assert event.iso_time() is None or event.iso_time()


def test_json_times_and_numbers_at_the_edges(tmp_path: Path) -> None:
    log = tmp_path / "app.jsonl"
    lines = [
        {"@timestamp": "99999-01-01T00:00:00Z", "n": 1},
        {"@timestamp": "0000-01-01T00:00:00Z", "n": 2},
        {"@timestamp": 1e300, "n": 3},
        {"@timestamp": -1, "n": 4},
        {
            "Event": {
                "System": {
                    "TimeCreated": {"#attributes": {"SystemTime": "2020-01-01T00:00:1e300Z"}},
                    "EventID": 1,
                }
            }
        },
        {
            "ts": "2024-01-01T00:00:00Z",
            "big": 18446744073709551616,
            "list": [1, 18446744073709551616],
        },
        {"ts": "2024-01-01T00:00:00Z", "n": 7},
    ]
    log.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    events, issues = read_all(log)
    assert len(events) == 7
    assert [e.timestamp is None for e in events] == [True] * 5 + [False] * 2
    bad_time = sorted(i.location for i in issues if "timestamp" in i.reason)
    assert bad_time == sorted(f"{log}:{n}" for n in range(1, 6))
    assert events[5].fields["big"] == 18446744073709551616 or isinstance(
        events[5].fields["big"], float
    )
    for event in events:
        orjson.dumps(event.to_dict())
        event.iso_time()


def test_settle_keeps_unencodable_values_as_text() -> None:
    fields, note = settle({"a": 2**64, "b": float("inf"), "c": [1, -(2**63) - 1], "d": "ok"})
    assert fields == {"a": str(2**64), "b": "Infinity", "c": f"[1,{-(2**63) - 1}]", "d": "ok"}
    assert note is not None and "a, b, c" in note
    orjson.dumps(fields)
    assert settle({"a": 1, "b": "x"}) == ({"a": 1, "b": "x"}, None)


def test_json_text_writes_any_depth_and_size() -> None:
    value: object = [math.inf]
    for _ in range(3000):
        value = {"k": value}
    text = json_text(value)
    assert text.startswith('{"k":' * 3) and text.endswith("]" + "}" * 3000)
    assert json_text({"a": [1, "x", None, True, 10**30]}) == f'{{"a":[1,"x",null,true,{10**30}]}}'


def test_a_deep_json_line_costs_only_itself(tmp_path: Path) -> None:
    deep = '{"k":' * 990 + '{"leaf":1}' + "}" * 990  # under orjson's own limit of 1024
    log = tmp_path / "deep.jsonl"
    log.write_text(
        f'{{"ts": "2024-01-01T00:00:00Z", "deep": {deep}}}\n'
        f'{{"Event": {{"System": {{"EventID": 1}}, "RenderingInfo": {deep}}}}}\n'
        f'{{"winlog": {{"event_id": 1, "user_data": {deep}}}}}\n'
        '{"ts": "2024-01-01T00:00:00Z", "after": "attack"}\n'
    )
    events, issues = read_all(log)
    assert len(events) == 4 and events[3].fields["after"] == "attack"
    assert all(i.kind == "record" for i in issues)
    kept = [v for v in events[0].fields.values() if isinstance(v, str) and '"leaf":1' in v]
    assert len(kept) == 1  # the part past the depth cap, whole, as JSON text
    assert any("nested deeper than 64" in i.reason and i.location == f"{log}:1" for i in issues)


def test_fields_per_event_are_capped_and_the_rest_counted(tmp_path: Path) -> None:
    params = " ".join(f'p{n}="{n}"' for n in range(60_000))
    syslog = tmp_path / "sd.log"
    syslog.write_text(
        f"<13>1 2024-03-03T12:00:00Z host app 1 ID [big@1 {params}] attack\n" * 2
        + "<13>1 2024-03-03T12:00:01Z host app 1 ID - after\n"
    )
    events, issues = read_all(syslog)
    assert [len(e.fields) for e in events[:2]] == [1024, 1024]
    # the cap is spent on the parameters: the header and the message stay
    assert events[0].fields["message"] == "attack" and events[0].fields["host"] == "host"
    assert events[2].fields["message"] == "after"
    capped = [i for i in issues if "past the cap of 1024" in i.reason]
    assert [i.location for i in capped] == [f"{syslog}:1", f"{syslog}:2"]
    assert int(capped[0].reason.split()[0]) == 60_000 + 9 - 1024  # 9 header fields

    columns = 100_000
    csv = tmp_path / "wide.csv"
    csv.write_text(
        ",".join(f"c{n}" for n in range(columns))
        + "\n"
        + ",".join("v" * 1 for _ in range(columns))
        + "\n"
    )
    events, issues = read_all(csv)
    assert len(events) == 1 and len(events[0].fields) == 1024
    assert [i.location for i in issues] == [f"{csv}:2"]
    assert issues[0].reason.startswith(f"{columns - 1024} fields past the cap")


def test_a_flattened_document_stays_within_the_event_byte_budget(tmp_path: Path) -> None:
    # Every child repeats its parent's 1 MiB name: 200 of them would be 200 MiB of names.
    key = "k" * (1 << 20)
    doc = {"ts": "2024-01-01T00:00:00Z", key: {str(n): n for n in range(200)}}
    log = tmp_path / "names.jsonl"
    log.write_text(json.dumps(doc) + "\n" + json.dumps({"after": 1}) + "\n")
    events, issues = read_all(log)
    assert len(events) == 2 and events[1].fields == {"after": 1}
    assert sum(len(name) for name in events[0].fields) <= 8 << 20
    assert any("fields dropped past the cap" in i.reason for i in issues)
