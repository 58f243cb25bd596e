"""Property tests: the sliding windows against brute force over every window."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from sentinelle.detections import Detection

from .helpers import base_rule, build, detection

SPAN = 10  # seconds, the timespan of every rule below

# Sorted integer times (duplicates allowed, as in real logs), each with a group and a value.
# Few distinct times, groups and values, so that window edges and thresholds are met exactly.
streams = st.lists(
    st.tuples(st.integers(0, 30), st.sampled_from("ab"), st.integers(0, 5)),
    max_size=40,
).map(sorted)

Stream = list[tuple[int, str, int]]

# The measure of each type over a window, computed the obvious way (None: no value at all).
MEASURES: dict[str, Callable[[list[int]], float | None]] = {
    "event_count": lambda values: float(len(values)),
    "value_count": lambda values: float(len(set(values))),
    "value_sum": lambda values: float(sum(values)) if values else None,
    "value_avg": lambda values: sum(values) / len(values) if values else None,
    "value_median": lambda values: float(statistics.median(values)) if values else None,
}


def _rule(kind: str, condition: str) -> str:
    field = "" if kind == "event_count" else "\n        field: Value"
    return (
        base_rule("hit")
        + f"""
---
title: property
correlation:
    type: {kind}
    rules: [hit]
    group-by: [Group]
    timespan: {SPAN}s
    condition:{field}
        {condition}
"""
    )


def _reference(kind: str, stream: Stream, n: int, strict: bool) -> list[tuple[int, str, float]]:
    """Scan the whole window of every detection, then apply the documented episode rule:
    fire when the condition holds, unless this group already fired and, since then, the
    condition never stopped holding and the detection that fired is still in the window."""
    measure = MEASURES[kind]

    def holds(value: float | None) -> bool:
        return value is not None and (value > n if strict else value >= n)

    fired: list[tuple[int, str, float]] = []
    armed: dict[str, bool] = {}
    fired_at: dict[str, float] = {}
    for i, (t, group, _) in enumerate(stream):
        earlier = [v for u, g, v in stream[:i] if g == group and u >= t - SPAN]
        now = [*earlier, stream[i][2]]
        if not armed.get(group, True) and (
            fired_at[group] < t - SPAN or not holds(measure(earlier))
        ):
            armed[group] = True
        value = measure(now)
        if armed.get(group, True) and holds(value):
            assert value is not None
            fired.append((t, group, value))
            armed[group] = False
            fired_at[group] = t
    return fired


def _feed(kind: str, condition: str, stream: Stream) -> list[Detection]:
    setup = build(_rule(kind, condition))
    hit = setup.bases["hit"]
    out: list[Detection] = []
    for record, (t, group, value) in enumerate(stream, start=1):
        out.extend(setup.correlator.feed(detection(hit, t, record, Group=group, Value=value)))
    out.extend(setup.correlator.flush())
    return out


@settings(max_examples=300, deadline=None)
@given(
    stream=streams,
    kind=st.sampled_from(sorted(MEASURES)),
    n=st.integers(0, 12),
    strict=st.booleans(),
)
def test_sliding_windows_equal_brute_force(stream: Stream, kind: str, n: int, strict: bool) -> None:
    condition = f"{'gt' if strict else 'gte'}: {n}"
    got = [(d.timestamp, d.group["Group"], d.value) for d in _feed(kind, condition, stream)]
    assert got == _reference(kind, stream, n, strict)


@settings(max_examples=150, deadline=None)
@given(stream=streams, n=st.integers(1, 5))
def test_a_group_fires_iff_some_window_holds_the_threshold(stream: Stream, n: int) -> None:
    # Independent of the episode rule: look at every window [t, t + SPAN] that starts at an
    # event, which is enough, since the densest window can always be slid to start at one.
    dense = {
        group
        for t, group, _ in stream
        if sum(1 for u, g, _ in stream if g == group and t <= u <= t + SPAN) >= n
    }
    fired = {d.group["Group"] for d in _feed("event_count", f"gte: {n}", stream)}
    assert fired == dense


@settings(max_examples=100, deadline=None)
@given(stream=streams, n=st.integers(1, 4))
def test_anchored_lt_equals_brute_force(stream: Stream, n: int) -> None:
    # Windows open at a group's first detection outside any open window and last SPAN.
    expected: list[tuple[float, str, float]] = []
    open_at: dict[str, int] = {}
    counts: dict[str, int] = {}
    closes: list[tuple[float, str, float]] = []
    for t, group, _ in stream:
        if group in open_at and t > open_at[group] + SPAN:
            closes.append((open_at[group] + SPAN, group, counts[group]))
            del open_at[group]
        if group not in open_at:
            open_at[group], counts[group] = t, 0
        counts[group] += 1
    end = stream[-1][0] if stream else -math.inf
    for group, start in open_at.items():
        closes.append((min(start + SPAN, end), group, counts[group]))
    expected = sorted((c for c in closes if c[2] < n), key=lambda c: (c[0], c[1]))
    out = _feed("event_count", f"lt: {n}", stream)
    got = sorted((d.timestamp or 0.0, d.group["Group"], d.value or 0.0) for d in out)
    assert got == [(float(a), b, float(c)) for a, b, c in expected]


@settings(max_examples=100, deadline=None)
@given(stream=streams)
def test_outputs_are_never_older_than_what_was_fed_before(
    stream: Stream,
) -> None:
    # A sliding and an anchored rule together; detections of another rule move time too.
    setup = build(
        _rule("event_count", "gte: 2")
        + "---"
        + base_rule("other")
        + """
---
title: quiet group
correlation:
    type: event_count
    rules: [hit]
    group-by: [Group]
    timespan: 10s
    condition: {lte: 1}
"""
    )
    hit, other = setup.bases["hit"], setup.bases["other"]
    newest = -math.inf
    last_output = -math.inf
    for record, (t, group, value) in enumerate(stream, start=1):
        base = hit if value != 5 else other
        out = setup.correlator.feed(detection(base, t, record, Group=group))
        for d in out:
            assert d.timestamp is not None
            assert newest <= d.timestamp <= t
            assert d.timestamp >= last_output
            last_output = d.timestamp
        newest = max(newest, t)


def _longest_ordered(window: list[int]) -> int:
    """Longest subsequence of rule positions that strictly increases (brute force DP)."""
    best = [1] * len(window)
    for i, pos in enumerate(window):
        for j in range(i):
            if window[j] < pos:
                best[i] = max(best[i], best[j] + 1)
    return max(best, default=0)


@settings(max_examples=150, deadline=None)
@given(
    stream=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 3)), max_size=30).map(sorted),
    n=st.integers(1, 4),
)
def test_temporal_ordered_equals_brute_force(stream: list[tuple[int, int]], n: int) -> None:
    names = ["s0", "s1", "s2", "s3"]
    setup = build(
        "---".join(base_rule(name) for name in names)
        + f"""
---
title: ordered
correlation:
    type: temporal_ordered
    rules: [{", ".join(names)}]
    timespan: {SPAN}s
    condition: {{gte: {n}}}
"""
    )
    got = []
    for record, (t, pos) in enumerate(stream, start=1):
        for d in setup.correlator.feed(detection(setup.bases[names[pos]], t, record)):
            got.append((d.timestamp, d.value))
    expected = []
    armed, fired_at = True, -math.inf
    for i, (t, _) in enumerate(stream):
        earlier = [p for u, p in stream[:i] if u >= t - SPAN]
        now = [p for u, p in stream[: i + 1] if u >= t - SPAN]
        if not armed and (fired_at < t - SPAN or _longest_ordered(earlier) < n):
            armed = True
        if armed and _longest_ordered(now) >= n:
            expected.append((t, float(_longest_ordered(now))))
            armed, fired_at = False, t
    assert got == expected
