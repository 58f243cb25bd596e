"""The real ``sentinelle hunt`` command over the shared EVTX attack corpus."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hunt.helpers import PackageServer, hunt_env, rules_from, zip_bytes
from tests.hunt.helpers import run_hunt as hunt

pytestmark = pytest.mark.corpus

# A slice of SigmaHQ that fires on the corpus (security log, PowerShell, process creation),
# small enough to keep these tests quick.
RULE_DIRS = ("windows/builtin/security", "windows/powershell", "windows/process_creation")
REQUIRED = {
    "rule_id",
    "rule_title",
    "level",
    "tags",
    "timestamp",
    "computer",
    "channel",
    "event_id",
    "source",
    "event",
}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return hunt_env(tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def rules(shared_data: Path) -> list[str]:
    args: list[str] = []
    for d in RULE_DIRS:
        args += ["--rules", str(shared_data / "sigma" / "rules" / d)]
    return args


@pytest.fixture(scope="module")
def corpus(shared_data: Path) -> Path:
    return shared_data / "evtx" / "mitre"


def lines(path: Path) -> Iterator[dict[str, object]]:
    with path.open() as fh:
        for line in fh:
            yield json.loads(line)


@pytest.fixture(scope="module")
def timeline(
    env: dict[str, str], rules: list[str], corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("one") / "jobs1.jsonl"
    proc = hunt(env, str(corpus), *rules, "-f", "jsonl", "-o", str(out), "--jobs", "1", "-q")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # --quiet
    return out


def test_jsonl_timeline_is_identical_whatever_jobs(
    env: dict[str, str], rules: list[str], corpus: Path, timeline: Path, tmp_path: Path
) -> None:
    out, stats = tmp_path / "jobs2.jsonl", tmp_path / "stats.json"
    proc = hunt(
        env, str(corpus), *rules, "-f", "jsonl", "-o", str(out), "--jobs", "2", "-q",
        "--stats", str(stats),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    # Where the time went, per stage, in wall-clock and in the command's own CPU seconds.
    written = json.loads(stats.read_text())
    assert list(written["stages"]) == [
        "inputs", "reading and matching", "rules", "start-up", "timeline and outputs",
    ]  # fmt: skip
    for stage in written["stages"].values():
        assert stage["seconds"] >= 0 and stage["cpu_seconds"] >= 0
    assert written["stages"]["start-up"]["cpu_seconds"] > 0  # the interpreter's own start
    assert written["cpu_seconds"] >= sum(s["cpu_seconds"] for s in written["stages"].values())
    first = timeline.read_bytes()
    assert first == out.read_bytes()
    records = list(lines(timeline))
    assert len(records) > 100
    assert all(rec.keys() >= REQUIRED for rec in records)
    keys = [(r["timestamp"] or "", r["source"], r["rule_id"]) for r in records]
    stamps = [str(k[0]) for k in keys]
    assert stamps == sorted(stamps)  # time order
    src = str(records[0]["source"])
    assert src.startswith(str(corpus)) and "#" in src and src.rsplit("#", 1)[1].isdigit()


def test_filters_levels_window_and_tags(
    env: dict[str, str], rules: list[str], corpus: Path, timeline: Path, tmp_path: Path
) -> None:
    everything = list(lines(timeline))
    stamps = sorted(str(r["timestamp"]) for r in everything if r["timestamp"])
    since, until = stamps[len(stamps) // 4], stamps[3 * len(stamps) // 4]
    out = tmp_path / "sel.jsonl"
    proc = hunt(
        env, str(corpus), *rules, "-f", "jsonl", "-o", str(out), "-q",
        "--min-level", "high", "--since", since, "--until", until, "--tags", "attack.t1059",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    expected = [
        r
        for r in everything
        if r["level"] in ("high", "critical")
        and r["timestamp"]
        and since <= str(r["timestamp"]) <= until
        and any(str(t).startswith("attack.t1059") for t in r["tags"])  # type: ignore[attr-defined]
    ]
    assert expected
    assert list(lines(out)) == expected


def test_csv_html_layer_and_fail_on(
    env: dict[str, str], rules: list[str], corpus: Path, timeline: Path, tmp_path: Path
) -> None:
    out, html, layer = tmp_path / "t.csv", tmp_path / "r.html", tmp_path / "layer.json"
    proc = hunt(
        env, str(corpus), *rules, "-o", str(out), "--html", str(html),
        "--attack-layer", str(layer), "--fail-on", "high",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr  # high detections exist in this corpus
    assert "Events read" in proc.stderr and "Top rules" in proc.stderr  # summary on stderr
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == [
        "Timestamp", "RuleTitle", "Level", "Computer", "Channel", "EventID",
        "RecordID", "Details", "ExtraFieldInfo", "RuleID",
    ]  # fmt: skip
    assert len(rows) == sum(1 for _ in lines(timeline))
    assert {r["Level"] for r in rows} <= {"crit", "high", "med", "low", "info"}
    report = html.read_text()
    assert "<svg" in report and "ATT&amp;CK tactics touched" in report
    assert f"{len(rows):,} detections)</h2>" in report  # grouped by rule, every one counted
    techniques = json.loads(layer.read_text())["techniques"]
    assert any(t.get("score", 0) > 0 for t in techniques)


def test_usage_and_rule_errors_exit_2(
    env: dict[str, str], rules: list[str], corpus: Path, tmp_path: Path
) -> None:
    assert hunt(env, str(corpus), *rules, "--min-level", "severe").returncode == 2
    assert hunt(env, str(corpus), *rules, "--since", "yesterday-ish").returncode == 2
    assert hunt(env, str(tmp_path / "nowhere"), *rules).returncode == 2
    missing = hunt(env, str(corpus), "--rules", "sigmahq")  # not downloaded in this fresh home
    assert missing.returncode == 2
    assert "sentinelle rules update" in missing.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text("title: broken\nlogsource: {product: windows}\ndetection: {condition: nope}\n")
    out = tmp_path / "o.jsonl"
    proc = hunt(env, str(corpus), *rules, "--rules", str(bad), "-f", "jsonl", "-o", str(out))
    assert proc.returncode == 2
    assert "bad.yml" in proc.stderr
    assert out.stat().st_size > 0  # the rules that loaded still hunted


@pytest.mark.network
def test_rules_update_then_hunt_with_the_sigmahq_set_and_config_rules(
    env: dict[str, str], corpus: Path, shared_data: Path, server: PackageServer, tmp_path: Path
) -> None:
    server.packages["/sigma.zip"] = zip_bytes(rules_from(shared_data, "windows/builtin/security"))
    config = tmp_path / "config"
    config.mkdir()
    powershell = shared_data / "sigma" / "rules" / "windows" / "powershell"
    (config / "config.yml").write_text(f"rules:\n  - {powershell}\n")
    home = {
        **env,
        "SENTINELLE_DATA_DIR": str(tmp_path / "data"),
        "SENTINELLE_CONFIG_DIR": str(config),
        "SENTINELLE_SIGMA_URL": server.url("/sigma.zip"),
    }
    update = [sys.executable, "-m", "sentinelle.cli.main", "rules", "update"]
    proc = subprocess.run(update, capture_output=True, text=True, env=home, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "First SigmaHQ set installed" in proc.stdout

    named, default = tmp_path / "named.jsonl", tmp_path / "default.jsonl"
    proc = hunt(home, str(corpus), "--rules", "sigmahq", "-f", "jsonl", "-o", str(named), "-q")
    assert proc.returncode == 0, proc.stderr
    proc = hunt(home, str(corpus), "-f", "jsonl", "-o", str(default), "-q")
    assert proc.returncode == 0, proc.stderr
    from_sigmahq = {str(r["source"]) + str(r["rule_id"]) for r in lines(named)}
    from_default = {str(r["source"]) + str(r["rule_id"]) for r in lines(default)}
    assert from_sigmahq and from_sigmahq < from_default  # default adds the configured rules
    assert any(str(r["channel"]).endswith("PowerShell/Operational") for r in lines(default))

    proc = subprocess.run(update, capture_output=True, text=True, env=home, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "0 added, 0 removed, 0 changed" in proc.stdout


def test_table_and_timesketch_on_one_file(
    env: dict[str, str], rules: list[str], corpus: Path, timeline: Path, tmp_path: Path
) -> None:
    first = next(r for r in lines(timeline) if r["timestamp"])
    one = str(first["source"]).rsplit("#", 1)[0]
    table = tmp_path / "t.txt"
    proc = hunt(env, one, *rules, "-o", str(table), "--profile", "verbose", "-q")
    assert proc.returncode == 0, proc.stderr
    text = table.read_text()
    assert str(first["rule_title"])[:30] in text
    assert "Summary" in text and "Files read" in text and "Top rules" in text
    ts = tmp_path / "t.jsonl"
    proc = hunt(env, one, *rules, "-f", "timesketch", "-o", str(ts), "-q")
    assert proc.returncode == 0, proc.stderr
    rec = next(lines(ts))
    assert rec["timestamp_desc"] == "Event Time"
    assert rec["datetime"] == str(first["timestamp"]).replace("Z", "+00:00")
    assert rec["rule_id"] == first["rule_id"]


def test_a_reader_that_goes_away_stops_the_hunt_quietly(
    env: dict[str, str], rules: list[str], corpus: Path
) -> None:
    cmd = [sys.executable, "-m", "sentinelle.cli.main", "hunt", str(corpus), *rules, "-f", "jsonl"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**env, "COLUMNS": "100"}
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(10)  # like `| head -c 10`
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=600) == 141
    assert "Traceback" not in err and "internal error" not in err


def test_refused_correlation_is_a_rule_error_and_the_rest_still_hunts(
    env: dict[str, str], tmp_path: Path
) -> None:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "base.yml").write_text(
        "title: failed logon\nname: failed_logon\nid: 6f1d0c7e-0000-4000-8000-000000000001\n"
        "logsource: {product: windows, service: security}\n"
        "detection:\n    sel: {EventID: 4625}\n    condition: sel\nlevel: medium\n",
        encoding="utf-8",
    )
    corr = rules_dir / "corr.yml"
    corr.write_text(
        "title: no percentile\ncorrelation:\n    type: value_percentile\n"
        "    rules: [failed_logon]\n    group-by: [TargetUserName]\n    timespan: 5m\n"
        "    condition: {gte: 100, field: Size}\n",
        encoding="utf-8",
    )
    log = tmp_path / "security.jsonl"
    event = {
        "Event": {
            "System": {
                "EventID": 4625,
                "Channel": "Security",
                "Computer": "dc-cen01",
                "EventRecordID": 7,
                "TimeCreated": {"#attributes": {"SystemTime": "2024-01-15T01:20:00Z"}},
            },
            "EventData": {"TargetUserName": "admin"},
        }
    }
    log.write_text(json.dumps(event) + "\n", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    proc = hunt(
        env, str(log), "--rules", str(rules_dir), "-f", "jsonl", "-o", str(out), "--jobs", "1"
    )
    assert proc.returncode == 2, proc.stderr
    assert f"{corr}:1" in proc.stderr and "value_percentile" in proc.stderr, proc.stderr
    # dc-cen01 is a machine of the worked hospital: its incident follows the detection.
    records = list(lines(out))
    assert [d["rule_title"] for d in records if "record_type" not in d] == ["failed logon"]
    assert [d["record_type"] for d in records if "record_type" in d] == ["incident", "impact"]
