"""A bucket's answers remembered per event (``Bucket.match``) are the answers it would give.

Each case is a rule and events that agree on some fields and differ on one the rule reads in a
way a table could confuse: a bool for an int, a float for an int, null for absent, the other
field of a field reference, the field of a regex tested only for rules still in play. Each
sequence is matched in order and in reverse by a set whose every bucket remembers (they
remember from a hundred rules on by default), against the reference evaluator.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from sentinelle.engine import bucket, ir
from sentinelle.engine.matchers import MEMO_MAX_LEN, MEMO_SIZE
from sentinelle.events import event_from_mapping
from tests.engine.restore import restored
from tests.engine.test_property import _compiled


def _leaf(field: str | None, matcher: ir.Matcher) -> ir.Node:
    return ir.Leaf(ir.Atom(field, matcher))


# (name, rule, events, whether its bucket keeps a table: not when a keyword reads every value)
CASES: list[tuple[str, ir.Node, list[dict[str, Any]], bool]] = [
    ("number", _leaf("A", ir.Number(1)), [{"A": 1}, {"A": True}, {"A": 1.0}, {"A": "1"}], True),
    (
        "number as text",
        _leaf("A", ir.Pattern(("1",), False)),
        [{"A": 1}, {"A": 1.0}, {"A": True}, {"A": "1"}],
        True,
    ),
    ("boolean", _leaf("A", ir.Boolean(True)), [{"A": True}, {"A": 1}, {"A": "true"}], True),
    ("null", _leaf("A", ir.Null()), [{"A": None}, {}, {"A": ""}, {"B": None}], True),
    ("exists", _leaf("A", ir.Exists(True)), [{"A": None}, {}, {"A": "x"}], True),
    ("absent", ir.Not(_leaf("A", ir.Exists(True))), [{}, {"A": None}, {"B": 1}], True),
    (
        "field reference",
        _leaf("A", ir.FieldRef("B")),
        [{"A": "x", "B": "x"}, {"A": "x", "B": "y"}, {"A": "x"}],
        True,
    ),
    (
        "lazy regex",
        ir.And(
            (
                _leaf("A", ir.Pattern(("foo",), False)),
                _leaf("C", ir.Regex("^(a|b)+c$", "")),
            )
        ),
        [{"A": "foo", "C": "abc"}, {"A": "foo", "C": "abd"}, {"A": "foo"}],
        True,
    ),
    (
        "keyword",
        ir.And((_leaf("A", ir.Pattern(("x",), False)), _leaf(None, ir.Pattern(("evil",), False)))),
        [{"A": "x", "B": "evil"}, {"A": "x", "B": "good"}],
        False,
    ),
]


@pytest.mark.parametrize(
    ("tree", "events", "keeps"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_remembered_answers_are_the_reference_answers(
    tree: ir.Node, events: list[dict[str, Any]], keeps: bool
) -> None:
    reference = _compiled([tree], reference=True)
    for order in (events, events[::-1], events + events):
        remembering = restored(_compiled([tree], reference=False))
        # Its buckets are unpickled on first use: under the lowered threshold.
        with mock.patch.object(bucket, "EVENT_MEMO_MIN_RULES", 0):
            for fields in order:
                ev = event_from_mapping(dict(fields))
                expected = [d.rule_id for d in reference.match(ev)]
                assert [d.rule_id for d in remembering.match(ev)] == expected, fields
        kept = sum(len(b.event_memo) for b in remembering._buckets.values())
        assert bool(kept) == keeps


def test_the_table_is_bounded() -> None:
    tree = _leaf("A", ir.Pattern(("x",), False))
    remembering = restored(_compiled([tree], reference=False))
    with mock.patch.object(bucket, "EVENT_MEMO_MIN_RULES", 0):
        for i in range(3 * MEMO_SIZE):
            remembering.match(event_from_mapping({"A": f"value {i}"}))
        remembering.match(event_from_mapping({"A": "y" * (MEMO_MAX_LEN + 1)}))
    (found,) = remembering._buckets.values()
    assert 0 < len(found.event_memo) <= MEMO_SIZE
    assert found.event_chars <= bucket.LONG_MEMO_BUDGET
    assert ("y" * (MEMO_MAX_LEN + 1),) not in found.event_memo  # too long to keep
