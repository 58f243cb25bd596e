"""``sentinelle hunt --journal``: a retro-hunt of what the service accepted finds what live
detection found, with the same rules."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from sentinelle.cli.main import app
from sentinelle.service.config import ServeConfig
from sentinelle.service.ids import alert_id
from sentinelle.service.journal import JournalReader
from sentinelle.service.records import Record, RecordKind
from tests.service.test_detector import fill, process_event, run_once

pytestmark = pytest.mark.django_db
runner = CliRunner()


def records() -> list[Record]:
    out = [
        process_event(n, f"ws{n % 7:02d}", "mimikatz.exe" if n % 4 == 0 else "notepad.exe")
        for n in range(60)
    ]
    out += [
        Record(
            "syslog-tcp",
            f"10.0.0.{n % 3}",
            RecordKind.SYSLOG,
            f"<13>Nov 27 22:{n:02d}:00 fw-edge0{n % 3} sshd[1]: "
            f"{'refused admin' if n % 5 else 'ok'} login".encode(),
            1_800_000_000.0 + n,
        )
        for n in range(40)
    ]
    out.append(Record("http", "t", RecordKind.JSON, b'"not an object"', 1.0))
    return out


def test_a_retro_hunt_of_the_journal_equals_the_live_alerts(tmp_path: Path, rules: Path) -> None:
    from sentinelle.web.alerts.models import Alert

    journal = tmp_path / "data" / "journal"
    fill(journal, records())
    run_once(ServeConfig(data_dir=str(tmp_path / "data"), rules=(str(rules),)))
    live = set(Alert.objects.values_list("id", flat=True))
    assert len(live) == 15 + 32

    out = tmp_path / "retro.jsonl"
    done = runner.invoke(
        app, ["hunt", "--journal", str(journal), "--rules", str(rules), "-o", str(out), "-q"]
    )
    assert done.exit_code == 0, done.output
    ids = {e.seq: e.record.event_id for e in JournalReader(journal).iter_records()}
    found = set()
    for line in out.read_text().splitlines():
        det = orjson.loads(line)
        seq = int(det["source"].rpartition("#")[2])
        found.add(alert_id(det["rule_id"], ids[seq]))
    assert found == live

    # --since keeps the hunt's meaning (events at or after the time): fewer, all of them live.
    later = tmp_path / "later.jsonl"
    done = runner.invoke(
        app,
        [
            "hunt",
            "--journal",
            str(journal),
            "--rules",
            str(rules),
            "-o",
            str(later),
            "-q",
            "--since",
            "2026-11-27T22:30:00Z",
        ],
    )
    assert done.exit_code == 0, done.output
    times = [orjson.loads(line)["timestamp"] for line in later.read_text().splitlines()]
    assert times and all(t >= "2026-11-27T22:30:00" for t in times)
    assert len(times) < len(found)


def test_a_journal_hunt_is_refused_at_once_when_it_cannot_run(tmp_path: Path, rules: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for args, says in (
        (["--journal", str(tmp_path / "nowhere")], "no such folder"),
        (["--journal", str(empty)], "holds no journal segment"),
        (["--journal", str(empty), str(tmp_path)], "give no PATH"),
        ([], "give files or folders, or --journal DIR"),
    ):
        done = runner.invoke(app, ["hunt", *args, "--rules", str(rules)])
        assert done.exit_code == 2
        assert says in " ".join(done.output.replace("│", " ").split()), done.output
