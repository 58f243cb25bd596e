"""Sentinelle's own rule pack: every rule loads, has true-positive and true-negative cases beside
it, and each case gives the expected result through both evaluation paths of the real engine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sentinelle.engine import CompiledRules, compile_rules
from sentinelle.readers import read_file
from sentinelle.sigma.loader import load_rules
from sentinelle.sigma.logsources import load_logsource_map
from tests.rules.harness import CASES, PACK, Case, case_events, load_cases, run_case

ALL_CASES = load_cases()


@pytest.fixture(scope="module", params=["compiled", "reference"])
def pack(request: pytest.FixtureRequest) -> CompiledRules:
    """The pack as the demo and hunts compile it: the shipped logsource mapping, nothing added."""
    ruleset = load_rules([PACK])
    assert not ruleset.errors, [str(e) for e in ruleset.errors]
    return compile_rules(
        ruleset, logsources=load_logsource_map(), reference=request.param == "reference"
    )


def _rule_ids() -> dict[str, str]:
    """Every rule id of the pack -> its file, relative to the pack."""
    out: dict[str, str] = {}
    for path in sorted(PACK.rglob("*.yml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            out[str(doc["id"])] = str(path.relative_to(PACK))
    return out


def test_pack_loads_without_errors() -> None:
    ruleset = load_rules([PACK])
    assert [str(e) for e in ruleset.errors] == []
    assert len(ruleset.rules) + len(ruleset.correlations) == len(_rule_ids())


def test_every_rule_has_a_true_positive_and_a_true_negative() -> None:
    """Informational base rules of correlations are covered through their correlation."""
    fired = {r for c in ALL_CASES for r in c.fires}
    silenced = {r for c in ALL_CASES for r in c.silent}
    missing = []
    for rid, file in _rule_ids().items():
        doc = next(
            d
            for d in yaml.safe_load_all((PACK / file).read_text(encoding="utf-8"))
            if str(d["id"]) == rid
        )
        if doc.get("level") == "informational" and "name" in doc:
            continue
        if rid not in fired or rid not in silenced:
            missing.append(f"{file} {rid}: tp={rid in fired} tn={rid in silenced}")
    assert missing == []


def test_every_case_file_names_an_existing_rule_file() -> None:
    ids = _rule_ids()
    for path in CASES.glob("*.yml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert (PACK / data["rule"]).is_file(), path
        assert Path(data["rule"]).stem == path.stem, path
        for case in data["cases"]:
            for rid in [*case.get("fires", []), *case.get("silent", [])]:
                assert ids.get(rid) == data["rule"], f"{path.name}: {rid} not in {data['rule']}"


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_case(pack: CompiledRules, case: Case, tmp_path: Path) -> None:
    events = case_events(case)
    if case.lines:  # raw log lines go through the real readers, as in a hunt
        log = tmp_path / "case.log"
        log.write_text("".join(f"{line['text']}\n" for line in case.lines), encoding="utf-8")
        batches = list(read_file(log, batch_size=256))
        assert not [i for b in batches for i in b.issues]
        events += [e for b in batches for e in b.events]
        events.sort(key=lambda e: (e.timestamp or 0.0, e.record))
    detections = run_case(pack, events)
    fired = {d.rule_id for d in detections}
    for rid in case.fires:
        assert rid in fired, f"{rid} did not fire; fired: {sorted(fired)}"
    for rid in case.silent:
        assert rid not in fired, f"{rid} fired"


def test_rules_check_accepts_the_whole_pack(tmp_path: Path) -> None:
    env = {**os.environ, "SENTINELLE_CACHE_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "sentinelle.cli.main", "rules", "check", str(PACK)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    docs = [d for p in PACK.rglob("*.yml") for d in yaml.safe_load_all(p.read_text("utf-8"))]
    correlations = sum(1 for d in docs if "correlation" in d)
    assert f"loaded {len(docs) - correlations} rules" in out.stdout
    assert f"{correlations} correlations; rejected 0" in out.stdout


def test_rules_check_maps_every_rule_of_the_pack(tmp_path: Path) -> None:
    """The shipped logsource mapping covers the pack: no rule of ours can stay silent for lack of
    a source (FortiGate `event`/`anomaly` and the firewall category were missing once)."""
    env = {**os.environ, "SENTINELLE_CACHE_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "sentinelle.cli.main", "rules", "check", "--unmapped", str(PACK)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "unmapped:" not in out.stdout
    assert "maps to no event source" not in out.stdout
    docs = [d for p in PACK.rglob("*.yml") for d in yaml.safe_load_all(p.read_text("utf-8"))]
    detections = sum(1 for d in docs if "correlation" not in d)
    assert f"loaded {detections} rules ({detections} mapped)" in out.stdout
