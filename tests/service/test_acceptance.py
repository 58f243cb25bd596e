"""Issue 18's acceptance, with real clients: numbered events sent by rsyslog (over RELP) and by
HTTP clients while ``sentinelle serve`` is killed with ``kill -9`` at random moments, twenty
times, and started again. Every event a client saw accepted (an HTTP 200; for rsyslog, its queue
drained: RELP answers only what is durable) is in the journal and was matched; no alert twice;
the alerts equal a hunt of the journal. Then a full disk: 503, nothing accepted lost, and the
service resumes alone when space returns."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import orjson
import pytest
from typer.testing import CliRunner

from sentinelle.cli.main import app
from sentinelle.readers.syslog import YearGuess, parse_syslog
from sentinelle.service.ids import alert_id
from sentinelle.service.journal import JournalReader
from tests.ports import free_port
from tests.service.rsyslog import Rsyslog, needs_relp, numbered_lines
from tests.service.test_detector import RULE
from tests.service.test_serve import Served, token

pytestmark = [pytest.mark.network, pytest.mark.slow]

KILLS = 20
LINE_RULE = """
title: Failed logon reported by an application
id: 5f0a8c3e-0000-4000-8000-000000000018
status: test
level: low
logsource: {product: linux}
detection:
  selection: {message|contains: 'result=failure'}
  condition: selection
"""


class Service(Served):
    """``sentinelle serve`` with HTTP and RELP listeners (and a config file, if given)."""

    def __init__(self, data: Path, rules: Path, config: Path | None = None) -> None:
        super().__init__(data, rules)
        self.relp = free_port()
        self.config = config

    def _spawn(self, env: dict[str, str], log: BinaryIO) -> subprocess.Popen[bytes]:
        extra = ["--config", str(self.config)] if self.config is not None else []
        return subprocess.Popen(
            [sys.executable, "-m", "sentinelle.cli.main", "serve", *extra, *self.options()],
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=env,
        )

    def options(self) -> list[str]:
        return [
            *("--data-dir", str(self.data), "--http", f"127.0.0.1:{self.port}"),
            *("--syslog-relp", f"127.0.0.1:{self.relp}", "--syslog-udp", "off"),
            *("--syslog-tcp", "off", "--netflow", "off", "--rules", str(self.rules)),
        ]

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return 0 if self.proc is None else int(self.proc.returncode)
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=90)


def event(n: int) -> bytes:
    command = "mimikatz.exe" if n % 3 == 0 else "notepad.exe"
    return orjson.dumps(
        {
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "EventID": 1,
            "Computer": f"ws{n % 40:03d}",
            "CommandLine": f"{command} {n}",
            "Number": n,
            "@timestamp": f"2026-11-27T22:{n % 60:02d}:{n % 59:02d}Z",
        }
    )


class HttpClient(threading.Thread):
    """A log shipper: batches of numbered events, each sent until it is answered 200 (a
    connection refused, a reset or a 503 means: later); what was answered is remembered."""

    def __init__(self, port: Callable[[], int], secret: str, first: int, batches: int) -> None:
        super().__init__(daemon=True)
        self.port, self.secret, self.first, self.batches = port, secret, first, batches
        self.accepted: set[int] = set()
        self.attempts = 0
        self.last = 0  # the last answer's status (0: no answer)
        self.stop = threading.Event()

    def run(self) -> None:
        for b in range(self.batches):
            numbers = range(self.first + b * 50, self.first + (b + 1) * 50)
            body = b"\n".join(event(n) for n in numbers)
            while not self.stop.is_set():
                self.attempts += 1
                if self.send(body):
                    self.accepted.update(numbers)
                    break
                time.sleep(0.1)
            time.sleep(random.uniform(0.2, 1.0))  # spread over the kills

    def send(self, body: bytes) -> bool:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port()}/api/v1/events",
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {self.secret}"},
        )
        self.last = 0
        try:
            with urllib.request.urlopen(request, timeout=20) as answer:
                self.last = int(answer.status)
                return bool(answer.status == 200)
        except urllib.error.HTTPError as refused:
            self.last = int(refused.code)
            return False
        except (OSError, ValueError):
            return False


def journal_numbers(data: Path) -> tuple[dict[int, set[int]], dict[int, str]]:
    """Event numbers in the journal by kind (1: HTTP, 2: rsyslog) -> seqs; seq -> event id."""
    by: dict[int, set[int]] = {1: set(), 2: set()}
    ids: dict[int, str] = {}
    for entry in JournalReader(data / "journal").iter_records():
        ids[entry.seq] = entry.record.event_id
        if entry.record.input == "http":
            by[1].add(int(orjson.loads(entry.record.data)["Number"]))
        elif entry.record.input == "syslog-relp":
            fields, _, _ = parse_syslog(entry.record.data.decode(), YearGuess())
            by[2].add(int(fields["message"].split()[1]))
    return by, ids


def wait_for(what: str, check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "dump.yml").write_text(RULE)
    (folder / "line.yml").write_text(LINE_RULE)
    return folder


@contextlib.contextmanager
def stopped_at_the_end(service: Service) -> Iterator[Service]:
    try:
        yield service
    finally:
        if service.proc is not None and service.proc.poll() is None:
            service.kill9()


@needs_relp
def test_kill_9_twenty_times_loses_nothing_accepted_and_doubles_no_alert(
    tmp_path: Path, rules: Path, rsyslog: Callable[..., Rsyslog]
) -> None:
    data = tmp_path / "data"
    secret = token(data, "ingest")
    service = Service(data, rules)
    rng = random.Random(18)
    lines = 0
    with stopped_at_the_end(service):
        service.start()
        sender = rsyslog(("127.0.0.1", service.relp), relp=True)
        clients = [HttpClient(lambda: service.port, secret, 100_000 * (i + 1), 40) for i in (0, 1)]
        for client in clients:
            client.start()
        for _kill in range(KILLS):
            sender.write(numbered_lines(100, start=lines))
            lines += 100
            time.sleep(rng.uniform(0.2, 1.2))
            service.kill9()
            service.start()
        for client in clients:
            client.join(timeout=120)
            assert not client.is_alive(), "an HTTP client could not send its batches"
        # rsyslog's queue drains: every line it read reaches the journal (RELP answers only
        # durable messages and omrelp sends again what was not answered).
        wait_for(
            f"rsyslog did not drain: {sender.output()[-2000:]}",
            lambda: len(journal_numbers(data)[0][2]) >= lines,
            120,
        )
        wait_for(
            "the detector did not catch up",
            lambda: service.position() >= max(journal_numbers(data)[1]),
            180,
        )
        assert service.stop() == 0
    found, ids = journal_numbers(data)
    accepted = set().union(*(c.accepted for c in clients))
    assert len(accepted) == 2 * 40 * 50
    assert accepted <= found[1]  # every 200 is in the journal
    assert found[2] == set(range(lines))  # every line rsyslog read
    assert service.log.read_text().count("event=service.ready") == KILLS + 1

    # The alerts: those a hunt of the journal finds, each once, every event matched.
    out = tmp_path / "hunt.jsonl"
    done = CliRunner().invoke(
        app, ["hunt", "--journal", str(data / "journal"), "-r", str(rules), "-o", str(out), "-q"]
    )
    assert done.exit_code == 0, done.output
    hunted: set[str] = set()
    for text in out.read_text().splitlines():
        det = orjson.loads(text)
        hunted.add(alert_id(det["rule_id"], ids[int(det["source"].rpartition("#")[2])]))
    with sqlite3.connect(data / "sentinelle.db") as conn:
        stored = [r[0] for r in conn.execute("SELECT id FROM alerts_alert")]
        events = conn.execute("SELECT count(DISTINCT event_id) FROM alerts_alert").fetchone()[0]
    assert len(stored) == len(set(stored)) == len(hunted)
    assert set(stored) == hunted
    dumps = sum(1 for n in found[1] if n % 3 == 0)
    assert events == dumps + lines  # one alert per matching event, however often it was sent


def tmpfs(folder: Path, size: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs for the journal (needs root): {done.stderr}")


def test_a_full_disk_refuses_with_503_loses_nothing_accepted_and_resumes_alone(
    tmp_path: Path, rules: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs for the journal needs root (CI runs as root)")
    data = tmp_path / "data"
    journal = data / "journal"
    tmpfs(journal, "3m")
    config = tmp_path / "serve.yml"
    config.write_text("journal:\n  min_free_bytes: 0\n  segment_bytes: 1048576\n")
    secret = token(data, "ingest")
    service = Service(data, rules, config)
    client = HttpClient(lambda: service.port, secret, 0, 0)
    accepted: set[int] = set()
    refused = 0
    try:
        with stopped_at_the_end(service):
            service.start()
            n = 0
            while refused == 0 and n < 200_000:
                body = b"\n".join(event(i) + b" " * 400 for i in range(n, n + 200))
                if client.send(body):
                    accepted.update(range(n, n + 200))
                else:
                    refused += 1
                    assert client.last == 503, client.last
                    answer = urllib.request.Request(
                        f"http://127.0.0.1:{service.port}/readyz", method="GET"
                    )
                    with pytest.raises(urllib.error.HTTPError) as caught:
                        urllib.request.urlopen(answer, timeout=10)
                    assert caught.value.code == 503
                n += 200
            assert refused and accepted, "the disk never filled"
            # Space returns: the service takes events again by itself.
            subprocess.run(["mount", "-o", "remount,size=64m", str(journal)], check=True)
            wait_for("the service did not resume", lambda: client.send(event(999_999)), 30)
            accepted.add(999_999)
            wait_for(
                "the detector did not catch up",
                lambda: service.position() >= max(journal_numbers(data)[1]),
                120,
            )
            assert service.stop() == 0
        found, _ids = journal_numbers(data)
        assert accepted <= found[1]
        log = service.log.read_text()
        assert "event=journal.refusing" in log and "event=journal.resumed" in log
    finally:
        subprocess.run(["umount", "-l", str(journal)], check=False)
