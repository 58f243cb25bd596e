"""The hunt's summary: counts by level, rule, host, tactic, technique and hour."""

from __future__ import annotations

from collections import Counter

from sentinelle.detections import Detection
from sentinelle.hunt.summary import HuntSummary, RuleKey
from tests.hunt.helpers import make_detection

HOUR = 3600.0


def _detections() -> list[Detection]:
    return [
        make_detection({"Computer": "ws-01"}, 10 * HOUR + 5),
        make_detection({"Computer": "ws-02"}, 10 * HOUR + 9),
        # the same rule with its level raised (an asset of a vital service): counted as raised
        make_detection({"Computer": "srv-dpi"}, 11 * HOUR, level="critical"),
        make_detection(
            {"Computer": "ws-01"}, 11 * HOUR + 1, rule_id="r-2", title="Rule two",
            level="Medium", tags=("attack.credential-access", "attack.t1003.001"),
        ),
        make_detection({}, None, rule_id="r-3", title="Rule three", level="odd", tags=()),
    ]  # fmt: skip


def _counts(s: HuntSummary) -> tuple[object, ...]:
    return (
        s.detections, s.by_level, s.by_rule, s.by_host, s.by_tactic, s.by_technique,
        s.rules_by_technique, s.per_hour, s.first, s.last, s.highest_level,
    )  # fmt: skip


def test_counts_follow_each_detections_rule_level_and_tags() -> None:
    summary = HuntSummary()
    for det in _detections():
        summary.add(det)
    assert summary.detections == 5
    assert summary.by_level == Counter({"high": 2, "critical": 1, "medium": 1, "informational": 1})
    assert summary.by_rule == Counter(
        {
            RuleKey("r-1", "Rule one", "high"): 2,
            RuleKey("r-1", "Rule one", "critical"): 1,
            RuleKey("r-2", "Rule two", "medium"): 1,
            RuleKey("r-3", "Rule three", "informational"): 1,
        }
    )
    assert summary.by_host == Counter({"ws-01": 2, "ws-02": 1, "srv-dpi": 1})
    assert summary.by_tactic == Counter({"Execution": 3, "Credential Access": 1})
    assert summary.by_technique == Counter({"T1059.001": 3, "T1003.001": 1})
    assert summary.rules_by_technique == {
        "T1059.001": Counter({"Rule one": 3}),
        "T1003.001": Counter({"Rule two": 1}),
    }
    assert summary.per_hour == {
        10: Counter({"high": 2}),
        11: Counter({"critical": 1, "medium": 1}),
    }
    assert summary.highest_level == "critical"


def test_counts_read_as_detections_come_are_the_counts_read_at_the_end() -> None:
    at_end, along = HuntSummary(), HuntSummary()
    for det in _detections() * 3:
        at_end.add(det)
        along.add(det)
        assert along.by_rule.total() == along.detections  # read after every detection
    assert _counts(along) == _counts(at_end)
