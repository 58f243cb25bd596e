"""Property: random rules over random events give the same detections on both evaluation paths."""

from __future__ import annotations

import pickle
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentinelle.engine import bucket, ir
from sentinelle.engine.compile import CompiledRules
from sentinelle.engine.plan import Plan, RuleInfo, Variant
from sentinelle.events import event_from_mapping
from tests.engine.restore import restored

FIELDS = ["A", "B", "EventID"]  # buckets are folded for the event id: random ones too
# A tiny alphabet so that random values often meet random patterns; it includes a character
# whose lower() grows (İ -> i̇) and a backslash.
ALPHABET = "abA\\\u0130"

texts = st.one_of(
    st.text(alphabet="ab", max_size=3),
    st.text(alphabet=ALPHABET, max_size=4),
    st.text(alphabet="a-/\u2014", max_size=4),  # windash's dash class meets dashes and others
)
parts = st.lists(
    st.one_of(
        st.text(alphabet=ALPHABET, min_size=1, max_size=2),
        st.just(ir.STAR),
        st.just(ir.ONE),
        st.just(ir.DASH),
        st.just("a"),
    ),
    max_size=5,
)


def _normalise(raw: list[ir.Part]) -> tuple[ir.Part, ...]:
    out: list[ir.Part] = []
    for p in raw:
        if isinstance(p, str) and out and isinstance(out[-1], str):
            out[-1] += p
        elif p == ir.STAR and out and out[-1] == ir.STAR:
            continue
        else:
            out.append(p)
    return tuple(out)


def _shaped(kind: int, lit: str) -> tuple[ir.Part, ...]:
    return [(lit,), (lit, ir.STAR), (ir.STAR, lit), (ir.STAR, lit, ir.STAR)][kind]


# The shapes the literal index handles (exact, prefix, suffix, contains), drawn often on purpose,
# and free-form wildcard patterns.
patterns = st.one_of(
    st.builds(
        lambda k, lit, c: ir.Pattern(_shaped(k, lit), c),
        st.integers(0, 3),
        st.text(alphabet="abA", min_size=1, max_size=2),
        st.booleans(),
    ),
    st.builds(lambda p, c: ir.Pattern(_normalise(p), c), parts, st.booleans()),
)
regexes = st.builds(
    ir.Regex,
    st.sampled_from(["a", "^b", "a.b", "(?:ab)+$", "A", "^$"]),
    st.sampled_from(["", "i", "ms", "is"]),
)
keyword_matchers = st.one_of(patterns, regexes, st.builds(ir.Number, st.integers(0, 3)))
field_matchers = st.one_of(
    patterns,
    patterns,
    patterns,
    patterns,
    patterns,
    regexes,
    st.builds(ir.Number, st.one_of(st.integers(0, 3), st.just(1.5))),
    st.builds(ir.Compare, st.sampled_from(["lt", "lte", "gt", "gte"]), st.integers(0, 3)),
    st.builds(ir.Boolean, st.booleans()),
    st.just(ir.Null()),
    st.builds(ir.Exists, st.booleans()),
    st.just(ir.Cidr("10.0.0.0/8")),
    st.just(ir.Cidr("fe80::/10")),
    st.builds(ir.FieldRef, st.sampled_from(FIELDS), st.booleans(), st.booleans()),
    st.builds(ir.TimePart, st.sampled_from(["hour", "day", "week"]), st.integers(0, 20)),
)
atoms = st.one_of(
    st.builds(ir.Atom, st.sampled_from(FIELDS), field_matchers),
    st.builds(ir.Atom, st.none(), keyword_matchers),
)
leaves = st.builds(ir.Leaf, atoms)
trees = st.recursive(
    st.one_of(leaves, leaves, leaves, st.builds(ir.Const, st.booleans())),
    lambda inner: st.one_of(
        st.builds(lambda c: ir.And(tuple(c)), st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda c: ir.Or(tuple(c)), st.lists(inner, min_size=1, max_size=3)),
        st.builds(ir.Not, inner),
    ),
    max_leaves=8,
)
scalar_values = st.one_of(
    texts,
    st.integers(-1, 4),
    st.just(1.5),
    st.booleans(),
    st.none(),
    st.sampled_from(["10.2.3.4", "fe80::1", "true", "2024-05-06T03:04:05Z", "3", " 2 ", "ab\nab"]),
)
field_values = st.one_of(scalar_values, st.lists(scalar_values, max_size=3))
events = st.dictionaries(st.sampled_from(FIELDS), field_values, min_size=1, max_size=3)


def _compiled(tree_list: list[ir.Node], reference: bool) -> CompiledRules:
    infos = [
        RuleInfo(
            f"r{i}", f"rule {i}", "high", (), None, ("test", None, None), "<mem>", None, ("*",)
        )
        for i in range(len(tree_list))
    ]
    variants = [Variant(i, None, (), t) for i, t in enumerate(tree_list)]
    return CompiledRules(Plan(rules=infos, variants=variants), reference=reference)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(trees, min_size=1, max_size=4), st.lists(events, min_size=1, max_size=8))
def test_compiled_equals_reference(
    tree_list: list[ir.Node], event_list: list[dict[str, Any]]
) -> None:
    compiled = _compiled(tree_list, reference=False)
    reference = _compiled(tree_list, reference=True)
    # As a hunt gets the set from the cache: buckets built, pickled and unpickled.
    cached = restored(_compiled(tree_list, reference=False))
    # Every bucket remembering its answer per event (only large ones do by default), each
    # event matched twice: the second answer comes from the table, and events that share
    # values (1 and True, absent and null...) meet each other's entries.
    remembering = restored(_compiled(tree_list, reference=False))
    batched = restored(_compiled(tree_list, reference=False))
    expected_all: list[str] = []
    for fields in event_list:
        ev = event_from_mapping(fields)
        expected = [d.rule_id for d in reference.match(ev)]
        assert [d.rule_id for d in compiled.match(ev)] == expected, fields
        assert [d.rule_id for d in cached.match(ev)] == expected, fields
        # (Its buckets are unpickled on first use: under the lowered threshold.)
        with mock.patch.object(bucket, "EVENT_MEMO_MIN_RULES", 0):
            for _ in range(2):
                again = event_from_mapping(dict(fields))
                assert [d.rule_id for d in remembering.match(again)] == expected, fields
        expected_all += expected
    # A whole batch at once (the hunt's path, which looks buckets up itself), each event twice:
    # the second time its bucket is known.
    batch = [event_from_mapping(dict(fields)) for fields in event_list]
    found = [d.rule_id for d in batched.match_batch([*batch, *batch])]
    assert found == expected_all + expected_all, event_list


@settings(max_examples=200, deadline=None)
@given(trees)
def test_cache_form_round_trips(tree: ir.Node) -> None:
    assert ir.decode(ir.encode(tree)) == tree


def test_pickled_rules_match_like_the_original() -> None:
    tree = ir.And(
        (
            ir.Leaf(ir.Atom("A", ir.Pattern((ir.STAR, "ab"), False))),
            ir.Not(ir.Leaf(ir.Atom("B", ir.Number(1)))),
        )
    )
    compiled = _compiled([tree], reference=False)
    copy = pickle.loads(pickle.dumps(compiled))
    for fields in ({"A": "xAB"}, {"A": "xab", "B": "1"}, {"B": 2}):
        ev = event_from_mapping(fields)
        assert [d.rule_id for d in copy.match(ev)] == [d.rule_id for d in compiled.match(ev)]
    assert copy.plan.variants[0].tree == tree
