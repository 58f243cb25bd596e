"""Every reader fed values at the edge of each type (huge and negative numbers, NaN, infinities,
years 0 and 99999, empty and 1 MB strings): reading completes and every record is accounted
for, as an event (however odd its values) or, for a line past the line cap, as a read issue
naming its line. No value may make a reader drop its record or an output fail on it."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sentinelle.readers import read_file
from sentinelle.readers.lines import LINE_CAP

EDGE = st.one_of(
    st.sampled_from([0, -1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**23, -(10**30)]),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e300, -1e300, 5e-324, -0.0]),
    st.sampled_from(
        [
            "0000-01-01T00:00:00Z",
            "99999-01-01T00:00:00Z",
            "0001-01-01T00:00:00+05:00",
            "9999-12-31T23:59:59-05:00",
            "1e300",
            "-1",
            "nan",
            "inf",
            "",
        ]
    ),
    st.just("x" * (1 << 20)),
    st.text(alphabet=st.characters(exclude_categories=["Cs", "Cc", "Zl", "Zp"]), max_size=20),
)
EDGES = st.lists(EDGE, min_size=1, max_size=4)
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def text(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def quoted(value: Any) -> str:
    return text(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


# One renderer per format: the lines of a file holding one record per value (header first).
def syslog(values: list[Any]) -> tuple[str, list[str]]:
    return "auth.log", [
        f'<13>1 {text(v)} host app 1 ID [m@1 v="{quoted(v)}"] msg {text(v)}' for v in values
    ]


def bsd_kv(values: list[Any]) -> tuple[str, list[str]]:
    return "fw.log", [
        f"Mar  3 12:00:00 fw date={text(v)} time=12:00:00 devname=fw logid=1 type=traffic"
        f' sentbyte={text(v)} msg="{quoted(v)}"'
        for v in values
    ]


def cef(values: list[Any]) -> tuple[str, list[str]]:
    return "cef.log", [
        f"CEF:0|V|P|1|1|n|5|rt={text(v)} src=10.0.0.1 out={text(v)} msg={text(v)}" for v in values
    ]


def zeek(values: list[Any]) -> tuple[str, list[str]]:
    head = [
        "#separator \\x09",
        "#path\tconn",
        "#fields\tts\tuid\torig_bytes\tduration\tnote",
        "#types\ttime\tstring\tcount\tinterval\tstring",
    ]
    rows = [
        "\t".join([text(v) or "0", "C1", text(v) or "0", text(v) or "0", text(v) or "(empty)"])
        for v in values
    ]
    return "conn.log", head + rows


def csv_rows(values: list[Any]) -> tuple[str, list[str]]:
    def cell(v: Any) -> str:
        return '"' + text(v).replace('"', '""') + '"'

    return "export.csv", ["timestamp,value,other"] + [f"{cell(v)},{cell(v)},x" for v in values]


def _json(doc: Any) -> str:
    return json.dumps(doc, allow_nan=True)  # NaN and Infinity as Python writes them


def json_lines(values: list[Any]) -> tuple[str, list[str]]:
    return "app.jsonl", [_json({"@timestamp": v, "value": v, "list": [v, 1]}) for v in values]


def evtx_json(values: list[Any]) -> tuple[str, list[str]]:
    return "evtx.jsonl", [
        _json(
            {
                "Event": {
                    "System": {
                        "EventID": v,
                        "EventRecordID": text(v),
                        "TimeCreated": {"#attributes": {"SystemTime": text(v)}},
                    },
                    "EventData": {"Value": v},
                }
            }
        )
        for v in values
    ]


def winlogbeat(values: list[Any]) -> tuple[str, list[str]]:
    return "beat.json", [
        _json({"@timestamp": v, "winlog": {"event_id": text(v), "event_data": {"Value": v}}})
        for v in values
    ]


def check(render: Callable[[list[Any]], tuple[str, list[str]]], values: list[Any]) -> None:
    name, lines = render(values)
    records = list(range(len(lines) - len(values) + 1, len(lines) + 1))  # 1-based line numbers
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        events, issues = [], []
        for batch in read_file(path):
            events += batch.events
            issues += batch.issues
    read = {e.record for e in events}
    skipped = {i.location for i in issues if i.kind == "record"}
    assert not [i for i in issues if i.kind != "record"], issues
    for number in records:
        line = lines[number - 1]
        if len(line.encode()) > LINE_CAP:
            assert f"{path}:{number}" in skipped, number  # reported, not silently lost
        else:
            assert number in read, (number, line[:200], issues[:5])
    for event in events:
        orjson.dumps(event.to_dict())  # every output's encoder takes it
        assert event.timestamp is None or event.iso_time() is not None


@SETTINGS
@given(EDGES)
def test_syslog(values: list[Any]) -> None:
    check(syslog, values)


@SETTINGS
@given(EDGES)
def test_key_value(values: list[Any]) -> None:
    check(bsd_kv, values)


@SETTINGS
@given(EDGES)
def test_cef(values: list[Any]) -> None:
    check(cef, values)


@SETTINGS
@given(EDGES)
@example(["#"])  # a data line starting with '#' (found by this test): data, not a header
def test_zeek(values: list[Any]) -> None:
    check(zeek, values)


@SETTINGS
@given(EDGES)
def test_csv(values: list[Any]) -> None:
    check(csv_rows, values)


@SETTINGS
@given(EDGES)
def test_json_lines(values: list[Any]) -> None:
    check(json_lines, values)


@SETTINGS
@given(EDGES)
def test_evtx_json(values: list[Any]) -> None:
    check(evtx_json, values)


@SETTINGS
@given(EDGES)
def test_winlogbeat(values: list[Any]) -> None:
    check(winlogbeat, values)


# Characters Python counts as digits that ``int`` refuses (superscripts, circled numbers), beside
# digits of another script that ``int`` reads: an id, a port or a protocol number made of them
# stopped the whole file ("invalid literal for int()").
NOT_ASCII_DIGITS = ["²", "-¹²", "①", "٣", "-٣"]


@pytest.mark.parametrize(
    "render",
    [syslog, bsd_kv, cef, zeek, csv_rows, json_lines, evtx_json, winlogbeat],
    ids=lambda render: render.__name__,
)
def test_digits_int_refuses(render: Callable[[list[Any]], tuple[str, list[str]]]) -> None:
    check(render, NOT_ASCII_DIGITS)
