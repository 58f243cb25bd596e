"""Timeline outputs over detections built directly; input and expectation side by side."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from html.parser import HTMLParser
from itertools import pairwise
from pathlib import Path

from sentinelle.detections import Detection
from sentinelle.hunt.outputs import open_writer
from sentinelle.hunt.outputs.csv import PROFILES, defuse
from sentinelle.hunt.outputs.html import HtmlWriter, _chart_section, chart_bins
from sentinelle.hunt.outputs.jsonl import detection_record
from sentinelle.hunt.outputs.timesketch import timesketch_record
from sentinelle.hunt.summary import HuntSummary
from tests.hunt.helpers import make_correlation, make_detection, make_event

SYSMON = {
    "Channel": "Microsoft-Windows-Sysmon/Operational",
    "EventID": 1,
    "Computer": "PC-RADIO-01",
    "Keywords": "0x8000000000000000",  # EVTX System header: in the JSON, not in Details
    "Image": "C:\\Windows\\System32\\cmd.exe",
    "CommandLine": "cmd /c whoami",
}


def _summary(*dets: Detection) -> HuntSummary:
    s = HuntSummary(files=1, events=10, rules_loaded=2)
    for d in dets:
        s.add(d)
    return s


def _render(fmt: str, dets: list[Detection], profile: str = "standard") -> str:
    buf = io.StringIO()
    writer = open_writer(fmt, buf, profile, width=200)
    for d in dets:
        writer.write(d)
    writer.close(_summary(*dets))
    return buf.getvalue()


def test_jsonl_detection_has_every_required_key() -> None:
    det = make_detection(SYSMON)
    line = _render("jsonl", [det]).splitlines()[0]
    obj = json.loads(line)
    assert obj["rule_id"] == "r-1"
    assert obj["rule_title"] == "Rule one"
    assert obj["level"] == "high"
    assert obj["tags"] == ["attack.execution", "attack.t1059.001"]
    assert obj["timestamp"] == "2020-09-13T12:26:40.250000Z"
    assert obj["computer"] == "PC-RADIO-01"
    assert obj["channel"] == "Microsoft-Windows-Sysmon/Operational"
    assert obj["event_id"] == 1
    assert obj["source"] == "logs/a.evtx#7"
    assert obj["event"] == SYSMON
    assert obj["rule_type"] == "detection"
    # keys sorted, so timelines diff line by line
    assert list(obj) == sorted(obj)


def test_jsonl_correlation_lists_group_window_value_and_events() -> None:
    events = [
        make_event({"EventID": 4625, "Computer": "DC1", "TargetUserName": "admin"}, t, "s.evtx", i)
        for i, t in enumerate((100.0, 130.0, 160.0), start=1)
    ]
    obj = detection_record(make_correlation(events))
    assert obj["rule_type"] == "correlation"
    assert obj["group"] == {"TargetUserName": "admin"}
    assert obj["first_seen"] == "1970-01-01T00:01:40.000000Z"
    assert obj["last_seen"] == "1970-01-01T00:02:40.000000Z"
    assert obj["value"] == 3.0
    assert [e["source"] for e in obj["events"]] == ["s.evtx#1", "s.evtx#2", "s.evtx#3"]
    assert obj["events"][0]["event"]["EventID"] == 4625
    assert obj["computer"] == "DC1"


def test_jsonl_writes_values_json_cannot_hold_as_text() -> None:
    det = make_detection({"Blob": b"\x00\x01", "Set": {"a"}})
    obj = json.loads(_render("jsonl", [det]))
    assert obj["event"]["Blob"] == str(b"\x00\x01")


def test_csv_standard_profile_is_hayabusa_layout() -> None:
    dets = [
        make_detection(SYSMON, level="critical"),
        make_detection({**SYSMON, "EventID": 3}, level="medium", record=8, tags=()),
    ]
    rows = list(csv.reader(io.StringIO(_render("csv", dets))))
    assert rows[0] == list(PROFILES["standard"])
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["Timestamp"] == "2020-09-13 12:26:40.250 +00:00"
    assert first["Level"] == "crit"
    assert first["RecordID"] == "7"
    assert first["RuleID"] == "r-1"
    assert first["Details"] == "Cmdline: cmd /c whoami ¦ Proc: C:\\Windows\\System32\\cmd.exe"
    assert first["ExtraFieldInfo"] == "-"
    second = dict(zip(rows[0], rows[2], strict=True))
    assert (second["Level"], second["EventID"]) == ("med", "3")
    assert second["Details"] == "Proc: C:\\Windows\\System32\\cmd.exe"  # Sysmon 3 shows the image
    assert second["ExtraFieldInfo"] == "CommandLine: cmd /c whoami"


def test_csv_defuses_spreadsheet_formulas_from_event_content() -> None:
    det = make_detection({"Computer": '=HYPERLINK("http://x")', "Data": "a"}, title="@SUM(1)")
    rows = list(csv.reader(io.StringIO(_render("csv", [det]))))
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["Computer"] == '\'=HYPERLINK("http://x")'
    assert row["RuleTitle"] == "'@SUM(1)"
    assert defuse("-") == "-"
    assert defuse("-cmd") == "'-cmd"
    assert defuse("plain") == "plain"


def test_csv_details_stay_on_one_line_and_quote_safely() -> None:
    det = make_detection({"CommandLine": 'a "b"\r\n\t\tc,d', "User": "x"})
    text = _render("csv", [det])
    assert len(text.splitlines()) == 2
    rows = list(csv.reader(io.StringIO(text)))
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["Details"] == 'CommandLine: a "b" c,d ¦ User: x'  # no kind: every field


def test_timesketch_lines_have_required_fields_and_keep_colliding_names() -> None:
    det = make_detection({**SYSMON, "message": "evil", "Computer": "PC1"})
    rec = timesketch_record(det)
    assert rec is not None
    assert rec["datetime"] == "2020-09-13T12:26:40.250000+00:00"
    assert rec["timestamp_desc"] == "Event Time"
    assert rec["timestamp"] == 1_600_000_000_250_000
    assert rec["message"].startswith("[high] Rule one: Cmdline: cmd /c whoami")
    assert json.loads(rec["event_other"])["message"] == "evil"
    assert rec["computer"] == "PC1"
    assert rec["CommandLine"] == "cmd /c whoami"
    line = _render("timesketch", [det])
    assert json.loads(line)["rule_id"] == "r-1"


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: Counter[str] = Counter()
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        self.attrs.extend(attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


HOSTILE = '<script>alert(1)</script><img src="http://evil/x.png">" onmouseover="x'


def test_html_report_is_self_contained_and_escapes_event_content(tmp_path: Path) -> None:
    dets = [
        make_detection({**SYSMON, "CommandLine": HOSTILE}, ts=3600.0 * 10 + 5),
        make_detection({**SYSMON, "Computer": HOSTILE}, ts=3600.0 * 12, title=HOSTILE),
        make_detection(SYSMON, ts=3600.0 * 12 + 60, level="low"),
    ]
    path = tmp_path / "report.html"
    writer = HtmlWriter(path)
    for d in dets:
        writer.write(d)
    writer.close(_summary(*dets))
    text = path.read_text()
    parser = _Collector()
    parser.feed(text)
    assert parser.tags["script"] == 0
    assert parser.tags["img"] == 0
    assert not [a for a in parser.attrs if a[0] in {"src", "href", "onmouseover"}]
    assert "default-src 'none'" in text
    assert HOSTILE in "".join(parser.text)  # shown to the analyst, as text
    # chart: one bar segment per (hour, level) present: 10h high, 12h high + low
    assert parser.tags["rect"] - 5 == 3  # five legend swatches
    assert "Execution: 3" in text
    assert text.count("<tr><td>") >= 3


def test_chart_bins_widen_for_long_spans() -> None:
    hourly = {0: Counter(high=1), 5: Counter(low=2)}
    assert chart_bins(hourly) == (1, hourly)
    spread = {0: Counter(high=1), 24 * 365: Counter(high=1), 24 * 365 + 1: Counter(low=1)}
    width, bins = chart_bins(spread)
    assert width == 24
    assert bins[24 * 365] == Counter(high=1, low=1)
    width, _ = chart_bins({0: Counter(high=1), 10**7: Counter(high=1)})
    assert (10**7) / width <= 400


def test_chart_tick_labels_do_not_overlap_and_the_legend_fits() -> None:
    for hours in (2, 11, 40, 300):
        summary = HuntSummary()
        summary.per_hour = {h: Counter(high=1) for h in range(hours)}
        svg = _chart_section(summary)
        width = float(re.search(r'<svg[^>]* width="([0-9.]+)"', svg).group(1))  # type: ignore[union-attr]
        labels = [
            float(x)
            for x in re.findall(r'<text x="([0-9.]+)" y="[0-9.]+" font-size="11">\d{4}-', svg)
        ]
        assert labels, hours
        assert all(b - a >= 110 for a, b in pairwise(labels)), (hours, labels)
        assert labels[-1] + 110 <= width, (hours, labels, width)
        legend = [
            float(x)
            for x in re.findall(r'<text x="([0-9.]+)"[^>]*>(?:critical|informational)<', svg)
        ]
        assert len(legend) == 2 and max(legend) + 90 <= width, (hours, legend, width)


def test_table_shows_markup_and_escapes_literally_with_summary() -> None:
    dets = [
        make_detection({**SYSMON, "CommandLine": "\x1b[2J\u202e [bold red]boom[/]"}),
        make_detection(SYSMON, ts=None, level="low", title="Second rule", rule_id="r-2"),
    ]
    out = _render("table", dets)
    assert "[bold red]" in out
    assert "\x1b[2J" not in out and "\\x1b[2J" in out
    assert "\u202e" not in out and "\\u202e" in out
    assert "Top rules" in out and "Rule one" in out and "Second rule" in out
    assert "PC-RADIO-01" in out
    assert "Execution" in out
    assert "Detections" in out and "1 high" in out and "1 low" in out


def test_table_says_when_nothing_was_found() -> None:
    assert "No detections." in _render("table", [])


def test_progress_bar_counts_files_and_events_on_its_console() -> None:
    from rich.console import Console

    from sentinelle.cli.hunt import _RichProgress

    buf = io.StringIO()
    progress = _RichProgress(Console(file=buf, force_terminal=True, width=120))
    progress.start(3)
    progress.advance(2048)
    progress.file_done()
    progress.advance(952)
    progress.file_done()
    progress._progress.refresh()
    progress.stop()
    text = buf.getvalue()
    assert "2/3" in text
    assert "3,000 events" in text
    assert "events/s" in text
