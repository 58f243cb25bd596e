"""A flood of one-off groups must not evict an attack's group, and every eviction is reported.

The state cap is spent on the groups furthest from their threshold (a single failure) before a
group on its way (four accounts of eight); ties go least recently active first. Evictions are
counted per rule with the input times of the first and the latest, for the hunt summary and a
service's health.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sentinelle.engine import load_compiled
from sentinelle.engine.correlation import CorrelationLimits
from sentinelle.engine.correlation.state import event_cost
from sentinelle.events import Event, event_from_mapping
from sentinelle.readers import read_file
from tests.correlation import spray
from tests.correlation.helpers import base_rule, build, run

SPRAY_RULE = """
title: spray
name: spray
correlation:
    type: value_count
    rules: [failed_logon]
    group-by: [Source]
    timespan: 10m
    condition: {gte: 8, field: User}
level: high
"""
SHIPPED = Path(__file__).resolve().parents[2] / "src" / "sentinelle" / "rules" / "fortigate"
SPRAYING = "FortiGate SSL-VPN Password Spraying"


def _spray_with_flood(flood: int) -> list[tuple[str, float, dict[str, object]]]:
    stream: list[tuple[str, float, dict[str, object]]] = []
    stream += [
        ("failed_logon", float(t), {"Source": "attacker", "User": f"u{t}"}) for t in range(4)
    ]
    stream += [
        ("failed_logon", 10 + i / 1000, {"Source": f"10.0.{i // 256}.{i % 256}", "User": "admin"})
        for i in range(flood)
    ]
    stream += [
        ("failed_logon", 100.0 + t, {"Source": "attacker", "User": f"v{t}"}) for t in range(4)
    ]
    return stream


def test_the_cap_evicts_single_failures_before_a_group_on_its_way() -> None:
    setup = build(base_rule("failed_logon") + "---" + SPRAY_RULE, CorrelationLimits(max_groups=100))
    out = run(setup, _spray_with_flood(150))
    assert [(d.rule_title, d.group) for d in out] == [("spray", {"Source": "attacker"})]
    assert out[0].value == 8.0 and out[0].first_seen == 0.0
    (lost,) = setup.correlator.evictions()
    # 151 groups for 100 places: the 51 oldest single failures went, at the 100th to 150th.
    assert (lost.rule_id, lost.groups, lost.entries, lost.events) == ("spray", 51, 0, 0)
    assert (lost.first, lost.last) == (10.099, 10.149)
    stats = setup.correlator.stats.as_dict()["evictions"]["spray"]
    assert stats == {
        "title": "spray",
        "groups": 51,
        "entries": 0,
        "events": 0,
        "first": 10.099,
        "last": 10.149,
    }


def test_the_least_recently_active_goes_first_among_equals() -> None:
    setup = build(base_rule("failed_logon") + "---" + SPRAY_RULE, CorrelationLimits(max_groups=2))
    stream = [("failed_logon", float(t), {"Source": s, "User": "x"}) for t, s in enumerate("abac")]
    run(setup, stream)
    assert setup.correlator.evictions()[0].groups == 1  # "b": "a" was active again since


def test_a_full_sample_budget_keeps_counting_and_says_what_it_could_not_keep() -> None:
    one = event_cost(event_from_mapping({"Source": "a", "User": "u0"}))
    limits = CorrelationLimits(sample_bytes=3 * one)  # room for three events
    setup = build(base_rule("failed_logon") + "---" + SPRAY_RULE, limits)
    stream = [("failed_logon", float(t), {"Source": "a", "User": f"u{t}"}) for t in range(8)]
    (alert,) = run(setup, stream)
    assert alert.value == 8.0
    assert len(alert.events) == 3 and alert.details["events_not_kept"] == 5
    assert setup.correlator.evictions()[0].events == 5


def _fortigate_events(flood: int, folder: Path) -> list[Event]:
    """The generated spray as the syslog reader reads it: the lines of each kind read for real
    from a spray with a flood of one, the flood's lines built from the reader's fields of its
    flooding line (only the address differs), so that 101,000 lines cost no parse."""
    events = [e for batch in read_file(spray.write(folder / "one.log", 1)) for e in batch.events]
    before, template, after = events[:4], events[4], events[5:]
    start = before[-1].timestamp or 0.0
    flooded = [
        event_from_mapping(
            {**template.fields, "remip": spray.flood_address(n)},
            source=template.source,
            record=5 + n,
            timestamp=start + (n + 1) * spray.FLOOD_SECONDS / flood,
        )
        for n in range(flood)
    ]
    return [*before, *flooded, *after]  # the lines after the flood keep their times


@pytest.mark.slow
def test_the_shipped_spraying_rule_sees_the_spray_through_101000_one_off_failures(
    tmp_path: Path,
) -> None:
    compiled = load_compiled([SHIPPED], cache_dir=tmp_path / "cache")
    correlator = compiled.correlator()
    alerts = []
    for event in _fortigate_events(101_000, tmp_path):
        for detection in compiled.match(event):
            alerts += [d for d in correlator.feed(detection) if d.rule_type == "correlation"]
    alerts += correlator.flush()
    sprays = [d for d in alerts if d.rule_title == SPRAYING]
    assert [d.group for d in sprays] == [{"remip": spray.ATTACKER}]
    assert sprays[0].value == 8.0
    lost = {e.title: e for e in correlator.evictions()}
    assert lost[SPRAYING].groups == 1_001  # 101,000 flooding addresses and the attacker's
    flood_start = spray.START + 40
    assert flood_start <= (lost[SPRAYING].first or 0) <= (lost[SPRAYING].last or 0)
    assert (lost[SPRAYING].last or 0) <= flood_start + spray.FLOOD_SECONDS


def test_the_hunt_reports_evictions_in_its_summary(tmp_path: Path) -> None:
    log = spray.write(tmp_path / "fortigate.log", 1_010)
    out = tmp_path / "timeline.jsonl"
    env = {
        **os.environ,
        "SENTINELLE_CACHE_DIR": str(tmp_path / "cache"),
        "SENTINELLE_CONFIG_DIR": str(tmp_path / "config"),
        "SENTINELLE_DATA_DIR": str(tmp_path / "data"),
        "COLUMNS": "200",
    }
    command = [
        sys.executable,
        "-m",
        "sentinelle.cli.main",
        "hunt",
        str(log),
        "--rules",
        str(SHIPPED),
    ]
    command += ["-f", "jsonl", "-o", str(out), "--max-correlation-groups", "1000"]
    command += ["--stats", str(tmp_path / "stats.json")]
    proc = subprocess.run(
        command, capture_output=True, text=True, env=env, check=False, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    titles = [json.loads(line)["rule_title"] for line in out.read_text().splitlines()]
    assert titles.count(SPRAYING) == 1
    assert (
        f"correlation state full: {SPRAYING}: 11 groups evicted, 0 entries dropped, "
        "0 events not kept from 2026-01-01 00:02:38 to 2026-01-01 00:02:39"
    ) in proc.stderr, proc.stderr
    stats = json.loads((tmp_path / "stats.json").read_text())
    lost = {e["title"]: e for e in stats["state_evictions"]}
    assert lost[SPRAYING]["groups"] == 11 and lost[SPRAYING]["rule_id"].startswith("5843d98e")
    assert stats["events"] == 1_020 and stats["detections"] == 1
