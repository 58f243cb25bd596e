"""The demo end to end: both scenarios generated, hunted with the rule pack and the network
detector, grouped, assessed. Checks the issue's targets against the manifests' ground truth."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from sentinelle.cli.demo import _closing, _story
from sentinelle.demo import DemoResult, ScenarioResult, run_demo
from sentinelle.detections import level_rank
from sentinelle.hospital import ServiceState

pytestmark = pytest.mark.slow  # one whole demo run (about half a minute on two cores)

DELAY_TARGET = 120.0  # seconds from an attack's start to its first detection


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoResult]:
    out = tmp_path_factory.mktemp("demo")
    yield run_demo(out, scale=0.3, jobs=2)


def _scenario(demo: DemoResult, name: str) -> ScenarioResult:
    return next(s for s in demo.scenarios if s.name == name)


def test_every_attack_is_detected_within_two_minutes_of_its_start(demo: DemoResult) -> None:
    for sc in demo.scenarios:
        assert sc.problems == [], sc.problems  # every generated file read and matched
        assert sc.outcomes, sc.name
        for outcome in sc.outcomes:
            assert outcome.first is not None, f"{sc.name}: {outcome.attack.name} not detected"
            assert outcome.delay is not None and 0.0 <= outcome.delay <= DELAY_TARGET, (
                sc.name,
                outcome.delay,
                outcome.first.rule_title,
            )


def test_the_benign_night_alone_raises_nothing_high_or_critical(demo: DemoResult) -> None:
    for sc in demo.scenarios:
        serious = [
            (d.rule_title, d.computer)
            for d in sc.background.detections
            if level_rank(d.level) >= level_rank("high")
        ]
        assert serious == [], sc.name
        # The background is realistic enough to produce lower-level false positives: counted.
        fp = sc.false_positives
        assert fp["medium"] + fp["low"] > 0, sc.name
        assert sum(fp.values()) == len(sc.background.detections)


def test_ransomware_steps_are_seen_and_chained_in_one_incident(demo: DemoResult) -> None:
    sc = _scenario(demo, "ransomware")
    (outcome,) = sc.outcomes
    seen = [name for name, det in outcome.steps_seen if det is not None]
    assert len(seen) >= len(outcome.steps_seen) - 1, outcome.steps_seen
    main = next(i for i in sc.incidents if outcome.first in i.timeline)
    assert main.severity == "critical"
    orders = [t.order for t in main.tactics]
    assert orders == sorted(orders)  # the chain reads in ATT&CK order, not in time order
    keys = [t.key for t in main.tactics]
    for tactic in (
        "initial_access",
        "credential_access",
        "discovery",
        "lateral_movement",
        "impact",
    ):
        assert tactic in keys, keys
    assert {step.host for step in outcome.attack.steps} <= set(main.hosts)
    assert {"fs-cen01", "fs-cen02", "fs-cen03", "dc-cen01"} <= set(main.hosts)
    assert set(main.sites) == {"cen", "nord"}


def test_ransomware_impact_takes_the_file_shares_down(demo: DemoResult) -> None:
    sc = _scenario(demo, "ransomware")
    report = sc.detected_impact
    assert report.worst("file-shares") is ServiceState.DOWN
    assert report.state("patient-record", "cen") is ServiceState.AT_RISK  # the directory is
    assert any(h.startswith("dc-cen01") for h in sc.impact_inputs["compromised"])
    assert not report.unresolved


def test_nantes_cut_costs_external_services_and_spares_clinical_ones(demo: DemoResult) -> None:
    sc = _scenario(demo, "nantes-2024")
    cut = next(p for p in sc.phases if p.phase.actions == ("cut:internet",))
    for service in ("external-email", "appointment-booking", "remote-access", "public-website"):
        assert cut.report.worst(service) is ServiceState.DOWN, service
    for service in ("patient-record", "imaging", "laboratory"):
        assert cut.report.worst(service) is ServiceState.OPERATIONAL, service
    # What the monitoring saw while the link was cut agrees with the prediction.
    for component, counts in cut.observed.items():
        predicted = cut.report.worst(component)
        majority = counts.most_common(1)[0][0]
        expected = "CRITICAL" if predicted is ServiceState.DOWN else "OK"
        assert majority == expected, (component, predicted, counts)
    flood = sc.detected_impact
    assert flood.worst("public-website") is ServiceState.DEGRADED
    # What each phase cost: the services its actions took down, nothing else.
    assert {e.component for e in cut.cost} >= {"external-email", "appointment-booking"}
    assert not {e.component for e in cut.cost} & {"patient-record", "imaging", "laboratory"}
    morning = next(p for p in sc.phases if p.phase is not cut.phase)
    assert {e.component for e in morning.cost} == {"public-website", "remote-access"}
    assert all(e.state is ServiceState.DOWN for e in morning.cost)


def test_report_is_self_contained_and_tells_the_story(demo: DemoResult) -> None:
    assert demo.html is not None and demo.html.is_file()
    text = demo.html.read_text(encoding="utf-8")
    assert "default-src 'none'" in text and "<script" not in text
    assert not re.search(r'(src|href)="(https?:)?//', text)
    for needle in ("<svg", "Dependency paths", "Attack chain", "False positives", "nantes-2024"):
        assert needle in text, needle
    for sc in demo.scenarios:
        assert f'id="{sc.name}"' in text


def test_cli_story_prints_delays_incidents_costs_and_report_path(demo: DemoResult) -> None:
    console = Console(record=True, width=200, color_system=None)
    for sc in demo.scenarios:
        _story(console, sc)
    _closing(console, demo, demo.seconds)
    out = console.export_text()
    assert "attack start" in out and "first detection" in out
    assert "containment at" in out and "what it cost" in out
    assert "false positives on the benign night alone" in out
    assert f"HTML report: {demo.html}" in out
    assert re.search(r"detection delays: nantes-2024 \d+ s; ransomware \d+ s", out)


def test_figures_are_written_as_json(demo: DemoResult) -> None:
    import orjson

    assert demo.json is not None
    data = orjson.loads(demo.json.read_bytes())
    names = [s["name"] for s in data["scenarios"]]
    assert names == [s.name for s in demo.scenarios]
    for entry, sc in zip(data["scenarios"], demo.scenarios, strict=True):
        assert entry["attacks"][0]["delay_seconds"] == round(sc.outcomes[0].delay or -1, 1)
        assert entry["false_positives"] == dict(sc.false_positives)
        assert len(entry["incidents"]) == len(sc.incidents)
    nantes = data["scenarios"][names.index("nantes-2024")]
    assert "external-email" in nantes["containment"][0]["down"]


def test_out_dir_holds_both_nights_of_both_scenarios(demo: DemoResult) -> None:
    for sc in demo.scenarios:
        for night in ("attack", "background"):
            assert (sc.directory / night / "manifest.json").is_file()
    assert isinstance(demo.out_dir, Path)


def test_every_alerting_rule_of_the_pack_fires_on_the_attack_nights(demo: DemoResult) -> None:
    """The scenarios exercise the whole pack: a rule no attack step triggers is dead weight."""
    import yaml

    from sentinelle.hunt.rulesets import SHIPPED_RULES

    wanted = {
        str(doc["id"]): str(doc["title"])
        for path in SHIPPED_RULES.rglob("*.yml")
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if doc.get("level") != "informational"
    }
    fired = {d.rule_id for sc in demo.scenarios for d in sc.hunted.detections}
    assert {rid: title for rid, title in wanted.items() if rid not in fired} == {}


def test_values_from_logs_are_escaped_in_the_report() -> None:
    from sentinelle.demo_html import _incident_table
    from sentinelle.detections import Detection
    from sentinelle.events import Event
    from sentinelle.incidents import group_incidents

    hostile = '<script>alert("x")</script>\u202e'
    event = Event({"Computer": hostile}, 1_700_000_000.0, "x.jsonl", 1)
    det = Detection("r", "rule", "high", 1_700_000_000.0, ("attack.impact",), event=event)
    table = _incident_table(group_incidents([det]))
    assert "<script" not in table and "&lt;script&gt;" in table
    assert "\u202e" not in table
