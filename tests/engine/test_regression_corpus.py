"""SigmaHQ regression suite: every test's rule fires on its own EVTX, at least match_count times."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sentinelle.engine import CompiledRules, compile_rules
from sentinelle.sigma.loader import load_rules
from tests.engine.evtx_events import evtx_events
from tests.engine.restore import restored

pytestmark = pytest.mark.corpus


def _cases(root: Path) -> list[tuple[str, Path, int]]:
    out: list[tuple[str, Path, int]] = []
    for info in sorted(root.rglob("info.yml")):
        data = yaml.safe_load(info.read_text(encoding="utf-8"))
        rule_id = data["rule_metadata"][0]["id"]
        for test in data.get("regression_tests_info") or []:
            if test.get("type") != "evtx":
                continue
            path = root.parent / test["path"]
            out.append((rule_id, path, int(test.get("match_count", 1))))
    return out


@pytest.fixture(scope="module")
def sigmahq(shared_data: Path) -> CompiledRules:
    base = shared_data / "sigma"
    rules = load_rules(
        [base / "rules", base / "rules-emerging-threats", base / "rules-threat-hunting"]
    )
    # As a hunt gets it from the cache: every bucket built, pickled and unpickled.
    return restored(compile_rules(rules))


def test_every_regression_rule_fires_on_its_evtx(shared_data: Path, sigmahq: CompiledRules) -> None:
    cases = _cases(shared_data / "sigma" / "regression_data")
    assert len(cases) >= 200, "regression suite looks incomplete"
    known = {r.id for r in sigmahq.rules}
    failures: list[str] = []
    for rule_id, path, want in cases:
        if rule_id not in known:
            failures.append(f"{rule_id}: rule not loaded")
            continue
        got = sum(
            1 for ev in evtx_events(path) for det in sigmahq.match(ev) if det.rule_id == rule_id
        )
        if got < want:
            failures.append(f"{rule_id}: {got} matches < {want} on {path.name}")
    print(f"regression suite: {len(cases) - len(failures)}/{len(cases)} pass")
    assert not failures, "\n".join(failures)
