"""``sentinelle search``, ``metrics`` and ``logons`` as a user runs them: on the attack corpus,
each checked against another command's count, and on a log of fixed events."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.hunt.helpers import hunt_env, run_cli, security_4688


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return hunt_env(tmp_path_factory.mktemp("home"), COLUMNS="160")


@pytest.fixture(scope="module")
def corpus(shared_data: Path) -> list[str]:
    """The folders of EVTX files (the corpus's LICENSE.md beside them is no log)."""
    root = shared_data / "evtx" / "mitre"
    return sorted(str(p) for p in root.iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def metrics(env: dict[str, str], corpus: list[str]) -> dict[str, object]:
    proc = run_cli(env, "metrics", *corpus, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data: dict[str, object] = json.loads(proc.stdout)
    return data


def _event_count(metrics: dict[str, object], channel: str, event_id: str) -> int:
    rows = metrics["event_ids"]
    assert isinstance(rows, list)
    return sum(r["events"] for r in rows if (r["channel"], r["event_id"]) == (channel, event_id))


@pytest.mark.corpus
def test_metrics_of_the_corpus(metrics: dict[str, object]) -> None:
    assert metrics["events"] == 10_015 and metrics["files"] == 281
    for table in ("channels", "event_ids", "computers", "sources"):
        rows = metrics[table]
        assert isinstance(rows, list)
        assert sum(r["events"] for r in rows) == 10_015, table
    assert metrics["first"] < metrics["last"]  # type: ignore[operator]


@pytest.mark.corpus
def test_search_agrees_with_metrics(
    env: dict[str, str], corpus: list[str], metrics: dict[str, object], tmp_path: Path
) -> None:
    out = tmp_path / "failed.csv"
    proc = run_cli(
        env, "search", *corpus, "-F", "EventID=4625", "-F", "Channel=security", "-o", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(rows) == _event_count(metrics, "Security", "4625") > 0
    assert {r["EventID"] for r in rows} == {"4625"}
    assert f"{len(rows)} of 10,015 events found" in proc.stderr

    proc = run_cli(env, "search", *corpus, "-k", "MIMIKATZ", "-f", "jsonl")
    assert proc.returncode == 0, proc.stderr
    found = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(found) > 10
    assert all("mimikatz" in json.dumps(e["fields"]).lower() for e in found)


@pytest.mark.corpus
def test_logons_agree_with_metrics(
    env: dict[str, str], corpus: list[str], metrics: dict[str, object]
) -> None:
    proc = run_cli(env, "logons", *corpus, "--format", "jsonl")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    success = sum(r["Count"] for r in rows if r["result"] == "success")
    failure = sum(r["Count"] for r in rows if r["result"] == "failure")
    assert success == _event_count(metrics, "Security", "4624") > 0
    assert failure == _event_count(metrics, "Security", "4625") > 0
    table = run_cli(env, "logons", *corpus)
    assert "Successful logons" in table.stdout and "Failed logons" in table.stdout


def test_search_on_fixed_events(env: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "security.jsonl"
    events = [security_4688(i, "ws-ane-07", f"cmd /c echo {i}") for i in range(1, 6)]
    events.append(security_4688(6, "ws-ane-07", "powershell -enc SQBFAFgA"))
    log.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    proc = run_cli(env, "search", str(log), str(log), "-r", "echo [2-4]", "-f", "table")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("cmd /c echo") == 3
    assert "3 of 6 events found" in proc.stderr  # the file named twice is read once
    limited = run_cli(env, "search", str(log), "-k", "cmd", "-n", "2", "-f", "jsonl")
    assert len(limited.stdout.splitlines()) == 2
    late = run_cli(env, "search", str(log), "-k", "echo", "--since", "2026-11-27T22:04:00Z")
    assert len(late.stdout.splitlines()) == 2  # records 4 and 5
    for args, message in (
        (["-r", r"(a)\1"], "RE2"),
        ([], "at least one"),
        (["-k", "x", "-o", str(tmp_path)], "is a folder"),
        (["-k", "x", "-o", str(tmp_path / "x.html")], "cannot tell the format"),
    ):
        bad = run_cli(env, "search", str(log), *args)
        assert bad.returncode == 2 and message in bad.stderr, (args, bad.stderr)
