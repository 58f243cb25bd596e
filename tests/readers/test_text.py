"""Text readers: one record, its normalised fields and the expectation side by side, then the
hostile cases (over-long lines, invalid UTF-8, binary garbage, malformed JSON, bad archives).
"""

from __future__ import annotations

import bz2
import gzip
import os
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sentinelle.events import FLAG_BAD_TIMESTAMP, FLAG_NO_TIMESTAMP, Event, ReadIssue
from sentinelle.readers import expand_paths, read_file, read_paths, sniff_format
from sentinelle.readers.lines import LINE_CAP

CORPUS = Path(__file__).parent / "corpus"


def read_all(path: Path) -> tuple[list[Event], list[ReadIssue]]:
    events: list[Event] = []
    issues: list[ReadIssue] = []
    for batch in read_file(path, batch_size=3):
        assert len(batch.events) <= 3
        events.extend(batch.events)
        issues.extend(batch.issues)
    return events, issues


def one_line(tmp_path: Path, line: str, name: str = "one.log") -> Event:
    path = tmp_path / name
    path.write_text(line + "\n", encoding="utf-8")
    events, issues = read_all(path)
    assert issues == [] and len(events) == 1
    return events[0]


def subset(fields: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    return {key: fields.get(key) for key in expected}


# Firewall syslog, CEF, key=value: the canonical network fields next to the vendor ones. ---------

FIREWALL_CASES = [
    pytest.param(
        "<134>Mar  3 12:00:01 fw01 filterlog[8123]: 5,,,1000000103,em0,match,block,in,4,0x0,,64,"
        "12345,0,DF,6,tcp,60,203.0.113.7,10.1.2.3,51514,3389,0,S,1234567,,64240,,mss",
        {
            "host": "fw01",
            "program": "filterlog",
            "facility": 16,
            "severity": 6,
            "src_ip": "203.0.113.7",
            "dst_ip": "10.1.2.3",
            "src_port": 51514,
            "dst_port": 3389,
            "proto": "tcp",
            "action": "block",
            "interface": "em0",
        },
        id="pfsense-filterlog-v4",
    ),
    pytest.param(
        "<134>Mar  3 12:00:02 fw01 filterlog[8123]: 7,,,1000000104,em0,match,pass,out,6,0x00,"
        "0x00000,64,udp,17,72,2001:db8::1,2001:db8::53,5353,53,72",
        {"src_ip": "2001:db8::1", "dst_port": 53, "proto": "udp", "action": "pass"},
        id="pfsense-filterlog-v6",
    ),
    pytest.param(
        '<189>date=2024-03-03 time=12:00:03 devname="FGT-HOSP-01" logid="0000000013" '
        'type="traffic" srcip=10.20.0.15 srcport=49822 dstip=198.51.100.20 dstport=443 proto=6 '
        'action="accept" sentbyte=1520 rcvdbyte=88210 sentpkt=14 rcvdpkt=70',
        {
            "devname": "FGT-HOSP-01",
            "src_ip": "10.20.0.15",
            "dst_ip": "198.51.100.20",
            "src_port": 49822,
            "dst_port": 443,
            "proto": "tcp",
            "proto_vendor": "6",
            "action": "accept",
            "bytes_out": 1520,
            "bytes_in": 88210,
            "packets_out": 14,
            "packets_in": 70,
            "log_format": "fortigate",
        },
        id="fortigate",
    ),
    pytest.param(
        '<13>id=firewall time="2024-03-03 12:00:04" fw="SN-PACS" tz=+0100 src=10.30.1.9 '
        "srcport=52000 dst=10.30.2.4 dstport=104 ipproto=tcp proto=dicom action=block sent=10 "
        "rcvd=0",
        {
            "src_ip": "10.30.1.9",
            "dst_port": 104,
            "proto": "tcp",
            "proto_vendor": "dicom",
            "action": "block",
            "bytes_out": 10,
            "bytes_in": 0,
            "log_format": "stormshield",
        },
        id="stormshield",
    ),
    pytest.param(
        "Mar  3 12:00:05 gw kernel: [UFW BLOCK] IN=eth0 OUT= SRC=192.0.2.44 DST=10.0.0.5 LEN=60 "
        "TTL=52 DF PROTO=TCP SPT=40000 DPT=445 WINDOW=29200 SYN URGP=0",
        {
            "host": "gw",
            "program": "kernel",
            "src_ip": "192.0.2.44",
            "dst_ip": "10.0.0.5",
            "src_port": 40000,
            "dst_port": 445,
            "proto": "tcp",
            "action": "block",
            "log_format": "iptables",
        },
        id="iptables",
    ),
    pytest.param(
        "<134>Mar  3 12:00:06 siem CEF:0|Palo Alto Networks|PAN-OS|10.1|TRAFFIC|end|3|"
        "src=10.0.0.9 dst=203.0.113.50 spt=50123 dpt=22 proto=TCP act=allow out=4096 in=1024 "
        r"cs1Label=Rule cs1=Allow SSH msg=a \= b",
        {
            "host": "siem",
            "device_vendor": "Palo Alto Networks",
            "signature_id": "TRAFFIC",
            "cef_severity": "3",
            "src_ip": "10.0.0.9",
            "dst_port": 22,
            "proto": "tcp",
            "action": "allow",
            "bytes_out": 4096,
            "bytes_in": 1024,
            "Rule": "Allow SSH",
            "msg": "a = b",
        },
        id="cef-in-syslog",
    ),
]


@pytest.mark.parametrize(("line", "expected"), FIREWALL_CASES)
def test_firewall_records_get_canonical_fields(
    tmp_path: Path, line: str, expected: dict[str, Any]
) -> None:
    event = one_line(tmp_path, line)
    assert subset(event.fields, expected) == expected
    assert event.timestamp is not None


def test_rfc5424_structured_data_become_fields(tmp_path: Path) -> None:
    event = one_line(
        tmp_path,
        '<165>1 2024-03-03T12:00:07.123Z ehr-app01 ehr 4242 LOGIN [origin ip="10.0.5.5"]'
        '[meta sequenceId="42" note="a \\"quoted\\" ]"] user dr.martin logged in',
    )
    assert event.fields == {
        "facility": 20,
        "severity": 5,
        "syslog_version": 1,
        "host": "ehr-app01",
        "app_name": "ehr",
        "program": "ehr",
        "pid": "4242",
        "msgid": "LOGIN",
        "sd.origin.ip": "10.0.5.5",
        "sd.meta.sequenceId": "42",
        "sd.meta.note": 'a "quoted" ]',
        "message": "user dr.martin logged in",
    }
    assert event.iso_time() == "2024-03-03T12:00:07.123000Z"


def test_bsd_year_is_taken_from_the_file_time(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    path.write_text(
        "Dec 31 23:59:58 pacs sshd[77]: Failed password for root from 192.0.2.9\n"
        "Jan  1 00:00:02 pacs sshd[77]: Accepted password for admin from 192.0.2.9\n"
    )
    written = datetime(2025, 1, 1, 0, 5, tzinfo=UTC).timestamp()
    os.utime(path, (written, written))
    events, _ = read_all(path)
    assert [e.iso_time() for e in events] == [
        "2024-12-31T23:59:58.000000Z",
        "2025-01-01T00:00:02.000000Z",
    ]
    assert events[0].fields["program"] == "sshd" and events[0].fields["pid"] == "77"


def test_unreadable_and_missing_timestamps_are_flagged(tmp_path: Path) -> None:
    path = tmp_path / "app.jsonl"
    path.write_text('{"time": "not a date", "a": 1}\n{"b": 2}\n')
    events, issues = read_all(path)
    assert [(e.timestamp, e.flags) for e in events] == [
        (None, (FLAG_BAD_TIMESTAMP,)),
        (None, (FLAG_NO_TIMESTAMP,)),
    ]
    # the unreadable time is reported where it is; a missing one is no problem of the input
    assert [(i.location, i.kind) for i in issues] == [(f"{path}:1", "record")]
    assert "timestamp unreadable" in issues[0].reason


# Zeek, CSV ----------------------------------------------------------------------------------


def test_zeek_conn_log_is_typed_and_canonical() -> None:
    events, issues = read_all(CORPUS / "conn.log")
    assert issues == []
    first, second = events
    assert first.record == 8
    expected = {
        "id.orig_h": "10.1.1.5",
        "src_ip": "10.1.1.5",
        "dst_ip": "10.1.9.9",
        "src_port": 51000,
        "dst_port": 445,
        "proto": "tcp",
        "conn_state": "SF",
        "duration": 1.5,
        "bytes_out": 2048,
        "bytes_in": 512,
        "packets_out": 10,
        "packets_in": 8,
        "tunnel_parents": [],
    }
    assert subset(first.fields, expected) == expected
    # Unset values ("-") are left out, never turned into text.
    assert "duration" not in second.fields and "bytes_out" not in second.fields
    assert first.timestamp == pytest.approx(1709467200.123456)


def test_zeek_json_gets_the_same_canonical_fields(tmp_path: Path) -> None:
    event = one_line(
        tmp_path,
        '{"ts":1709467200.5,"uid":"C1","id.orig_h":"10.1.1.5","id.orig_p":51000,'
        '"id.resp_h":"10.1.9.9","id.resp_p":445,"proto":"tcp","conn_state":"S0",'
        '"orig_bytes":10,"resp_bytes":0}',
        "conn.json",
    )
    assert subset(event.fields, {"src_ip": 1, "dst_port": 1, "bytes_out": 1}) == {
        "src_ip": "10.1.1.5",
        "dst_port": 445,
        "bytes_out": 10,
    }


def test_csv_with_quoted_newline_and_a_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "assets.csv"
    path.write_text(
        "timestamp,host,note\n"
        '2024-03-03T12:00:00Z,pacs01,"imaging, radiology"\n'
        "2024-03-03T12:01:00Z,too,many,columns\n"
        '2024-03-03T12:02:00Z,ehr01,"multi\nline"\n'
    )
    events, issues = read_all(path)
    assert [(e.record, e.fields["host"], e.fields["note"]) for e in events] == [
        (2, "pacs01", "imaging, radiology"),
        (4, "ehr01", "multi\nline"),
    ]
    assert [(i.location, i.reason) for i in issues] == [
        (f"{path}:3", "4 columns for a 3-column header")
    ]


# JSON shapes ----------------------------------------------------------------------------------


def test_json_lines_skip_only_the_malformed_line(tmp_path: Path) -> None:
    path = tmp_path / "app.jsonl"
    path.write_text('{"a": 1}\n{"a": 2, broken\n{"a": {"b": [1, 2], "c": [{"d": 3}]}}\n')
    events, issues = read_all(path)
    assert [(e.record, e.fields) for e in events] == [
        (1, {"a": 1}),
        (3, {"a.b": [1, 2], "a.c.0.d": 3}),
    ]
    assert len(issues) == 1 and issues[0].location == f"{path}:2"
    assert issues[0].reason.startswith("malformed JSON")


def test_pretty_printed_documents_and_arrays(tmp_path: Path) -> None:
    docs = tmp_path / "docs.json"
    docs.write_text('{\n  "x": "{not a brace}",\n  "n": 1\n}\n{\n  "n": 2\n}\n')
    array = tmp_path / "array.json"
    array.write_text('[\n  {\n    "n": 1\n  },\n  {\n    "n": 2, "s": "]"\n  }\n]\n')
    assert [(e.record, e.fields["n"]) for e in read_all(docs)[0]] == [(1, 1), (5, 2)]
    events, issues = read_all(array)
    assert issues == []
    assert [(e.record, e.fields["n"]) for e in events] == [(2, 1), (5, 2)]


def test_winlogbeat_maps_to_the_evtx_names() -> None:
    events, issues = read_all(CORPUS / "winlogbeat.json")
    assert issues == []
    fields = events[0].fields
    expected = {
        "EventID": 4688,
        "Channel": "Security",
        "Computer": "ws01.hosp.local",
        "Provider_Name": "Microsoft-Windows-Security-Auditing",
        "EventRecordID": 91234,
        "ProcessID": 4,
        "ThreadID": 88,
        "Level": 4,
        "CommandLine": "cmd.exe /c whoami",
    }
    assert subset(fields, expected) == expected
    assert "winlog.event_data.CommandLine" not in fields
    assert fields["host.name"] == "ws01.hosp.local"


# Hostile input ------------------------------------------------------------------------------


def test_over_long_line_is_skipped_and_reading_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    with path.open("wb") as out:
        out.write(b"Mar  3 12:00:00 h a: first\n")
        out.write(b"x" * (LINE_CAP + 10) + b"\n")
        out.write(b"Mar  3 12:00:01 h a: last\n")
    events, issues = read_all(path)
    assert [e.fields["message"] for e in events] == ["first", "last"]
    assert [(i.location, i.reason) for i in issues] == [
        (f"{path}:2", f"line longer than {LINE_CAP} bytes, skipped")
    ]


def test_invalid_utf8_is_repaired_kept_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.log"
    path.write_bytes(b"Mar  3 12:00:00 h sshd[1]: user \xff\xferoot\n")
    events, issues = read_all(path)
    assert events[0].fields["message"] == "user \ufffd\ufffdroot"
    assert len(issues) == 1 and "invalid UTF-8" in issues[0].reason
    assert issues[0].location == f"{path}:1"


def test_binary_garbage_lines_in_a_log_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "mixed.log"
    path.write_bytes(
        b"Mar  3 12:00:00 h a: ok\n\x00\x01\x02\x03garbage\x00\nMar  3 12:00:01 h a: ok2\n"
    )
    events, issues = read_all(path)
    assert [e.record for e in events] == [1, 3]
    assert [i.location for i in issues] == [f"{path}:2"]
    assert "binary" in issues[0].reason


def test_binary_file_is_one_file_issue(tmp_path: Path) -> None:
    path = tmp_path / "blob.log"
    path.write_bytes(bytes(range(256)) * 64)
    assert sniff_format(path) == "binary"
    events, issues = read_all(path)
    assert events == [] and [i.kind for i in issues] == ["file"]


def test_plain_text_is_read_only_when_named_as_a_log(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("starting service\nservice crashed\n")
    readme = tmp_path / "README.md"
    readme.write_text("This folder holds logs.\n")
    assert [e.fields["message"] for e in read_all(log)[0]] == [
        "starting service",
        "service crashed",
    ]
    events, issues = read_all(readme)
    assert events == [] and issues[0].kind == "file" and "skipped" in issues[0].reason


# Archives and directories --------------------------------------------------------------------


def test_gzip_bzip2_and_zip_read_transparently(tmp_path: Path) -> None:
    text = (CORPUS / "firewall.log").read_bytes()
    (tmp_path / "fw.log.gz").write_bytes(gzip.compress(text))
    (tmp_path / "fw.log.bz2").write_bytes(bz2.compress(text))
    plain = read_all(CORPUS / "firewall.log")[0]
    for name in ("fw.log.gz", "fw.log.bz2"):
        events, issues = read_all(tmp_path / name)
        assert issues == []
        assert [e.fields for e in events] == [e.fields for e in plain]
        assert {e.source for e in events} == {str(tmp_path / name)}


def test_zip_member_sources_and_counts(tmp_path: Path) -> None:
    text = (CORPUS / "firewall.log").read_bytes()
    with zipfile.ZipFile(tmp_path / "logs.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("fw/fw.log", text)
        archive.writestr("conn.log", (CORPUS / "conn.log").read_bytes())
    events = [e for b in read_file(tmp_path / "logs.zip") for e in b.events]
    by_source: dict[str, int] = {}
    for event in events:
        by_source[event.source] = by_source.get(event.source, 0) + 1
    assert by_source == {
        f"{tmp_path / 'logs.zip'}!fw/fw.log": len(text.splitlines()),
        f"{tmp_path / 'logs.zip'}!conn.log": 2,
    }


@pytest.mark.corpus
def test_evtx_inside_nested_zip(tmp_path: Path, shared_data: Path) -> None:
    evtx_file = next((shared_data / "evtx" / "mitre").rglob("*.evtx"))
    inner = tmp_path / "inner.zip"
    with zipfile.ZipFile(inner, "w") as archive:
        archive.write(evtx_file, "host1/Security.evtx")
    outer = tmp_path / "outer.zip"
    with zipfile.ZipFile(outer, "w") as archive:
        archive.write(inner, "inner.zip")
    direct = [e for b in read_file(evtx_file) for e in b.events]
    nested = [e for b in read_file(outer) for e in b.events]
    assert [e.fields for e in nested] == [e.fields for e in direct]
    assert {e.source for e in nested} == {f"{outer}!inner.zip!host1/Security.evtx"}


def test_truncated_gzip_keeps_what_was_read(tmp_path: Path) -> None:
    lines = b"".join(b"Mar  3 12:00:%02d h a: line %d\n" % (i % 60, i) for i in range(5000))
    data = gzip.compress(lines)
    path = tmp_path / "cut.log.gz"
    path.write_bytes(data[: len(data) // 2])
    events, issues = read_all(path)
    assert 0 < len(events) < 5000
    assert [e.record for e in events] == list(range(1, len(events) + 1))
    assert issues[-1].kind == "file" and "read stopped" in issues[-1].reason


def test_corrupt_zip_is_a_file_issue(tmp_path: Path) -> None:
    path = tmp_path / "bad.zip"
    path.write_bytes(b"PK\x03\x04" + os.urandom(300))
    events, issues = read_all(path)
    assert events == [] and issues and issues[0].kind == "file"


def test_expand_paths_walks_sorted_and_keeps_missing(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "z.log").write_text("x\n")
    (tmp_path / "a.log").write_text("x\n")
    (tmp_path / "b" / "c.log.gz").write_bytes(gzip.compress(b"x\n"))
    missing = tmp_path / "nope.log"
    assert expand_paths([tmp_path, missing]) == [
        tmp_path / "a.log",
        tmp_path / "b" / "c.log.gz",
        tmp_path / "b" / "z.log",
        missing,
    ]
    batches = list(read_paths([missing]))
    assert [(b.events, [i.kind for i in b.issues]) for b in batches] == [([], ["file"])]


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        (b"ElfFile\x00" + bytes(100), "x.bin", "evtx"),
        (b"\x1f\x8b\x08\x00", "x", "gzip"),
        (b"BZh91AY", "x", "bzip2"),
        (b"PK\x03\x04", "x", "zip"),
        (b"#separator \\x09\n#fields\tts\n", "x", "zeek"),
        (b'{"a": 1}\n', "x.log", "jsonl"),
        (b"<13>Mar  3 12:00:00 h a: b\n", "x.txt", "syslog"),
        (b"2024-03-03T12:00:00Z host prog: b\n", "x", "syslog"),
        (b"CEF:0|a|b|c|d|e|f|src=1.2.3.4\n", "x", "cef"),
        (b"a=1 b=2 c=3\n", "x", "kv"),
        (b"a,b,c\n1,2,3\n4,5,6\n", "x", "csv"),
        (b"hello world\n", "x.log", "text"),
        (b"", "x.log", "empty"),
        (b"\x00\x01\x02" * 100, "x.log", "binary"),
    ],
)
def test_sniff_format_by_content(tmp_path: Path, content: bytes, name: str, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert sniff_format(path) == expected


def test_csv_invalid_utf8_is_kept_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "assets.csv"
    path.write_bytes(b"host,owner\npacs01,radiolog\xe9\n")
    events, issues = read_all(path)
    assert events[0].fields == {"host": "pacs01", "owner": "radiolog\ufffd"}
    assert [(i.location, "invalid UTF-8" in i.reason) for i in issues] == [(f"{path}:2", True)]


def test_oversized_spooled_member_is_skipped(tmp_path: Path) -> None:
    """A member that must go to disk (an archive in an archive) stops at the spool cap."""
    import sentinelle.readers as readers

    inner = tmp_path / "inner.zip"
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("a.log", b"Mar  3 12:00:00 h a: x\n" * 500)
    outer = tmp_path / "outer.zip"
    with zipfile.ZipFile(outer, "w") as archive:
        archive.write(inner, "inner.zip")
    events, issues = [], []
    for batch in readers.read_file(outer, limits=readers.ReadLimits(max_spool_bytes=1000)):
        events += batch.events
        issues += batch.issues
    assert events == []
    assert [(i.location, i.kind) for i in issues] == [(f"{outer}!inner.zip", "file")]
    assert "spool budget" in issues[0].reason


def test_special_files_are_reported_not_read(tmp_path: Path) -> None:
    """A FIFO in a collected tree would block a naive reader forever."""
    fifo = tmp_path / "pipe.log"
    os.mkfifo(fifo)
    (tmp_path / "ok.log").write_text("Mar  3 12:00:00 h a: x\n")
    assert expand_paths([tmp_path]) == [tmp_path / "ok.log", fifo]
    batches = list(read_paths([tmp_path]))
    assert sum(len(b.events) for b in batches) == 1
    issues = [i for b in batches for i in b.issues]
    assert [(i.location, i.kind) for i in issues] == [(str(fifo), "file")]
    assert "not a regular file" in issues[0].reason
    dir_issues = [i for b in read_file(tmp_path) for i in b.issues]
    assert [i.reason for i in dir_issues] == ["is a directory"]
