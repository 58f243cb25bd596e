"""Golden impact reports of the worked example: any change of state or path shows in a diff.

Each line is one non-operational (service, site) as sorted-key JSON. After an intended change
of the engine or of the example, rewrite them with ``SENTINELLE_UPDATE_GOLDEN=1 pytest ...``
and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from sentinelle.hospital import HospitalModel, assess
from tests.hospital.conftest import json_path

GOLDEN = Path(__file__).parent / "golden"

CASES: dict[str, dict[str, list[str]]] = {
    "cut-internet": {"actions": ["cut:internet"]},
    "isolate-snz": {"actions": ["isolate:snz"]},
    "disable-directory": {"actions": ["disable:directory"]},
    "compromised-dc-cen01": {"compromised": ["dc-cen01"]},
    "flood-then-cut": {"degraded": ["203.0.113.5"], "actions": ["cut:internet"]},
    "ransomware-night": {
        "compromised": ["pcc-cen-0042", "dc-cen01", "fs-cen01"],
        "unavailable": ["fs-cen01", "fs-cen02", "fs-cen03", "esx-dc1-02"],
        "actions": ["shut:remote-access", "isolate:cen"],
    },
}


def _lines(model: HospitalModel, inputs: dict[str, list[str]]) -> str:
    """The affected services of the JSON report, each path walked through its ``steps``."""
    data = assess(model, **inputs).to_dict()
    rows = [
        {
            "service": e["component"],
            "site": e["site"],
            "state": e["state"],
            "via": e["via"],
            "path": json_path(data, e),
            "cause": e["cause"],
            "at_risk": e["at_risk"],
        }
        for e in data["services"]
        if e["state"] != "operational"
    ]
    return "".join(orjson.dumps(r, option=orjson.OPT_SORT_KEYS).decode() + "\n" for r in rows)


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_report(chu: HospitalModel, name: str) -> None:
    got = _lines(chu, CASES[name])
    path = GOLDEN / f"{name}.jsonl"
    if os.environ.get("SENTINELLE_UPDATE_GOLDEN"):
        path.write_text(got, encoding="utf-8")
    assert path.exists(), f"no golden file {path}: run with SENTINELLE_UPDATE_GOLDEN=1"
    assert got == path.read_text(encoding="utf-8")
