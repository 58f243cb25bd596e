"""The Timesketch timeline imports whole: fixed cases of mixed logs, and the whole corpus."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from sentinelle.detections import Detection
from sentinelle.hunt.outputs.timesketch import (
    _FIXED,
    EVENT_FIELDS,
    MAX_VALUE,
    TimesketchWriter,
    timesketch_record,
)
from sentinelle.hunt.summary import HuntSummary
from tests.hunt.helpers import hunt_env, make_correlation, make_detection, make_event, run_hunt
from tests.hunt.timesketch_import import check_lines

SYSMON_1 = {
    "Channel": "Microsoft-Windows-Sysmon/Operational",
    "EventID": 1,
    "Computer": "PC-RADIO-01",
    "ProcessId": 4242,  # an integer in Sysmon
    "Image": "C:\\Windows\\System32\\cmd.exe",
    "CommandLine": "cmd /c whoami",
}
SECURITY_4688 = {
    "Channel": "Security",
    "EventID": 4688,
    "Computer": "DC1",
    "ProcessId": "0x1a4",  # a hex string in Security
    "NewProcessName": "C:\\Windows\\System32\\csc.exe",
    "TokenElevationType": "%%1936",
}
SYSTEM_104 = {
    "Channel": "System",
    "EventID": 104,
    "Computer": "FS03",
    "SubjectUserName": "admin",
    "UserData.LogFileCleared.Channel": "Security",  # dotted: "Channel" was taken
    "UserData": "also a plain key",
}
SYSLOG = {"host": "fw1", "program": "sshd", "pid": 812, "message": "Failed password", "sd.x.y": 1}
ZEEK = {"src_ip": "10.0.0.5", "dst_port": 445, "orig_bytes": 10**23, "duration": float("nan")}


def _lines(dets: list[Detection]) -> tuple[list[str], TimesketchWriter]:
    buf = io.StringIO()
    writer = TimesketchWriter(buf)
    for det in dets:
        writer.write(det)
    writer.close(HuntSummary())
    return buf.getvalue().splitlines(), writer


def test_the_emulated_importer_refuses_what_timesketch_refuses() -> None:
    # The rules the writer must meet, shown failing on the lines that broke real imports.
    base = {"message": "m", "datetime": "2020-01-01T00:00:00+00:00", "timestamp_desc": "t"}
    lines = [
        json.dumps({**base, "ProcessId": 4242}),
        json.dumps({**base, "ProcessId": "0x1a4"}),
        json.dumps({**base, "UserData": "x", "UserData.LogFileCleared.Channel": "Security"}),
        '{"message": "m", "message": "n", "datetime": "2020-01-01T00:00:00+00:00"}',
        json.dumps({**base, "datetime": "1970-01-01T00:00:00+00:00"}),
        json.dumps({**base, **{f"field{i}": "v" for i in range(400)}}),
    ]
    refusals = check_lines(lines).refusals
    assert any("ProcessId is string, mapped as long" in r for r in refusals)
    assert any("collides" in r or "expands" in r for r in refusals)
    assert any("duplicate key message" in r for r in refusals)
    assert any("dated 1970" in r for r in refusals)
    assert any("pass the limit" in r for r in refusals)


def test_mixed_logs_import_with_stable_names_and_types() -> None:
    dets = [
        make_detection(SYSMON_1),
        make_detection(SECURITY_4688, record=8),
        make_detection(SYSTEM_104, record=9),
        make_detection(SYSLOG, record=10),
        make_detection(ZEEK, record=11),
        make_correlation(
            [make_event(SECURITY_4688, 1_600_000_000.0 + i, "s.evtx", i) for i in (1, 2, 3)]
        ),
    ]
    lines, writer = _lines(dets)
    assert len(lines) == len(dets) and writer.notes() == []
    state = check_lines(lines)
    assert state.refusals == []
    records = [json.loads(line) for line in lines]
    assert all("." not in key for rec in records for key in rec)
    assert {"ProcessId": "4242"}.items() <= records[0].items()
    assert {"ProcessId": "0x1a4"}.items() <= records[1].items()
    assert state.mapping["ProcessId"] == "string"
    assert state.mapping["timestamp"] == "long"
    assert all(kind == "string" for key, kind in state.mapping.items() if key != "timestamp")
    other_104 = json.loads(records[2]["event_other"])
    assert other_104["UserData.LogFileCleared.Channel"] == "Security"
    assert other_104["UserData"] == "also a plain key"
    zeek_other = json.loads(records[4]["event_other"])
    assert zeek_other["orig_bytes"] == str(10**23) and zeek_other["duration"] == "nan"
    assert records[4]["dst_port"] == "445"
    # which time each line is
    assert records[0]["timestamp_desc"] == "Event Time"
    assert records[5]["timestamp_desc"] == "Correlation Condition Met"
    assert records[0]["datetime"] == "2020-09-13T12:26:40.250000+00:00"
    assert records[0]["timestamp"] == 1_600_000_000_250_000
    # Windows codes read as words in the message, raw in the field
    assert "TokenElevationTypeDefault (1)" in records[1]["message"]
    assert records[1]["details"].startswith("Proc: C:\\Windows\\System32\\csc.exe")


def test_keys_are_bounded_whatever_the_events_hold() -> None:
    dets = [
        make_detection({**SYSMON_1, **{f"Field{i}_{j}": j for j in range(40)}}, record=i)
        for i in range(50)
    ]
    lines, _ = _lines(dets)
    state = check_lines(lines)
    assert state.refusals == []
    keys = {key for line in lines for key in json.loads(line)}
    assert len(keys) <= len(_FIXED) + len(EVENT_FIELDS)
    assert len(_FIXED) + len(EVENT_FIELDS) <= 100  # about 300 mappings, under every limit
    assert not {k.lower() for k in _FIXED} & {k.lower() for k in EVENT_FIELDS}


def test_detections_without_a_usable_time_are_left_out_and_counted() -> None:
    dets = [
        make_detection(SYSMON_1, ts=None),
        make_detection(SYSMON_1, ts=0.0),
        make_detection(SYSMON_1, ts=1e300),
        make_detection(SYSMON_1, ts=float("nan")),
        make_detection(SYSMON_1, ts=-11_644_473_600.0),  # FILETIME zero, 1601
        make_detection(SYSMON_1),
    ]
    lines, writer = _lines(dets)
    assert len(lines) == 1
    assert writer.untimed == 5
    assert "5 detections without a usable time" in writer.notes()[0]
    assert check_lines(lines).refusals == []


def test_long_values_are_cut_to_what_an_index_keeps() -> None:
    rec = timesketch_record(make_detection({**SYSMON_1, "CommandLine": "A" * 2_000_000}))
    assert rec is not None
    assert len(rec["CommandLine"]) == MAX_VALUE
    assert rec["CommandLine"].endswith("…")
    assert all(len(v) <= MAX_VALUE for v in rec.values() if isinstance(v, str))


# --- the whole corpus through the real command -------------------------------------------

LEVELS = ("informational", "medium", "high")


@pytest.mark.corpus
@pytest.mark.parametrize("min_level", LEVELS)
def test_the_whole_corpus_imports_at_every_min_level(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory, min_level: str
) -> None:
    env = hunt_env(tmp_path_factory.getbasetemp() / "corpus-home")
    out = tmp_path_factory.mktemp("ts") / "timeline.jsonl"
    corpus = shared_data / "evtx" / "mitre"
    rules = shared_data / "sigma" / "rules" / "windows"
    args = (str(corpus), "--rules", str(rules), "--min-level", min_level, "-q")
    proc = run_hunt(env, *args, "-f", "timesketch", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    state = check_lines(lines)
    assert state.refusals == [], state.refusals[:10]
    assert len(lines) > 0
    assert len(state.mapping) <= len(_FIXED) + len(EVENT_FIELDS)
    # nothing lost: every detection of the JSONL timeline is a line here, or counted as untimed
    jsonl = tmp_path_factory.mktemp("ts") / "timeline.jsonl"
    assert run_hunt(env, *args, "-f", "jsonl", "-o", str(jsonl)).returncode == 0
    records = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    untimed = sum(1 for rec in records if rec["timestamp"] is None)
    assert len(lines) + untimed == len(records)
