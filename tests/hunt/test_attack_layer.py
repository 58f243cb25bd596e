"""The ATT&CK Navigator layer: the right ATT&CK version, which hunt it is, scores that count
rules rather than detections."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from sentinelle.detections import Detection
from sentinelle.hunt.attack import techniques_of
from sentinelle.hunt.outputs.attack import attack_layer, write_attack_layer
from sentinelle.hunt.outputs.attack_releases import (
    NEW_IN_LATEST,
    REVOKED_BY_LATEST,
    derive_release,
)
from sentinelle.hunt.summary import HuntSummary
from tests.hunt.helpers import hunt_env, make_detection, run_hunt, security_4688

EVENT = {"Channel": "Security", "EventID": 4688, "Computer": "DC1"}


def _summary(*dets: Detection) -> HuntSummary:
    s = HuntSummary(files=2, events=100, rules_loaded=5)
    for d in dets:
        s.add(d)
    return s


def _by_id(layer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["techniqueID"]: t for t in layer["techniques"]}


def test_score_counts_rules_so_one_noisy_rule_does_not_flatten_the_rest(tmp_path: Path) -> None:
    noisy = [
        make_detection(EVENT, title="Port scan", rule_id="scan", tags=("attack.t1046",))
    ] * 1000
    dump = [
        make_detection(EVENT, title=f"Dump {i}", rule_id=f"d{i}", tags=("attack.t1003.001",))
        for i in range(3)
    ]
    layer = attack_layer(_summary(*noisy, *dump))
    by_id = _by_id(layer)
    assert by_id["T1046"]["score"] == 1
    assert by_id["T1003.001"]["score"] == 3
    assert by_id["T1003"] == {"techniqueID": "T1003", "enabled": True, "showSubtechniques": True}
    assert layer["gradient"]["maxValue"] == 3
    assert "Port scan (1000)" in str(by_id["T1046"]["comment"])
    assert {"name": "detections", "value": "1000"} in by_id["T1046"]["metadata"]
    assert "distinct rules" in str(layer["description"])
    out = tmp_path / "layer.json"
    write_attack_layer(out, _summary(*noisy, *dump))
    assert json.loads(out.read_text())["techniques"] == layer["techniques"]


def test_the_name_says_which_hunt_it_is() -> None:
    dets = [
        make_detection(EVENT, ts=1_700_000_000.0, tags=("attack.t1059",)),
        make_detection(EVENT, ts=1_700_086_400.0, tags=("attack.t1059",)),
    ]
    layer = attack_layer(_summary(*dets), ["/cases/chu/dc1", "/cases/chu/fs1", "a", "b", "c"])
    assert layer["name"] == (
        "Sentinelle hunt of /cases/chu/dc1, /cases/chu/fs1, a and 2 more, "
        "2023-11-14 22:13 to 2023-11-15 22:13 UTC"
    )
    assert attack_layer(HuntSummary())["name"] == "Sentinelle hunt"


def test_the_attack_version_follows_the_ids() -> None:
    v19 = make_detection(EVENT, tags=("attack.defense-impairment", "attack.t1685.005"))
    old = make_detection(EVENT, tags=("attack.defense-evasion", "attack.t1070.001"))
    plain = make_detection(EVENT, tags=("attack.t1059.001",))

    assert attack_layer(_summary(plain))["versions"]["attack"] == "19"
    layer = attack_layer(_summary(old, plain))
    assert layer["versions"]["attack"] == "18"
    assert "T1070.001" in _by_id(layer)
    layer = attack_layer(_summary(v19, old, plain))
    assert layer["versions"]["attack"] == "19"
    by_id = _by_id(layer)
    assert "T1070.001" not in by_id  # shown as its successor, merged with it
    assert by_id["T1685.005"]["score"] == 1  # same rule title ("Rule one") in both
    assert {"name": "detections", "value": "2"} in by_id["T1685.005"]["metadata"]
    assert "T1070.001 → T1685.005" in str(layer["description"])


def test_translation_targets_are_ids_of_the_latest_release() -> None:
    assert set(REVOKED_BY_LATEST.values()) <= NEW_IN_LATEST
    assert not set(REVOKED_BY_LATEST) & NEW_IN_LATEST
    release = derive_release(["T1562.001", "T1685.005"])
    assert release.shown("T1562.001") == "T1685" and release.shown("T1059") == "T1059"


@pytest.mark.corpus
def test_sigmahq_tags_are_read_as_attack_v19(shared_data: Path) -> None:
    tag = re.compile(r"^\s*-\s*(attack\.t\d{4}(?:\.\d{3})?)\s*$", re.IGNORECASE | re.MULTILINE)
    ids: set[str] = set()
    for rule in (shared_data / "sigma").glob("rules*/**/*.yml"):
        ids.update(techniques_of(tag.findall(rule.read_text(encoding="utf-8", errors="replace"))))
    assert len(ids) > 300
    assert not ids & set(REVOKED_BY_LATEST)  # the table agrees with SigmaHQ: none retired
    assert ids & NEW_IN_LATEST  # and SigmaHQ uses v19's new ids
    release = derive_release(ids)
    assert release.version == "19" and release.translated == {}


def test_the_command_names_the_inputs_as_given(tmp_path: Path) -> None:
    """A folder hunted is named as the folder, not as the first of the files found in it."""
    logs = tmp_path / "collected logs"
    (logs / "dc1").mkdir(parents=True)
    for n in range(5):
        (logs / "dc1" / f"security-{n}.jsonl").write_text(
            json.dumps(security_4688(n, "dc1", "whoami")) + "\n", encoding="utf-8"
        )
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "whoami.yml").write_text(
        "title: Whoami\nid: 0d9a1d36-7a4c-4c1e-9d4e-0000000000bb\n"
        "logsource: {product: windows, service: security}\n"
        "detection: {sel: {CommandLine|contains: whoami}, condition: sel}\n"
        "level: low\ntags: [attack.discovery, attack.t1033]\n",
        encoding="utf-8",
    )
    layer = tmp_path / "layer.json"
    env = hunt_env(tmp_path / "home")
    proc = run_hunt(env, str(logs), "--rules", str(rules), "-q", "-f", "jsonl",
                    "-o", str(tmp_path / "t.jsonl"), "--attack-layer", str(layer))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    found = json.loads(layer.read_text())
    assert found["name"].startswith(f"Sentinelle hunt of {logs}, "), found["name"]
    assert "security-" not in found["name"]
    assert {"name": "inputs", "value": str(logs)} in found["metadata"]
