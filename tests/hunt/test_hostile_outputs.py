"""Every output writer survives what an attacker can put in a log (issues 17 and 20).

Hypothesis builds detections from values at the edges of every type: integers past 64 bits,
NaN and infinities, times a datetime cannot hold, empty and 1 MB strings, control characters
and bidirectional overrides, bytes, deep nesting, keys that are not text. Each writer must
write a complete, valid file: one record per detection (or the count of those it must leave
out), parseable by the reader it is for, with nothing from the input able to act on a terminal.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.cells import cell_len

from sentinelle.detections import Detection
from sentinelle.events import Event
from sentinelle.hunt.outputs import open_writer
from sentinelle.hunt.outputs.attack import write_attack_layer
from sentinelle.hunt.outputs.html import HtmlWriter
from sentinelle.hunt.outputs.timesketch import TimesketchWriter
from sentinelle.hunt.summary import HuntSummary
from tests.hunt.timesketch_import import check_lines

MEGABYTE = "\u202e" + "A" * (1 << 20)

edge_ints = st.sampled_from([0, -1, 2**63 - 1, -(2**63), 2**64, 10**23, -(10**30), 2**200])
edge_floats = st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e300, 5e-324])
edge_texts = st.one_of(
    st.sampled_from(["", " ", "-", "=cmd|' /c calc'!A0", "%%1833", "\x00", MEGABYTE]),
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]),
        max_size=40,
    ),
    st.sampled_from(["\x1b]0;owned\x07", "\x1b[2J\x9b31m", "a\u202eb\u2066c", "\r\n\t\x7f"]),
)
scalars = st.one_of(
    st.none(), st.booleans(), edge_ints, edge_floats, edge_texts, st.binary(max_size=8)
)


def _deep(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"k": [value]}
    return value


values = st.one_of(
    scalars,
    st.lists(scalars, max_size=4),
    st.dictionaries(st.one_of(edge_texts, edge_ints), scalars, max_size=3),
    st.sampled_from([_deep(300), {1: "int key", (1, 2): "tuple key"}, {"a"}]),
)
field_names = st.one_of(
    st.sampled_from(
        ["CommandLine", "ProcessId", "Channel", "EventID", "Computer", "UserData.X.Y", "a.b"]
    ),
    edge_texts.filter(lambda s: len(s) < 100),
)
timestamps = st.one_of(
    st.none(),
    st.sampled_from([0.0, -1.0, 1e300, -1e300, math.nan, math.inf, 253_402_300_800.0]),
    st.floats(min_value=-1e12, max_value=1e12, allow_nan=False),
)


@st.composite
def detections(draw: st.DrawFn) -> Detection:
    fields = draw(st.dictionaries(field_names, values, max_size=6))
    ts = draw(timestamps)
    event = Event(fields, ts, draw(edge_texts), draw(st.integers(-(2**70), 2**70)))
    kind = draw(st.sampled_from(["detection", "correlation", "network"]))
    tags = tuple(draw(st.lists(st.one_of(edge_texts, st.just("attack.t1059.001")), max_size=3)))
    det = Detection(
        rule_id=draw(edge_texts),
        rule_title=draw(edge_texts),
        level=draw(st.one_of(st.sampled_from(["high", "critical"]), edge_texts)),
        timestamp=ts,
        tags=tags,
        rule_type=kind,
        details=draw(st.dictionaries(edge_texts, values, max_size=2)),
    )
    if kind == "detection":
        det.event = event
    else:
        det.events = (event,) * draw(st.integers(0, 2))
        det.group = draw(st.dictionaries(edge_texts, values, max_size=2))
        det.value = draw(st.one_of(st.none(), edge_floats, st.floats(allow_nan=False)))
        det.first_seen = draw(timestamps)
        det.last_seen = draw(timestamps)
    return det


def _summary(dets: list[Detection]) -> HuntSummary:
    summary = HuntSummary(files=1, events=len(dets))
    for det in dets:
        summary.add(det)
    return summary


def _no_terminal_controls(text: str) -> None:
    assert not any(c in text for c in ("\x1b", "\x07", "\x9b", "\u202e", "\u2066")), text[:200]


HOSTILE = settings(
    max_examples=int(os.environ.get("SENTINELLE_HOSTILE_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@HOSTILE
@given(st.lists(detections(), min_size=1, max_size=4))
def test_jsonl_writes_one_valid_line_per_detection(dets: list[Detection]) -> None:
    for terminal in (False, True):
        buf = io.StringIO()
        writer = open_writer("jsonl", buf, terminal=terminal)
        for det in dets:
            writer.write(det)
        writer.close(_summary(dets))
        lines = buf.getvalue().splitlines()
        assert len(lines) == len(dets)
        for line in lines:
            assert isinstance(json.loads(line), dict)
        if terminal:
            _no_terminal_controls(buf.getvalue())


@HOSTILE
@given(st.lists(detections(), min_size=1, max_size=4))
def test_timesketch_lines_import_or_are_counted(dets: list[Detection]) -> None:
    for terminal in (False, True):
        buf = io.StringIO()
        writer = TimesketchWriter(buf, terminal=terminal)
        for det in dets:
            writer.write(det)
        writer.close(_summary(dets))
        lines = buf.getvalue().splitlines()
        assert len(lines) + writer.untimed == len(dets)
        assert check_lines(lines).refusals == []
        if terminal:
            _no_terminal_controls(buf.getvalue())


@HOSTILE
@given(
    st.lists(detections(), min_size=1, max_size=4),
    st.sampled_from(["standard", "super-verbose", "all-field-info-verbose", "timesketch-verbose"]),
)
def test_csv_has_one_full_row_per_detection(dets: list[Detection], profile: str) -> None:
    for terminal in (False, True):
        buf = io.StringIO(newline="")
        writer = open_writer("csv", buf, profile, terminal=terminal)
        for det in dets:
            writer.write(det)
        writer.close(_summary(dets))
        rows = list(csv.reader(io.StringIO(buf.getvalue(), newline="")))
        assert len(rows) == len(dets) + 1
        assert all(len(row) == len(rows[0]) for row in rows)
        if terminal:
            _no_terminal_controls(buf.getvalue())


@HOSTILE
@given(st.lists(detections(), min_size=1, max_size=4), st.sampled_from([80, 120, 200]))
def test_table_prints_every_detection_and_the_summary(dets: list[Detection], width: int) -> None:
    buf = io.StringIO()
    writer = open_writer("table", buf, width=width)
    for det in dets:
        writer.write(det)
    writer.close(_summary(dets))
    text = buf.getvalue()
    assert "Summary" in text
    _no_terminal_controls(text)
    assert all(cell_len(line) <= width for line in text.split("\n"))  # terminal cells


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


@HOSTILE
@given(st.lists(detections(), min_size=1, max_size=4))
def test_html_report_and_attack_layer_are_written_whole(
    tmp_path_factory: Any, dets: list[Detection]
) -> None:
    folder: Path = tmp_path_factory.mktemp("hostile")
    report = folder / "r.html"
    writer = HtmlWriter(report)
    for det in dets:
        writer.write(det)
    summary = _summary(dets)
    writer.close(summary)
    text = report.read_text(encoding="utf-8")
    assert text.rstrip().endswith("</html>")
    parser = _Html()
    parser.feed(text)
    assert "script" not in parser.tags and "img" not in parser.tags
    _no_terminal_controls(text)
    layer = folder / "layer.json"
    write_attack_layer(layer, summary, [d.rule_title for d in dets])
    assert json.loads(layer.read_text(encoding="utf-8"))["versions"]["layer"] == "4.5"
