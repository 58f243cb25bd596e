"""The hospital in the hunt's timeline: detections placed in the model, incidents and their
impact on services, vital assets raised, rules chosen by status and excluded by file.

A generated ransomware night over the worked hospital (hosts of the model) and a few fixed
events, hunted by the real command line with the shipped rule pack or a rule of our own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sentinelle.scenarios import generate_scenario
from tests.hunt.helpers import hunt_env, run_hunt, security_4688

RULES = """
title: Encoded PowerShell
id: 0d9a1d36-7a4c-4c1e-9d4e-000000000001
status: test
logsource: {product: windows, service: security}
detection:
    sel: {EventID: 4688, CommandLine|contains: ' -enc '}
    condition: sel
level: medium
---
title: Whoami
id: 0d9a1d36-7a4c-4c1e-9d4e-000000000002
status: experimental
logsource: {product: windows, service: security}
detection:
    sel: {EventID: 4688, CommandLine|contains: whoami}
    condition: sel
level: low
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return hunt_env(tmp_path_factory.mktemp("home"), COLUMNS="160")


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ransomware")
    generate_scenario("ransomware", out, seed=2024, scale=0.1)
    (out / "manifest.json").unlink()  # the ground truth is not a log
    return out


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(RULES, encoding="utf-8")
    return path


def _log(tmp_path: Path, computer: str) -> Path:
    log = tmp_path / f"{computer}.jsonl"
    events = [
        security_4688(1, computer, "powershell -enc AAAA"),
        security_4688(2, computer, "whoami /all"),
    ]
    log.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return log


hunt = run_hunt


def _records(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(detections, incident and impact records) of a JSON lines timeline."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [r for r in rows if "record_type" not in r], [r for r in rows if "record_type" in r]


def test_a_night_on_the_worked_hospital_gets_sites_services_incidents_and_impact(
    env: dict[str, str], night: Path, tmp_path: Path
) -> None:
    out, report = tmp_path / "t.jsonl", tmp_path / "r.html"
    proc = hunt(env, str(night), "-o", str(out), "--html", str(report))
    assert proc.returncode == 0, proc.stderr
    detections, extra = _records(out)
    placed = [d for d in detections if "site" in d.get("details", {})]
    assert len(placed) > len(detections) / 2
    dc = next(d for d in placed if str(d["computer"]).startswith("dc-cen01"))
    assert dc["details"]["site"] == "cen" and dc["details"]["asset"] == "dc-cen"
    assert "patient-record" in dc["details"]["services"]  # the record needs the directory
    incidents = [r for r in extra if r["record_type"] == "incident"]
    (impact,) = [r for r in extra if r["record_type"] == "impact"]
    assert extra[-1] is impact and incidents
    assert sum(i["detections"] for i in incidents) <= len(detections)
    assert [i["id"] for i in incidents] == [f"INC-{n:03d}" for n in range(1, len(incidents) + 1)]
    worst = max(incidents, key=lambda i: i["detections"])
    assert worst["severity"] == "critical" and worst["services_affected"]
    # The encryption of the file servers stops the file shares, at every site.
    down = {(s["service"], s["state"]) for s in impact["services_affected"]}
    assert ("file-shares", "down") in down
    assert any(h.startswith("fs-cen01") for h in impact["unavailable"])
    assert "Hospital" in proc.stderr and "Top incidents" in proc.stderr
    assert "worked example, its machines match" in proc.stderr
    text = report.read_text(encoding="utf-8")
    assert "Hospital: incidents and services" in text
    assert "INC-001" in text and "File shares" in text


def test_machines_foreign_to_the_worked_example_get_no_hospital(
    env: dict[str, str], rules: Path, tmp_path: Path
) -> None:
    out = tmp_path / "t.jsonl"
    proc = hunt(env, str(_log(tmp_path, "ws-elsewhere-17")), "--rules", str(rules), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    detections, extra = _records(out)
    assert len(detections) == 2 and not extra
    assert all("site" not in d.get("details", {}) for d in detections)
    assert "Hospital" not in proc.stderr


def test_a_named_model_places_even_a_few_machines_and_no_model_places_none(
    env: dict[str, str], rules: Path, tmp_path: Path
) -> None:
    from sentinelle.hospital import example_model_path

    log = _log(tmp_path, "ws-elsewhere-17")
    dc = _log(tmp_path, "dc-cen01")
    out = tmp_path / "t.jsonl"
    named = ["--model", str(example_model_path())]
    proc = hunt(env, str(log), str(dc), "--rules", str(rules), *named, "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    detections, extra = _records(out)
    assert {d.get("details", {}).get("site") for d in detections} == {None, "cen"}
    assert "--model" in proc.stderr
    proc = hunt(env, str(dc), "--rules", str(rules), "--no-model", "-o", str(out))
    detections, extra = _records(out)
    assert not extra and all("site" not in d.get("details", {}) for d in detections)
    refused = hunt(env, str(dc), "--rules", str(rules), "--model", str(tmp_path / "none.yml"))
    assert refused.returncode == 2 and "--model" in refused.stderr


def test_raise_vital_lifts_detections_on_machines_vital_services_need(
    env: dict[str, str], rules: Path, tmp_path: Path
) -> None:
    dc = _log(tmp_path, "dc-cen01")
    out = tmp_path / "t.jsonl"
    proc = hunt(env, str(dc), "--rules", str(rules), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert sorted(d["level"] for d in _records(out)[0]) == ["low", "medium"]
    proc = hunt(env, str(dc), "--rules", str(rules), "--raise-vital", "--min-level", "high")
    assert proc.returncode == 0, proc.stderr
    (raised,) = [json.loads(line) for line in proc.stdout.splitlines() if "rule_id" in line]
    assert raised["level"] == "high" and raised["details"]["level_raised_from"] == "medium"


def test_rules_chosen_by_status_and_excluded_by_file(
    env: dict[str, str], rules: Path, tmp_path: Path
) -> None:
    log = _log(tmp_path, "ws-elsewhere-17")
    out = tmp_path / "t.jsonl"

    def titles(*args: str) -> list[str]:
        proc = hunt(env, str(log), "--rules", str(rules), "-o", str(out), *args)
        assert proc.returncode == 0, proc.stderr
        return sorted(d["rule_title"] for d in _records(out)[0])

    assert titles() == ["Encoded PowerShell", "Whoami"]
    assert titles("--status", "stable,test") == ["Encoded PowerShell"]
    assert titles("--status", "experimental", "--status", "stable") == ["Whoami"]
    exclude = tmp_path / "exclude_rules.txt"
    exclude.write_text(
        "# noisy here\n0d9a1d36-7a4c-4c1e-9d4e-000000000001 # Encoded PowerShell\n\n",
        encoding="utf-8",
    )
    assert titles("--exclude-rules", str(exclude)) == ["Whoami"]
    by_file = tmp_path / "by_file.txt"
    by_file.write_text("rules.yml\nno-such-rule.yml\n", encoding="utf-8")
    proc = hunt(env, str(log), "--rules", str(rules), "--exclude-rules", str(by_file))
    assert proc.returncode == 0 and "rule_id" not in proc.stdout
    assert f"{by_file}:2: no-such-rule.yml names no rule" in proc.stderr
    bad = hunt(env, str(log), "--rules", str(rules), "--status", "solid")
    assert bad.returncode == 2 and "unknown rule status 'solid'" in bad.stderr
