"""``sentinelle serve`` as a process: ready, killed with -9 and restarted without losing or
doubling an alert, and stopped by SIGTERM in its fixed order."""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import BinaryIO

import orjson
import pytest

from sentinelle.engine import load_compiled
from sentinelle.service.ids import alert_id
from sentinelle.service.journal import Journal, JournalLimits, JournalReader
from sentinelle.service.normalise import journal_batches
from sentinelle.service.records import Record, RecordKind
from sentinelle.service.runner import answers_ready
from tests.ports import free_port
from tests.service.test_detector import RULE

pytestmark = [pytest.mark.network, pytest.mark.slow]
EVENTS = 3_000


def record(n: int) -> Record:
    command = "mimikatz.exe" if n % 3 == 0 else "notepad.exe"
    doc = {
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "EventID": 1,
        "Computer": f"ws{n % 40:03d}",
        "CommandLine": f"{command} {n}",
        "@timestamp": f"2026-11-27T22:{n % 60:02d}:{n % 59:02d}Z",
    }
    return Record("http", "client", RecordKind.JSON, orjson.dumps(doc), 1_800_000_000.0, f"n{n}")


class Served:
    def __init__(self, data: Path, rules: Path) -> None:
        self.data, self.rules = data, rules
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data.parent / "serve.log"

    def start(self) -> None:
        env = {**os.environ, "SENTINELLE_LOG_LEVEL": "INFO"}
        with self.log.open("ab") as log:
            self.proc = self._spawn(env, log)
        deadline = time.monotonic() + 180  # generous: CI's two cores may be busy
        while not self.ready():
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, "service not ready in time"
            time.sleep(0.1)

    def _spawn(self, env: dict[str, str], log: BinaryIO) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sentinelle.cli.main",
                "serve",
                "--data-dir",
                str(self.data),
                "--http",
                f"127.0.0.1:{self.port}",
                "--syslog-udp",
                "off",
                "--syslog-tcp",
                "off",
                "--netflow",
                "off",
                "--rules",
                str(self.rules),
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=env,
        )

    def ready(self) -> bool:
        return answers_ready(f"http://127.0.0.1:{self.port}")

    def detector_pid(self, killed: set[int]) -> int:
        """The running detector's pid (waits for the supervisor to start a new one)."""
        deadline = time.monotonic() + 30
        while True:
            pids = re.findall(r"event=detector.spawned pid=(\d+)", self.log.read_text())
            if pids and int(pids[-1]) not in killed:
                return int(pids[-1])
            assert time.monotonic() < deadline, "the detector was not started again"
            time.sleep(0.05)

    def store_pid(self, detector: int) -> int:
        """The pid of the store process of the detector ``detector`` (waits for its start)."""
        deadline = time.monotonic() + 30
        while True:
            log = self.log.read_text()
            after = log[log.rindex(f"event=detector.spawned pid={detector}\n") :]
            found = re.search(r"event=detector.store_spawned pid=(\d+)", after)
            if found:
                return int(found.group(1))
            assert time.monotonic() < deadline, "the detector started no store process"
            time.sleep(0.05)

    def position(self) -> int:
        db = self.data / "sentinelle.db"
        try:
            with sqlite3.connect(db, timeout=10) as conn:
                row = conn.execute(
                    "SELECT position FROM pipeline_checkpoint WHERE name='detector'"
                ).fetchone()
        except sqlite3.OperationalError:
            return 0
        return int(row[0]) if row else 0

    def alerts(self) -> list[str]:
        with sqlite3.connect(self.data / "sentinelle.db", timeout=10) as conn:
            return [r[0] for r in conn.execute("SELECT id FROM alerts_alert")]


def test_kill_9_then_restart_loses_and_doubles_nothing(tmp_path: Path) -> None:
    """Its store process (storing the slice before the one being matched), the detector and
    the whole service, each killed twice at random moments: every event matched, no alert
    twice."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "dump.yml").write_text(RULE)
    data = tmp_path / "data"
    journal = Journal(data / "journal", JournalLimits(min_free_bytes=0))
    for start in range(0, EVENTS, 500):
        journal.submit([record(n) for n in range(start, start + 500)]).result(timeout=30)
    journal.close()

    served = Served(data, rules)
    rng = random.Random(18)
    killed: set[int] = set()
    try:
        served.start()
        for kill in range(6):
            time.sleep(rng.uniform(0.05, 0.6))
            if kill % 3 == 2:  # the whole service, as a power cut would
                assert served.proc is not None
                served.proc.kill()
                served.proc.wait()
                served.start()
            elif kill % 3 == 1:  # the detector alone: the supervisor starts it again
                pid = served.detector_pid(killed)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            else:  # its store process alone: the detector stops, and is started again
                detector = served.detector_pid(killed)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(served.store_pid(detector), signal.SIGKILL)
                killed.add(detector)
                served.detector_pid(killed)
        deadline = time.monotonic() + 240
        while served.position() < EVENTS:
            assert time.monotonic() < deadline, f"detector stuck at {served.position()}"
            time.sleep(0.2)
        # SIGTERM: drains and stops in order, exit status 0.
        assert served.proc is not None
        served.proc.send_signal(signal.SIGTERM)
        assert served.proc.wait(timeout=60) == 0
    finally:
        if served.proc is not None and served.proc.poll() is None:
            served.proc.kill()
            served.proc.wait()
    log = served.log.read_text()
    assert log.count("event=detector.died") >= 4
    order = [
        log.rindex(f"event={name}")
        for name in ("service.stopping", "journal.closed", "detector.stopped", "service.stopped")
    ]
    assert order == sorted(order)

    compiled = load_compiled([rules])
    ids = {e.seq: e.record.event_id for e in JournalReader(data / "journal").iter_records()}
    expected = {
        alert_id(det.rule_id, ids[det.event.record])
        for batch in journal_batches(data / "journal")
        for det in compiled.match_batch(batch)
        if det.event is not None
    }
    stored = served.alerts()
    assert len(expected) == EVENTS // 3
    assert len(stored) == len(set(stored)) == len(expected)
    assert set(stored) == expected


def token(data: Path, role: str) -> str:
    command = ["tokens", "create", "--data-dir", str(data), "--role", role, "--name", role]
    done = subprocess.run(
        [sys.executable, "-m", "sentinelle.cli.main", *command],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def post(url: str, secret: str, body: bytes = b"") -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Authorization": f"Bearer {secret}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status), orjson.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return int(refused.code), orjson.loads(refused.read() or b"{}")


def metrics(base: str) -> dict[str, float]:
    """``/metrics`` as ``{'name{label="value"}': value}``."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    shown: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            shown[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return shown


def test_rules_reloaded_through_the_api_switch_at_one_journal_position(tmp_path: Path) -> None:
    """An admin token asks for a reload; a rule added to the folder applies to every event
    after the switch position and to none before it; the old rule matched each event once.
    SIGHUP to the service asks for a reload too; /metrics counts what went through."""
    from tests.service.test_detector import LATERAL

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "dump.yml").write_text(RULE)
    data = tmp_path / "data"
    admin, ingest = token(data, "admin"), token(data, "ingest")
    served = Served(data, rules)

    def send(start: int) -> None:
        lines = []
        for n in range(start, start + 40):
            doc = orjson.loads(record(n).data)
            doc["CommandLine"] = f"mimikatz.exe psexec.exe {n}"
            lines.append(orjson.dumps(doc))
        status, answer = post(f"{base}/api/v1/events", ingest, b"\n".join(lines))
        assert (status, answer) == (200, {"accepted": 40})

    try:
        served.start()
        base = f"http://127.0.0.1:{served.port}"
        send(0)
        (rules / "lateral.yml").write_text(LATERAL)
        status, answer = post(f"{base}/api/v1/rules/reload", admin)
        assert status == 202 and answer["status"] == "requested"
        assert post(f"{base}/api/v1/rules/reload", ingest)[0] == 403
        deadline = time.monotonic() + 60
        while "event=detector.rules_switched" not in served.log.read_text():
            assert time.monotonic() < deadline, "the rules were not switched"
            time.sleep(0.1)
        send(40)
        while served.position() < 80:
            assert time.monotonic() < deadline + 60, f"detector at {served.position()}"
            time.sleep(0.1)
        # SIGHUP (systemctl reload) asks the same, with no rule changed for the folder's look.
        assert served.proc is not None
        served.proc.send_signal(signal.SIGHUP)
        while served.log.read_text().count("event=detector.rules_switched") < 2:
            assert served.proc.poll() is None, "SIGHUP stopped the service"
            assert time.monotonic() < deadline + 120, "SIGHUP did not reload the rules"
            time.sleep(0.1)
        assert served.proc.poll() is None
        # /metrics adds up the service's and the detector process's counters.
        while (shown := metrics(base))["sentinelle_journal_lag_records"] != 0:
            assert time.monotonic() < deadline + 150, f"journal lag {shown}"
            time.sleep(0.2)
        assert shown['sentinelle_input_events_total{input="http"}'] == 80
        assert shown["sentinelle_journal_accepted_records_total"] == 80
        assert shown["sentinelle_journal_bytes"] > 0
        assert shown["sentinelle_detector_records_total"] == 80
        assert shown['sentinelle_alerts_stored_total{level="high"}'] == 80
    finally:
        if served.proc is not None:
            served.proc.send_signal(signal.SIGTERM)
            served.proc.wait(timeout=60)
    switched = int(
        re.findall(r"event=detector.rules_switched position=(\d+)", served.log.read_text())[0]
    )
    assert 0 <= switched <= 40
    with sqlite3.connect(data / "sentinelle.db") as conn:
        rows = conn.execute("SELECT rule_id, event_id FROM alerts_alert").fetchall()
    ids = {e.seq: e.record.event_id for e in JournalReader(data / "journal").iter_records()}
    by_rule: dict[str, set[str]] = {}
    for rule_id, event_id in rows:
        by_rule.setdefault(rule_id, set()).add(event_id)
    assert len(rows) == sum(len(v) for v in by_rule.values())  # nothing twice
    assert by_rule["5f0a8c3e-0000-4000-8000-000000000001"] == set(ids.values())
    after = {ids[seq] for seq in ids if seq > switched}
    assert by_rule["5f0a8c3e-0000-4000-8000-000000000003"] == after
