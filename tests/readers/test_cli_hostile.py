"""End to end: ``events`` and ``hunt`` finish (exit 0) on logs holding times and numbers at the
edge of their types, and the hunt still reports the detections of every record."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

RULE = """\
title: Connection marker
id: 6f1d1a3e-8a1b-4c7e-9d1e-000000000001
status: test
logsource:
    product: zeek
    service: conn
detection:
    selection:
        uid|startswith: 'C'
    condition: selection
level: high
"""
ZEEK = (
    "#separator \\x09\n#path\tconn\n#fields\tts\tuid\tid.orig_h\torig_bytes\n"
    "#types\ttime\tstring\taddr\tcount\n"
    "1e300\tC1\t10.0.0.1\t5\n"
    "1700000000.0\tC2\t10.0.0.2\t100000000000000000000000\n"
    "1700000000.0\tC3\t10.0.0.3\tabc\n"
    "-1e300\tC4\t10.0.0.4\t1\n"
    "1700000001.0\tC5\t10.0.0.5\t9\n"
)
JSON_LINES = [
    {"_path": "conn", "uid": "C6", "ts": "99999-01-01T00:00:00Z"},
    {"_path": "conn", "uid": "C7", "ts": "0000-01-01T00:00:00Z", "orig_bytes": 10**22},
    {"_path": "conn", "uid": "C8", "ts": 1e300},
    {"_path": "conn", "uid": "C9", "ts": 1700000002.0, "orig_bytes": 18446744073709551615},
]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    (root / "logs").mkdir()
    (root / "logs" / "conn.log").write_text(ZEEK)
    (root / "logs" / "conn.json").write_bytes(
        "".join(json.dumps(line) + "\n" for line in JSON_LINES).encode()
        + b'{"_path": "conn", "uid": "C10", "ts": 1700000003.0, "orig_bytes": 1e400}\n'
    )
    (root / "rules").mkdir()
    (root / "rules" / "conn.yml").write_text(RULE)
    return root


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SENTINELLE_CACHE_DIR": str(root / "cache"),
        "SENTINELLE_DATA_DIR": str(root / "data"),
        "SENTINELLE_CONFIG_DIR": str(root / "config"),
    }
    return subprocess.run(
        [sys.executable, "-m", "sentinelle.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )


@pytest.mark.parametrize("fmt", ["jsonl", "table"])
def test_events_lists_every_record(hostile: Path, fmt: str) -> None:
    out = run(hostile, "events", str(hostile / "logs"), "-f", fmt)
    assert out.returncode == 0, out.stderr
    assert "internal error" not in out.stderr and "Traceback" not in out.stderr
    for uid in range(1, 10):
        assert f"C{uid}" in out.stdout
    assert f"{hostile / 'logs' / 'conn.log'}:5: timestamp unreadable" in out.stderr
    assert f"{hostile / 'logs' / 'conn.log'}:7: values not of their column's type" in out.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("-f", "jsonl"),
        ("-f", "csv"),
        ("-f", "table"),
        ("-f", "timesketch"),
        ("-f", "jsonl", "--since", "2020-01-01", "--until", "2030-01-01"),
        ("-f", "jsonl", "--html", "report.html", "--attack-layer", "layer.json"),
    ],
)
def test_hunt_reports_every_detection(hostile: Path, tmp_path: Path, args: tuple[str, ...]) -> None:
    extra = [str(tmp_path / a) if a.endswith((".html", ".json")) else a for a in args]
    out = run(
        hostile, "hunt", str(hostile / "logs"), "-r", str(hostile / "rules"), *extra, "-j", "1"
    )
    assert out.returncode == 0, out.stderr
    assert "internal error" not in out.stderr and "Traceback" not in out.stderr
    if "table" in args:  # the table shows a digest of each event: count its summary's
        assert re.search(r"Detections\s+10\b", out.stdout + out.stderr), out.stdout
        return
    timed = ["C2", "C3", "C5", "C9", "C10"]  # the others have no readable time
    shown = [f"C{n}" for n in range(1, 11) if re.search(rf"\bC{n}\b", out.stdout)]
    if "--since" in args or "timesketch" in args:  # Timesketch takes timed events only
        assert shown == timed
    else:
        assert len(shown) == 10
