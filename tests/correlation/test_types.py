"""Each correlation type: the rule, the detections fed and the expected alerts side by side."""

from __future__ import annotations

import pytest

from .helpers import base_rule, build, run, summary

FAILED = base_rule("failed_logon")


def test_event_count_fires_at_the_detection_that_reaches_the_threshold() -> None:
    setup = build(
        FAILED
        + """
---
title: Many failed logons
id: 0e95725d-7320-415d-80f7-004da920fc11
correlation:
    type: event_count
    rules: [failed_logon]
    group-by: [TargetUserName]
    timespan: 1m
    condition: {gte: 3}
level: high
"""
    )
    out = run(
        setup,
        [
            ("failed_logon", 0, {"TargetUserName": "bob"}),
            ("failed_logon", 10, {"TargetUserName": "alice"}),
            ("failed_logon", 30, {"TargetUserName": "bob"}),
            ("failed_logon", 59, {"TargetUserName": "alice"}),
            ("failed_logon", 60, {"TargetUserName": "bob"}),  # third bob within [0, 60]: fires
            ("failed_logon", 71, {"TargetUserName": "alice"}),  # 10 has left [11, 71]: 2 only
        ],
    )
    assert summary(out) == [("Many failed logons", 60, 3.0, {"TargetUserName": "bob"})]
    alert = out[0]
    assert alert.rule_type == "correlation"
    assert alert.rule_id == "0e95725d-7320-415d-80f7-004da920fc11"
    assert alert.level == "high"
    assert (alert.first_seen, alert.last_seen) == (0, 60)
    assert [e.record for e in alert.events] == [1, 3, 5]
    assert alert.details["window"] == "sliding"


def test_event_count_without_group_by_counts_every_detection_together() -> None:
    setup = build(
        FAILED
        + """
---
title: Logon storm
correlation:
    type: event_count
    rules: failed_logon
    timespan: 10s
    condition: {gt: 2}
"""
    )
    out = run(setup, [("failed_logon", t, {"TargetUserName": u}) for t, u in enumerate("abc")])
    assert summary(out) == [("Logon storm", 2, 3.0, {})]
    assert out[0].level == "low"  # no level of its own: the highest of the rules it references


def test_value_count_counts_distinct_values_and_ignores_missing_ones() -> None:
    setup = build(
        FAILED
        + """
---
title: Password spray
correlation:
    type: value_count
    rules: [failed_logon]
    group-by: [IpAddress]
    timespan: 5m
    condition:
        field: TargetUserName
        gte: 3
"""
    )
    out = run(
        setup,
        [
            ("failed_logon", 0, {"IpAddress": "10.0.0.9", "TargetUserName": "bob"}),
            ("failed_logon", 1, {"IpAddress": "10.0.0.9", "TargetUserName": "bob"}),
            ("failed_logon", 2, {"IpAddress": "10.0.0.9"}),  # no user: not a value
            ("failed_logon", 3, {"IpAddress": "10.0.0.9", "TargetUserName": "Bob"}),  # exact
            ("failed_logon", 4, {"IpAddress": "10.0.0.7", "TargetUserName": "eve"}),
            ("failed_logon", 5, {"IpAddress": "10.0.0.9", "TargetUserName": "carol"}),
        ],
    )
    assert summary(out) == [("Password spray", 5, 3.0, {"IpAddress": "10.0.0.9"})]
    assert setup.correlator.stats.missing_values == 1


def test_value_count_over_several_fields_counts_distinct_combinations() -> None:
    setup = build(
        FAILED
        + """
---
title: Many user and workstation pairs
correlation:
    type: value_count
    rules: [failed_logon]
    timespan: 5m
    condition:
        field: [TargetUserName, WorkstationName]
        gte: 3
"""
    )
    stream = [
        ("failed_logon", 0, {"TargetUserName": "bob", "WorkstationName": "W1"}),
        ("failed_logon", 1, {"TargetUserName": "bob", "WorkstationName": "W2"}),
        ("failed_logon", 2, {"TargetUserName": "bob", "WorkstationName": "W1"}),
        ("failed_logon", 3, {"TargetUserName": "eve", "WorkstationName": "W1"}),
    ]
    assert summary(run(setup, stream)) == [("Many user and workstation pairs", 3, 3.0, {})]


RECON = base_rule("recon_a") + "---" + base_rule("recon_b") + "---" + base_rule("recon_c")


def test_temporal_needs_every_rule_in_one_window_in_any_order() -> None:
    setup = build(
        RECON
        + """
---
title: Reconnaissance burst
correlation:
    type: temporal
    rules: [recon_a, recon_b, recon_c]
    group-by: [Computer, User]
    timespan: 5m
level: medium
"""
    )
    host = {"Computer": "ws1", "User": "bob"}
    out = run(
        setup,
        [
            ("recon_c", 0, host),
            ("recon_a", 100, host),
            ("recon_b", 200, {"Computer": "ws1", "User": "eve"}),  # other user: other group
            ("recon_b", 390, host),  # c at 0 has left [90, 390]
            ("recon_c", 399, host),  # a (100), b (390), c (399): all three within [99, 399]
        ],
    )
    assert summary(out) == [("Reconnaissance burst", 399, 3.0, host)]
    assert out[0].details["rules_matched"] == ["recon_a", "recon_b", "recon_c"]
    assert [e.record for e in out[0].events] == [2, 4, 5]  # one event per rule, oldest first
    assert out[0].first_seen == 100


def test_temporal_condition_can_ask_for_fewer_rules_than_listed() -> None:
    setup = build(
        RECON
        + """
---
title: Two of three recon tools
correlation:
    type: temporal
    rules: [recon_a, recon_b, recon_c]
    timespan: 1m
    condition: {gte: 2}
"""
    )
    out = run(setup, [("recon_b", 0, {}), ("recon_b", 5, {}), ("recon_c", 30, {})])
    assert summary(out) == [("Two of three recon tools", 30, 2.0, {})]


def test_temporal_ordered_requires_the_listed_order() -> None:
    setup = build(
        RECON
        + """
---
title: a then b then c
correlation:
    type: temporal_ordered
    rules: [recon_a, recon_b, recon_c]
    group-by: [Computer]
    timespan: 10m
"""
    )
    out = run(
        setup,
        [
            ("recon_b", 0, {"Computer": "h1"}),
            ("recon_a", 1, {"Computer": "h1"}),
            ("recon_c", 2, {"Computer": "h1"}),  # b came before a: no chain yet
            ("recon_a", 10, {"Computer": "h2"}),
            ("recon_b", 11, {"Computer": "h2"}),
            ("recon_c", 12, {"Computer": "h2"}),  # h2: a, b, c in order
            ("recon_b", 20, {"Computer": "h1"}),
            ("recon_c", 21, {"Computer": "h1"}),  # h1: a (1), b (20), c (21)
        ],
    )
    assert summary(out) == [
        ("a then b then c", 12, 3.0, {"Computer": "h2"}),
        ("a then b then c", 21, 3.0, {"Computer": "h1"}),
    ]
    assert [e.record for e in out[1].events] == [2, 7, 8]
    assert out[1].first_seen == 1


def test_temporal_ordered_chain_must_fit_in_the_timespan() -> None:
    setup = build(
        RECON
        + """
---
title: a then b quickly
correlation:
    type: temporal_ordered
    rules: [recon_a, recon_b]
    timespan: 10s
"""
    )
    out = run(
        setup,
        [
            ("recon_a", 0, {}),
            ("recon_b", 11, {}),  # 11 s after a: too late
            ("recon_a", 20, {}),
            ("recon_a", 25, {}),  # the later a is the one that leaves the window last
            ("recon_b", 34, {}),  # a (25) -> b (34): 9 s
        ],
    )
    assert summary(out) == [("a then b quickly", 34, 2.0, {})]
    assert out[0].first_seen == 25


def test_temporal_ordered_below_all_rules_accepts_an_ordered_subsequence() -> None:
    setup = build(
        RECON
        + """
---
title: two steps in order
correlation:
    type: temporal_ordered
    rules: [recon_a, recon_b, recon_c]
    timespan: 1m
    condition: {gte: 2}
"""
    )
    out = run(setup, [("recon_c", 0, {}), ("recon_a", 1, {}), ("recon_c", 2, {})])
    assert summary(out) == [("two steps in order", 2, 2.0, {})]
    assert out[0].details["rules_matched"] == ["recon_a", "recon_c"]


PROXY = base_rule("web_access")


@pytest.mark.parametrize(
    ("kind", "condition", "expected"),
    [
        # BytesOut 400 (t=0), 700 (t=20), 100 (t=30), 900 (t=70: the 400 has left [10, 70]).
        # value_sum: 400, 1100, 1200, then 800 just before t=70 (a dip: new episode), 1700.
        ("value_sum", "gt: 1000", [(20, 1100.0), (70, 1700.0)]),
        # value_avg: 400, 550, 400, then 400 just before t=70, 1700 / 3.
        ("value_avg", "gte: 550", [(20, 550.0), (70, 1700 / 3)]),
        ("value_avg", "gt: 566.6", [(70, 1700 / 3)]),
        # median: 400, 550, 400, then [100, 700, 900] -> 700.
        ("value_percentile", "percentile: 50\n        gte: 700", [(70, 700.0)]),
        ("value_median", "gte: 700", [(70, 700.0)]),
        # p100 is the maximum; p25 of [100, 700, 900] interpolates to 400.
        ("value_percentile", "percentile: 100\n        gte: 900", [(70, 900.0)]),
    ],
)
def test_numeric_aggregates_over_a_sliding_window(
    kind: str, condition: str, expected: list[tuple[float, float]]
) -> None:
    setup = build(
        PROXY
        + f"""
---
title: Upload volume
correlation:
    type: {kind}
    rules: [web_access]
    group-by: [SourceIp]
    timespan: 1m
    condition:
        field: BytesOut
        {condition}
"""
    )
    stream: list[tuple[str, float, dict[str, object]]] = [
        ("web_access", 0, {"SourceIp": "10.1.1.1", "BytesOut": 400}),
        ("web_access", 20, {"SourceIp": "10.1.1.1", "BytesOut": "700"}),  # text is parsed
        ("web_access", 30, {"SourceIp": "10.1.1.1", "BytesOut": 100}),
        ("web_access", 35, {"SourceIp": "10.1.1.1", "BytesOut": "n/a"}),  # not a number
        ("web_access", 70, {"SourceIp": "10.1.1.1", "BytesOut": 900}),
    ]
    out = run(setup, stream)
    assert [d.timestamp for d in out] == [ts for ts, _ in expected]
    assert [d.value for d in out] == pytest.approx([value for _, value in expected])
    assert setup.correlator.stats.non_numeric_values == 1


def test_value_avg_keeps_a_fractional_threshold_exact() -> None:
    # pySigma alone would read gt: 0.5 as gt: 0; the fraction matters for a mean.
    setup = build(
        FAILED
        + """
---
title: Mostly failures
correlation:
    type: value_avg
    rules: [failed_logon]
    timespan: 1h
    condition:
        field: Failed
        gt: 0.5
"""
    )
    out = run(setup, [("failed_logon", 0, {"Failed": 0}), ("failed_logon", 1, {"Failed": 1})])
    assert out == []
    setup = build(FAILED + "---\n" + _avg_rule(0.4))
    out = run(setup, [("failed_logon", 0, {"Failed": 0}), ("failed_logon", 1, {"Failed": 1})])
    assert summary(out) == [("Mostly failures", 1, 0.5, {})]


def _avg_rule(threshold: float) -> str:
    return f"""
title: Mostly failures
correlation:
    type: value_avg
    rules: [failed_logon]
    timespan: 1h
    condition:
        field: Failed
        gt: {threshold}
"""


@pytest.mark.parametrize(("timespan", "seconds"), [("90s", 90), ("2m", 120), ("1h", 3600)])
def test_timespan_units(timespan: str, seconds: int) -> None:
    text = (
        FAILED
        + f"""
---
title: Pair
correlation:
    type: event_count
    rules: [failed_logon]
    timespan: {timespan}
    condition: {{gte: 2}}
"""
    )
    setup = build(text)
    assert setup.correlator.rules[0].span == seconds
    out = run(setup, [("failed_logon", 0, {}), ("failed_logon", seconds, {})])
    assert summary(out) == [("Pair", seconds, 2.0, {})]
    late = run(build(text), [("failed_logon", 0, {}), ("failed_logon", seconds + 1, {})])
    assert late == []


def test_temporal_ordered_with_an_upper_bound_reports_unfinished_sequences() -> None:
    setup = build(
        RECON
        + """
---
title: started but not finished
correlation:
    type: temporal_ordered
    rules: [recon_a, recon_b, recon_c]
    group-by: [Computer]
    timespan: 1m
    condition: {lt: 3}
"""
    )
    out = run(
        setup,
        [
            ("recon_a", 0, {"Computer": "h1"}),
            ("recon_b", 5, {"Computer": "h1"}),
            ("recon_a", 6, {"Computer": "h2"}),
            ("recon_b", 7, {"Computer": "h2"}),
            ("recon_c", 8, {"Computer": "h2"}),  # h2 finished the sequence
            ("recon_c", 100, {"Computer": "h3"}),
        ],
    )
    assert [(d.timestamp, d.group, d.value) for d in out] == [
        (60, {"Computer": "h1"}, 2.0),
        (100, {"Computer": "h3"}, 1.0),  # cut by the end of the input
    ]
    assert out[0].details["rules_matched"] == ["recon_a", "recon_b"]
