"""``sentinelle hunt`` writing CSV or JSON straight to a terminal (a pseudo-terminal here): text
from the logs is shown through ``terminal.printable``, never sent raw (issue 20)."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hunt.helpers import hunt_env

RULE = """title: Whoami Run
id: 5d0b7bd4-6a3c-4d3e-9a44-0c0c8b8a1f01
status: test
logsource: {product: windows, category: process_creation}
detection:
    selection: {Image|endswith: '\\\\whoami.exe'}
    condition: selection
level: high
"""
# A window title, a bell and a right-to-left override, as a log line can carry them.
HOSTILE = "whoami \x1b]0;owned\x07 \u202eexe.tab"


def _on_a_terminal(args: list[str], env: dict[str, str]) -> bytes:
    """What the command writes to standard output when that is a terminal."""
    main, child = pty.openpty()
    proc = subprocess.Popen(args, stdout=child, stderr=subprocess.DEVNULL, env=env)
    os.close(child)
    out = b""
    while True:
        ready, _, _ = select.select([main], [], [], 60)
        if not ready:
            proc.kill()
            pytest.fail("no output from the command on its terminal within 60 s")
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the terminal closed: the command ended
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=60)
    os.close(main)
    assert proc.returncode == 0
    return out


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "timesketch"])
def test_log_text_reaches_a_terminal_escaped(tmp_path: Path, fmt: str) -> None:
    log = tmp_path / "sysmon.jsonl"
    event = {
        "timestamp": "2026-11-27T22:10:00Z",
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "EventID": 1,
        "Computer": "PC-RADIO-01",
        "Image": "C:\\Windows\\System32\\whoami.exe",
        "CommandLine": HOSTILE,
    }
    log.write_text(json.dumps(event) + "\n", encoding="utf-8")
    rule = tmp_path / "whoami.yml"
    rule.write_text(RULE, encoding="utf-8")
    env = hunt_env(tmp_path / "home")
    args = [sys.executable, "-m", "sentinelle.cli.main", "hunt", str(log)]
    out = _on_a_terminal([*args, "--rules", str(rule), "-f", fmt, "-q"], env)
    text = out.decode("utf-8")
    assert "whoami" in text and "PC-RADIO-01" in text  # the detection is there
    for raw in ("\x1b]0;owned", "\x07", "\u202e"):
        assert raw not in text, (fmt, text)
    if fmt == "csv":
        assert "\\x1b]0;owned\\x07 \\u202eexe.tab" in text
    else:  # still JSON: the escapes mean the same characters
        line = next(ln for ln in text.splitlines() if ln.startswith("{"))
        record = json.loads(line)
        fields = record["event"] if fmt == "jsonl" else record
        assert fields["CommandLine"] == HOSTILE
