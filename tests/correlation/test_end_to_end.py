"""Rule files (base rules and correlations) loaded and compiled by the engine, events through
the engine and the correlator, as a hunt runs them."""

from __future__ import annotations

import textwrap
from pathlib import Path

from sentinelle.detections import Detection
from sentinelle.engine import compile_rules
from sentinelle.events import event_from_mapping
from sentinelle.sigma.loader import load_rules
from sentinelle.sigma.logsources import LogsourceMap, Source

# Every event belongs to `logsource: {product: test}`, whatever its channel.
LOGSOURCES = LogsourceMap(entries={("test", None, None): (Source(channel=None),)})

BASE_RULES = """
title: Failed logon
id: 5638f7c0-ac70-491d-8465-2a65075e0d86
name: failed_logon
logsource: {product: test}
detection:
    selection: {EventID: 4625}
    condition: selection
level: low
---
title: Successful logon
id: 4d1b2c3a-9e8f-4a7b-8c6d-5e4f3a2b1c0d
name: successful_logon
logsource: {product: test}
detection:
    selection: {EventID: 4624}
    condition: selection
level: informational
"""

CORRELATIONS = """
title: Many failed logons
id: 0e95725d-7320-415d-80f7-004da920fc11
name: many_failed_logons
correlation:
    type: event_count
    rules: [failed_logon]
    group-by: [TargetUserName]
    timespan: 5m
    condition: {gte: 3}
---
title: Brute force then success
id: f7c5a8e6-5b57-4f0c-9d5b-4b8b1f0b5a6e
correlation:
    type: temporal_ordered
    rules: [many_failed_logons, successful_logon]
    group-by: [TargetUserName]
    timespan: 30m
level: critical
"""


def _hunt(tmp_path: Path, events: list[tuple[float, dict[str, object]]]) -> list[Detection]:
    (tmp_path / "base.yml").write_text(textwrap.dedent(BASE_RULES), encoding="utf-8")
    (tmp_path / "mr_brute_force.yml").write_text(textwrap.dedent(CORRELATIONS), encoding="utf-8")
    compiled = compile_rules(load_rules([tmp_path]), logsources=LOGSOURCES, placeholders={})
    assert not compiled.errors, [str(e) for e in compiled.errors]
    correlator = compiled.correlator()
    assert not correlator.errors
    timeline: list[Detection] = []
    for record, (ts, fields) in enumerate(events, start=1):
        event = event_from_mapping(fields, source="security.evtx", record=record, timestamp=ts)
        for det in compiled.match(event):
            if det.rule_id not in correlator.suppressed_rule_ids:
                timeline.append(det)
            timeline.extend(correlator.feed(det))
    timeline.extend(correlator.flush())
    return timeline


def test_brute_force_then_success_end_to_end(tmp_path: Path) -> None:
    bob = {"TargetUserName": "bob", "IpAddress": "203.0.113.9"}
    timeline = _hunt(
        tmp_path,
        [
            (0, {"EventID": 4625, **bob}),
            (20, {"EventID": 4625, **bob}),
            (30, {"EventID": 4688, "Image": "C:\\Windows\\System32\\cmd.exe"}),  # no rule
            (40, {"EventID": 4625, "TargetUserName": "alice"}),
            (60, {"EventID": 4625, **bob}),  # third failure for bob: inner fires (hidden)
            (600, {"EventID": 4624, "TargetUserName": "alice"}),
            (900, {"EventID": 4624, **bob}),  # success after the burst: outer fires
        ],
    )
    # Both base rules are referenced with generate: false, so only the outer alert shows.
    assert [(d.rule_title, d.timestamp, d.group) for d in timeline] == [
        ("Brute force then success", 900, {"TargetUserName": "bob"}),
    ]
    alert = timeline[0]
    assert alert.level == "critical"
    assert alert.rule_id == "f7c5a8e6-5b57-4f0c-9d5b-4b8b1f0b5a6e"
    assert [e.record for e in alert.events] == [5, 7]
    assert alert.events[1].fields["EventID"] == 4624


# Base rule and correlations in one file: pySigma 1.5 alone would reject the whole file for the
# range and read `gt: 0.5` as `gt: 0`.
EXACT_BOUNDS = (
    BASE_RULES
    + """---
title: Three or four failures
id: 1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b
correlation:
    type: event_count
    rules: [failed_logon]
    group-by: [TargetUserName]
    timespan: 5m
    condition: {gte: 3, lte: 4}
    generate: true
level: high
---
title: Mostly remote failures
id: 2c3d4e5f-6071-4829-9bac-1d2e3f4a5b6c
correlation:
    type: value_avg
    rules: [failed_logon]
    group-by: [TargetUserName]
    timespan: 5m
    condition: {gt: 0.5, field: Remote}
    generate: true
level: medium
"""
)


def test_range_and_fraction_conditions_from_a_rule_file(tmp_path: Path) -> None:
    (tmp_path / "exact.yml").write_text(textwrap.dedent(EXACT_BOUNDS), encoding="utf-8")
    ruleset = load_rules([tmp_path])
    assert [str(e) for e in ruleset.errors] == []
    assert [c.title for c in ruleset.correlations] == [
        "Three or four failures",
        "Mostly remote failures",
    ]
    compiled = compile_rules(ruleset, logsources=LOGSOURCES, placeholders={})
    correlator = compiled.correlator()
    assert not correlator.errors
    fail = {"EventID": 4625}
    timeline: list[Detection] = []
    events = [
        # alice: 3 failures in the window (inside the range); the last remote (mean 0.33, which
        # `gt: 0` would take).
        (0, {**fail, "TargetUserName": "alice", "Remote": 0}),
        (10, {**fail, "TargetUserName": "alice", "Remote": 0}),
        (20, {**fail, "TargetUserName": "alice", "Remote": 1}),
        # bob: 6 failures (above the range); the first two remote (mean above 0.5 at once).
        *((30 + i, {**fail, "TargetUserName": "bob", "Remote": int(i < 2)}) for i in range(6)),
        (400, {**fail, "TargetUserName": "carol", "Remote": 0}),  # closes both windows
    ]
    for record, (ts, fields) in enumerate(events, start=1):
        event = event_from_mapping(fields, source="security.evtx", record=record, timestamp=ts)
        for det in compiled.match(event):
            timeline.extend(correlator.feed(det))
    timeline.extend(correlator.flush())
    fired = sorted((d.rule_title, d.group["TargetUserName"]) for d in timeline)
    assert fired == [("Mostly remote failures", "bob"), ("Three or four failures", "alice")]
