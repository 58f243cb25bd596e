"""Window semantics: sliding versus tumbling, episodes, anchored windows, bounded state."""

from __future__ import annotations

import pytest

from sentinelle.engine.correlation import CorrelationLimits

from .helpers import base_rule, build, detection, run, summary

FAILED = base_rule("failed_logon")


def _count_rule(condition: str, timespan: str = "1m", group_by: str = "[User]") -> str:
    return (
        FAILED
        + f"""
---
title: Failed logons
name: failed_logons
correlation:
    type: event_count
    rules: [failed_logon]
    group-by: {group_by}
    timespan: {timespan}
    condition: {{{condition}}}
"""
    )


def test_a_burst_straddling_a_tumbling_boundary_fires() -> None:
    # 20 failures between 50 s and 69 s. Tumbling one-minute buckets would see 10 in [0, 60)
    # and 10 in [60, 120), never 15; the sliding window ending at 64 s holds 15.
    setup = build(_count_rule("gte: 15"))
    stream = [("failed_logon", t, {"User": "bob"}) for t in range(50, 70)]
    assert summary(run(setup, stream)) == [("Failed logons", 64, 15.0, {"User": "bob"})]


def test_window_bounds_are_inclusive() -> None:
    # Exactly one timespan apart is still inside: [t - 60, t].
    setup = build(_count_rule("gte: 2"))
    out = run(setup, [("failed_logon", 0, {"User": "a"}), ("failed_logon", 60, {"User": "a"})])
    assert summary(out) == [("Failed logons", 60, 2.0, {"User": "a"})]
    setup = build(_count_rule("gte: 2"))
    out = run(setup, [("failed_logon", 0, {"User": "a"}), ("failed_logon", 60.5, {"User": "a"})])
    assert out == []


def test_sustained_activity_fires_once_per_timespan_not_per_detection() -> None:
    # One failure per second for five minutes, threshold 10 per minute: the condition holds from
    # t=9 on. An alert at 9; the next only once the detection that fired (9) has left the
    # window, at 70 (window [10, 70], 61 failures); then 131, 192, 253.
    setup = build(_count_rule("gte: 10"))
    out = run(setup, [("failed_logon", t, {"User": "bob"}) for t in range(300)])
    assert [(d.timestamp, d.value) for d in out] == [
        (9, 10.0),
        (70, 61.0),
        (131, 61.0),
        (192, 61.0),
        (253, 61.0),
    ]
    assert len(out[1].events) == 10  # the cap of the sample, the latest events


def test_a_gap_that_breaks_the_condition_starts_a_new_episode() -> None:
    setup = build(_count_rule("gte: 3", timespan="10s"))
    # Alert at 2. Just before 14 the window [4, 14] holds one failure: the episode is over.
    # [4, 14] then [5, 15] hold two; [6, 16] holds three: a new episode, a new alert.
    out = run(setup, [("failed_logon", t, {"User": "u"}) for t in [0, 1, 2, 3, 4, 14, 15, 16]])
    assert [d.timestamp for d in out] == [2, 16]


def test_groups_do_not_share_windows_and_values_are_compared_exactly() -> None:
    setup = build(_count_rule("gte: 2", group_by="[User, Computer]"))
    out = run(
        setup,
        [
            ("failed_logon", 0, {"User": "bob", "Computer": "ws1"}),
            ("failed_logon", 1, {"User": "Bob", "Computer": "ws1"}),  # case differs
            ("failed_logon", 2, {"User": "bob", "Computer": "ws2"}),
            ("failed_logon", 3, {"User": "bob"}),  # no Computer: its own group (null)
            ("failed_logon", 4, {"User": "bob", "Computer": None}),  # same null group
            ("failed_logon", 5, {"User": 1, "Computer": "ws1"}),
            ("failed_logon", 6, {"User": True, "Computer": "ws1"}),  # True is not 1
        ],
    )
    assert summary(out) == [("Failed logons", 4, 2.0, {"User": "bob", "Computer": None})]


# Anchored windows: conditions with an upper bound are judged when the window closes.


def test_lt_is_judged_when_the_window_closes() -> None:
    setup = build(_count_rule("lt: 3", timespan="1m"))
    out = run(
        setup,
        [
            ("failed_logon", 0, {"User": "quiet"}),  # opens [0, 60]
            ("failed_logon", 10, {"User": "loud"}),  # opens [10, 70]
            ("failed_logon", 20, {"User": "loud"}),
            ("failed_logon", 30, {"User": "loud"}),  # loud reaches 3: will not fire
            ("failed_logon", 50, {"User": "quiet"}),
            ("failed_logon", 100, {"User": "loud"}),  # closes quiet (2 < 3) at 60, loud at 70
        ],
    )
    assert summary(out) == [
        ("Failed logons", 60, 2.0, {"User": "quiet"}),
        ("Failed logons", 100, 1.0, {"User": "loud"}),  # window [100, 160] cut by the end
    ]
    assert out[0].details["window"] == "anchored"
    assert out[0].details["window_complete"] is True
    assert (out[0].first_seen, out[0].last_seen) == (0, 50)
    # The input ended at 100, before the window [100, 160] closed: judged on what it saw.
    assert out[1].details["window_complete"] is False


def test_flush_uses_the_last_input_time_for_cut_windows() -> None:
    setup = build(_count_rule("lte: 5", timespan="1h"))
    out = run(setup, [("failed_logon", 0, {"User": "a"}), ("failed_logon", 30, {"User": "a"})])
    assert summary(out) == [("Failed logons", 30, 2.0, {"User": "a"})]
    assert out[0].details["window_complete"] is False


@pytest.mark.parametrize(
    ("condition", "fires_for"),
    [
        ("eq: 3", ["three"]),
        ("neq: 3", ["one", "five"]),
        ("gt: 2, lte: 4", ["three"]),  # a range, as the specification allows
        ("gte: 1, lt: 3", ["one"]),
    ],
)
def test_eq_neq_and_ranges(condition: str, fires_for: list[str]) -> None:
    setup = build(_count_rule(condition))
    stream = [
        ("failed_logon", float(i), {"User": user})
        for user, n in (("one", 1), ("three", 3), ("five", 5))
        for i in range(n)
    ]
    stream.sort(key=lambda item: item[1])
    out = run(setup, stream)
    assert sorted(d.group["User"] for d in out) == sorted(fires_for)


def test_a_range_that_can_never_hold_is_rejected() -> None:
    setup = build(_count_rule("gt: 10, lt: 5"))
    assert setup.correlator.rules == ()
    [error] = setup.correlator.errors
    assert "can never hold" in str(error)
    assert str(error).startswith("rules.yml:2")


# Time and bounded state.


def test_detections_without_time_or_out_of_order_are_counted() -> None:
    setup = build(_count_rule("gte: 2"))
    correlator, bob = setup.correlator, setup.bases["failed_logon"]
    assert correlator.feed(detection(bob, None, User="x")) == []
    assert correlator.feed(detection(bob, 100, User="x")) == []
    # Late by 50 s: processed at the latest time seen (100), so it completes the pair.
    [alert] = correlator.feed(detection(bob, 50, User="x"))
    assert alert.timestamp == 100
    assert (correlator.stats.untimed, correlator.stats.out_of_order) == (1, 1)


def test_idle_groups_expire_with_time() -> None:
    setup = build(_count_rule("gte: 5", timespan="10s"))
    correlator, rule = setup.correlator, setup.bases["failed_logon"]
    for i in range(5000):
        correlator.feed(detection(rule, float(i), User=f"user{i}"))
    # Every group idle for longer than the timespan has been dropped as time moved on.
    assert len(correlator._rules[0].groups) == 11  # users 4989..4999, within [4989, 4999]
    correlator.feed(detection(rule, 10_000.0, User="late"))
    assert len(correlator._rules[0].groups) == 1


@pytest.mark.slow
def test_a_million_distinct_groups_stay_under_the_cap() -> None:
    limits = CorrelationLimits(max_groups=1000, max_entries=5000)
    setup = build(_count_rule("gte: 2", timespan="1d"), limits)
    correlator, rule = setup.correlator, setup.bases["failed_logon"]
    peak = 0
    for i in range(1_000_000):
        correlator.feed(detection(rule, i / 1000, User=i))
        if i % 1000 == 0:
            peak = max(peak, len(correlator._rules[0].groups))
    assert peak <= 1000
    assert correlator.stats.evicted_groups == {"failed_logons": 999_000}
    # Evicted groups are gone for good: the first user seen again is a new group.
    assert correlator.feed(detection(rule, 1000.0, User=0)) == []


def test_per_group_and_total_entry_caps_evict_and_say_so() -> None:
    limits = CorrelationLimits(max_entries=10, max_entries_per_group=4)
    setup = build(_count_rule("gte: 5"), limits)
    correlator, rule = setup.correlator, setup.bases["failed_logon"]
    outputs = [correlator.feed(detection(rule, float(i), User="hot")) for i in range(6)]
    # The group never holds more than 4 entries, so gte 5 cannot hold: missed, but counted.
    assert outputs == [[]] * 6
    assert correlator.stats.evicted_entries == {"failed_logons": 2}
    for i in range(3):
        for user in ("a", "b", "c"):
            correlator.feed(detection(rule, 10.0 + i, User=user))
    state = correlator._rules[0]
    assert state.entries <= 10
    # The furthest from the threshold went first: "b" twice (two entries of five, then one),
    # never "hot" at four of five.
    assert correlator.stats.evicted_groups == {"failed_logons": 2}
    assert sorted(state.groups) == [("a",), ("c",), ("hot",)]


def test_detections_of_other_rules_move_time_and_close_windows() -> None:
    setup = build(_count_rule("lt: 2", timespan="10s") + "---" + base_rule("unrelated"))
    correlator = setup.correlator
    failed, unrelated = setup.bases["failed_logon"], setup.bases["unrelated"]
    assert correlator.feed(detection(failed, 0, User="a")) == []
    assert correlator.feed(detection(unrelated, 10)) == []  # [0, 10] is still open
    [alert] = correlator.feed(detection(unrelated, 11))
    assert (alert.timestamp, alert.value, alert.group) == (10, 1.0, {"User": "a"})


def test_nan_group_values_form_one_group() -> None:
    # Two distinct NaN objects (as two parsed events give): NaN != NaN, yet one group.
    setup = build(_count_rule("gte: 2"))
    stream = [("failed_logon", t, {"User": float("nan")}) for t in (0, 1)]
    assert [d.value for d in run(setup, stream)] == [2.0]


def test_groups_that_expired_are_not_counted_as_evictions() -> None:
    setup = build(_count_rule("gte: 3", timespan="10s"), CorrelationLimits(max_groups=2))
    out = run(setup, [("failed_logon", t, {"User": u}) for t, u in [(0, "a"), (5, "b"), (16, "c")]])
    assert out == []
    assert setup.correlator.stats.evicted_groups == {}
    setup = build(_count_rule("gte: 3", timespan="10s"), CorrelationLimits(max_groups=2))
    run(setup, [("failed_logon", t, {"User": u}) for t, u in [(0, "a"), (5, "b"), (6, "c")]])
    assert setup.correlator.stats.evicted_groups == {"failed_logons": 1}
