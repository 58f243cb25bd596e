"""A corpus sent through ``sentinelle serve`` (its watched folder) and hunted by ``sentinelle
hunt`` over the same files, with every SigmaHQ Windows rule: the same detections."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import BinaryIO

import orjson
import pytest
from typer.testing import CliRunner

from sentinelle.cli.main import app
from sentinelle.service.ids import alert_id
from sentinelle.service.journal import JournalReader
from tests.service.test_serve import Served

pytestmark = [pytest.mark.corpus, pytest.mark.slow, pytest.mark.network]
TACTICS = ("TA0006-Credential Access", "TA0008-Lateral Movement")


class FolderService(Served):
    """``sentinelle serve`` watching a folder (set in a config file)."""

    def __init__(self, data: Path, rules: Path, config: Path) -> None:
        super().__init__(data, rules)
        self.config = config

    def _spawn(self, env: dict[str, str], log: BinaryIO) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                *(sys.executable, "-m", "sentinelle.cli.main", "serve", "--config"),
                *(str(self.config), "--data-dir", str(self.data)),
                *("--http", f"127.0.0.1:{self.port}", "--syslog-udp", "off"),
                *("--syslog-tcp", "off", "--netflow", "off", "--rules", str(self.rules)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=env,
        )


def test_the_service_and_the_hunt_find_the_same_detections(
    tmp_path: Path, shared_data: Path
) -> None:
    rules = shared_data / "sigma" / "rules" / "windows"
    drop = tmp_path / "drop"
    for tactic in TACTICS:
        shutil.copytree(shared_data / "evtx" / "mitre" / tactic, drop / tactic)
    files = sorted(drop.rglob("*.evtx"))
    assert files
    config = tmp_path / "serve.yml"
    config.write_text(
        f"watch_folder: {drop}\ninputs:\n  folder_poll_seconds: 0.2\n  folder_stable_seconds: 0.1\n"
    )
    data = tmp_path / "data"
    service = FolderService(data, rules, config)
    try:
        service.start()
        deadline = time.monotonic() + 600

        def read_files() -> int:
            with sqlite3.connect(data / "sentinelle.db", timeout=30) as conn:
                return int(
                    conn.execute(
                        "SELECT count(*) FROM pipeline_ingestedfile WHERE state = 'done'"
                    ).fetchone()[0]
                )

        while read_files() < len(files) or service.position() < last_seq(data):
            assert time.monotonic() < deadline, f"{read_files()} of {len(files)} files read"
            time.sleep(0.5)
    finally:
        if service.proc is not None:
            service.proc.terminate()
            service.proc.wait(timeout=120)

    out = tmp_path / "hunt.jsonl"
    done = CliRunner().invoke(
        app, ["hunt", str(drop), "-r", str(rules), "-o", str(out), "-q", "--no-model"]
    )
    assert done.exit_code in (0, 2), done.output  # 2: some SigmaHQ rules do not load
    ids = {e.record.key: e.record.event_id for e in JournalReader(data / "journal").iter_records()}
    hunted = set()
    for line in out.read_text().splitlines():
        det = orjson.loads(line)
        if det.get("rule_type", "detection") == "detection":
            hunted.add(alert_id(det["rule_id"], ids[det["source"]]))
    with sqlite3.connect(data / "sentinelle.db", timeout=30) as conn:
        stored = {
            r[0] for r in conn.execute("SELECT id FROM alerts_alert WHERE rule_type = 'detection'")
        }
    assert len(hunted) > 50
    assert stored == hunted


def last_seq(data: Path) -> int:
    reader = JournalReader(data / "journal")
    try:
        return reader.last_seq()
    finally:
        reader.close()
