"""The end of a ``sentinelle`` process (``sentinelle.cli.ending``): a hunt's process ends
without freeing what the hunt left, after its exit handlers and with its output flushed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sentinelle.cli import ending
from tests.hunt.helpers import ENCODED_POWERSHELL, hunt_env, security_4688

# The command in its own process, with an exit handler of its caller's (as the bench's):
# the handler must still run, and after the command's own.
_DRIVER = """
import atexit, pathlib, runpy, sys
marker = pathlib.Path(sys.argv[1])
atexit.register(marker.write_text, "ran")
sys.argv = ["sentinelle", *sys.argv[2:]]
runpy.run_module("sentinelle.cli.main", run_name="__main__", alter_sys=True)
"""


def test_a_hunt_ends_with_its_status_whole_output_and_exit_handlers(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "encoded.yml").write_text(ENCODED_POWERSHELL)
    log = tmp_path / "security.jsonl"
    # Enough detections that the timeline outgrows the pipe's buffer and stdout's own.
    events = [security_4688(i, "ws-01", f"powershell.exe -enc {'A' * 200}{i}") for i in range(2000)]
    log.write_text("".join(json.dumps(e) + "\n" for e in events))
    marker = tmp_path / "atexit-ran"
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER, str(marker), "hunt", str(log), "--rules", str(rules),
         "-f", "jsonl", "--fail-on", "high", "-q"],
        capture_output=True, text=True, env=hunt_env(tmp_path), timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr  # --fail-on high matched
    lines = proc.stdout.splitlines()
    assert len(lines) == 2000
    assert all(json.loads(line)["rule_title"] == "Encoded PowerShell" for line in lines)
    assert marker.read_text() == "ran"


def test_nothing_is_left_outside_a_sentinelle_process() -> None:
    # Commands driven in-process (CliRunner) never reach ``main``: what they leave is not kept.
    ending.leave_at_exit(object())
    assert not ending.anything_left()
