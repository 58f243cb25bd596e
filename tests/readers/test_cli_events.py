"""``sentinelle events``: the normalised events as JSON lines or a table, problems on stderr."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

CORPUS = Path(__file__).parent / "corpus"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sentinelle.cli.main", "events", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_jsonl_shows_the_field_names_rules_see() -> None:
    out = run(str(CORPUS / "conn.log"), "--limit", "1")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 1
    record = orjson.loads(lines[0])
    assert record["source"] == f"{CORPUS / 'conn.log'}#8"
    assert record["timestamp"] == "2024-03-03T12:00:00.123456Z"
    assert record["fields"]["src_ip"] == "10.1.1.5" and record["fields"]["dst_port"] == 445
    assert list(record) == sorted(record)  # stable output: sorted keys


def test_table_lists_events_and_problems_go_to_stderr(tmp_path: Path) -> None:
    log = tmp_path / "mixed.log"
    log.write_bytes(b"Mar  3 12:00:00 pacs sshd[7]: Failed password\n\x00\x01\x02junk\n")
    out = run(str(log), str(tmp_path / "missing.log"), "--format", "table")
    assert "program = sshd" in out.stdout and "message = Failed password" in out.stdout
    assert f"warning: {log}:2: binary data" in out.stderr
    assert f"warning: {tmp_path / 'missing.log'}: cannot read" in out.stderr
    assert out.returncode == 1  # one file could not be read at all
    assert "Traceback" not in out.stderr
