"""Compiled conditions: the generated expression and the closure fallback decide like the tree."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sentinelle.engine import ir
from sentinelle.engine.condition import compile_condition

ATOMS = [ir.Atom(f"F{i}", ir.Exists(True)) for i in range(5)]
IDS = {atom: i for i, atom in enumerate(ATOMS)}


def truth(node: ir.Node, hits: frozenset[int]) -> bool:
    """The tree's meaning, spelled out plainly."""
    if isinstance(node, ir.Leaf):
        return IDS[node.atom] in hits
    if isinstance(node, ir.Const):
        return node.value
    if isinstance(node, ir.Not):
        return not truth(node.child, hits)
    if isinstance(node, ir.And):
        return all(truth(c, hits) for c in node.children)
    assert isinstance(node, ir.Or)
    return any(truth(c, hits) for c in node.children)


leaves = st.sampled_from([ir.Leaf(a) for a in ATOMS])
trees = st.recursive(
    st.one_of(leaves, st.sampled_from([ir.Const(True), ir.Const(False)])),
    lambda inner: st.one_of(
        st.builds(ir.Not, inner),
        st.builds(lambda cs: ir.And(tuple(cs)), st.lists(inner, max_size=4)),
        st.builds(lambda cs: ir.Or(tuple(cs)), st.lists(inner, max_size=4)),
    ),
    max_leaves=12,
)


@given(trees, st.frozensets(st.integers(0, 4)))
def test_compiled_condition_decides_like_the_tree(tree: ir.Node, hits: frozenset[int]) -> None:
    assert compile_condition(tree, IDS)(hits) is truth(tree, hits)
    assert compile_condition(tree, IDS)(set(hits)) is truth(tree, hits)


def test_a_tree_too_deep_for_the_compiler_falls_back_to_closures() -> None:
    # 400 nested ``not``/``and`` levels: more parentheses than the Python parser accepts.
    tree: ir.Node = ir.Leaf(ATOMS[0])
    for depth in range(400):
        tree = ir.Not(tree) if depth % 2 else ir.And((ir.Leaf(ATOMS[1]), tree))
    cond = compile_condition(tree, IDS)
    assert cond.__code__.co_filename != "<sigma condition>"  # the fallback was taken
    for hits in (frozenset(), frozenset({0}), frozenset({1}), frozenset({0, 1})):
        assert cond(hits) is truth(tree, hits)
