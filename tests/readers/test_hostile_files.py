"""Files an attacker shapes so a reader would pass them over: each is read as its text format
(its bad lines cost only themselves) or reported with the reason, never skipped in silence."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sentinelle.events import Event, ReadIssue
from sentinelle.readers import read_file, read_stream, sniff_format
from sentinelle.readers.lines import LINE_CAP
from tests.readers.helpers import HEADER

ATTACK = "Mar  3 12:00:00 pacs sshd[7]: Failed password for admin from 192.0.2.9 port 22\n"


def read_all(path: Path) -> tuple[list[Event], list[ReadIssue]]:
    events: list[Event] = []
    issues: list[ReadIssue] = []
    for batch in read_file(path):
        events += batch.events
        issues += batch.issues
    return events, issues


@pytest.mark.parametrize("control", [b"\x01", b"\x07", b"\x00"])
def test_a_control_byte_on_the_first_line_costs_only_that_line(
    tmp_path: Path, control: bytes
) -> None:
    log = tmp_path / "auth.log"
    log.write_bytes(b"Mar  3 11:59:59 pacs kernel: " + control + b"junk\n" + ATTACK.encode() * 3)
    assert sniff_format(log) == "syslog"
    events, issues = read_all(log)
    assert [e.record for e in events] == [2, 3, 4]
    assert events[0].fields["program"] == "sshd"
    assert [(i.location, i.kind) for i in issues] == [(f"{log}:1", "record")]


def test_most_lines_holding_control_bytes_still_read_the_others(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    bad = b"Mar  3 11:59:59 pacs kernel: \x07bell\n"
    log.write_bytes(bad * 150 + ATTACK.encode() * 50)
    assert sniff_format(log) == "syslog"
    events, issues = read_all(log)
    assert len(events) == 50 and events[0].record == 151
    assert sum(1 for i in issues if "binary data" in i.reason) == 150  # counted, not listed


def test_binary_content_is_still_reported_as_binary(tmp_path: Path) -> None:
    blob = tmp_path / "core"
    blob.write_bytes(bytes(range(256)) * 300)
    _, issues = read_all(blob)
    assert [(i.kind, i.reason) for i in issues] == [
        ("file", "binary content of no supported format")
    ]


@pytest.mark.parametrize("blank", [b"\n" * 70_000, b" \n\t\n" * 30_000, b" " * 200_000 + b"\n"])
def test_blank_lines_before_the_attack_are_passed_over(tmp_path: Path, blank: bytes) -> None:
    log = tmp_path / "auth.log"
    log.write_bytes(blank + ATTACK.encode())
    assert sniff_format(log) == "syslog"
    events, issues = read_all(log)
    assert issues == []
    assert len(events) == 1 and events[0].record == blank.count(b"\n") + 1  # its true line


def test_blank_lines_before_the_attack_in_a_stream(tmp_path: Path) -> None:
    import io

    data = b"\n" * 100_000 + ATTACK.encode()
    events = [e for b in read_stream(io.BytesIO(data), "<pipe>") for e in b.events]
    assert [e.record for e in events] == [100_001]


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "empty: no bytes"), (b"\n \n\t\n" * 30_000, "only blank lines: no text to read")],
)
def test_an_empty_or_blank_file_is_reported(tmp_path: Path, content: bytes, reason: str) -> None:
    log = tmp_path / "auth.log"
    log.write_bytes(content)
    events, issues = read_all(log)
    assert events == []
    assert [(i.location, i.reason, i.kind) for i in issues] == [(str(log), reason, "file")]


def test_a_csv_header_over_the_line_cap_refuses_the_file(tmp_path: Path) -> None:
    log = tmp_path / "export.csv"
    log.write_text("a," * (LINE_CAP // 2 + 10) + "b\nuser,host\nadmin,pacs\n")
    events, issues = read_all(log)
    assert events == []  # "user,host" is not taken for the header
    assert [(i.location, i.kind) for i in issues] == [(f"{log}:1", "file")]
    assert "CSV header unreadable" in issues[0].reason


def test_escape_sequences_never_reach_the_terminal(tmp_path: Path) -> None:
    name = tmp_path / "evil\x1b]0;pwned\x07.log"
    name.write_bytes(b"\x1b[2J\x1b]8;;http://x\x07click\x1b]8;;\x07 \xe2\x80\xae gnp.exe\n")
    missing = tmp_path / "gone\x1b[31m.log"
    for fmt in ("table", "jsonl"):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "sentinelle.cli.main",
                "events",
                str(name),
                str(missing),
                "-f",
                fmt,
            ],
            capture_output=True,
            check=False,
            timeout=120,
        )
        assert b"\x1b" not in out.stdout and b"\x07" not in out.stdout, fmt
        assert b"\x1b" not in out.stderr and b"\x07" not in out.stderr
        assert b"gone\\x1b[31m.log" in out.stderr
    assert "\x1b" not in "".join(i.location + i.reason for i in read_all(missing)[1])


@pytest.mark.corpus
def test_exit_status_is_one_rule_for_files_and_chunks(
    multi_chunk_evtx: Path, tmp_path: Path
) -> None:
    data = bytearray(multi_chunk_evtx.read_bytes())
    data[HEADER : HEADER + 8] = b"XXXXXXXX"  # the first chunk's signature: that chunk is lost
    evtx = tmp_path / "damaged.evtx"
    evtx.write_bytes(bytes(data))
    good = tmp_path / "ok.log"
    good.write_text(ATTACK + "Mar  3 12:00:01 pacs kernel: \x07bell\n")

    def status(*paths: Path) -> int:
        return subprocess.run(
            [sys.executable, "-m", "sentinelle.cli.main", "events", *map(str, paths)],
            capture_output=True,
            check=False,
            timeout=120,
        ).returncode

    assert status(good) == 0  # a skipped record is reported, the file was read
    assert status(evtx) == 1  # a chunk lost, as a file lost
    assert status(good, tmp_path / "missing.log") == 1


@pytest.mark.corpus
def test_evtx_is_read_under_an_address_space_limit_below_the_workers_cap(
    multi_chunk_evtx: Path,
) -> None:
    # ulimit -v 1.5 GiB: the worker must take that limit, not try to raise it to its 2 GiB cap.
    script = (
        "import resource, sys\n"
        "limit = 1536 << 20\n"
        "resource.setrlimit(resource.RLIMIT_AS, (limit, limit))\n"
        "from sentinelle.readers import read_file\n"
        "events = issues = 0\n"
        "for batch in read_file(sys.argv[1]):\n"
        "    events += len(batch.events)\n"
        "    issues += len(batch.issues)\n"
        "    for issue in batch.issues: print(issue, file=sys.stderr)\n"
        "print(events, issues)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(multi_chunk_evtx)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    events, issues = map(int, out.stdout.split())
    assert events > 0 and issues == 0, out.stderr
