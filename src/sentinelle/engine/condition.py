"""Rule conditions compiled to Python functions over the set of satisfied atom ids.

The conditions of a bucket become one Python expression each, all compiled together into one
code object (a tuple of lambdas): several times faster to evaluate than nested closures, and one
``compile`` call per bucket instead of one per rule. The code object travels in the cache as
``marshal`` bytes, so a cached bucket gets its functions back without compiling anything. The
expressions hold only atom ids and names of constants made here, never text from a rule. Trees
too deep for the compiler fall back to closures, rebuilt from the tree after unpickling.
"""

from __future__ import annotations

import marshal
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sentinelle.engine import ir

Cond = Callable[[set[int] | frozenset[int]], bool]
_FILENAME = "<sigma condition>"
_REFUSED = (RecursionError, SyntaxError, MemoryError, ValueError)


class Conditions:
    """The decision functions of several trees, in order (``funcs``); pickles as bytecode."""

    __slots__ = ("_state", "funcs")

    def __init__(self, trees: Sequence[ir.Node], ids: Mapping[ir.Atom, int]) -> None:
        consts: dict[str, object] = {}
        sources: list[str | None] = []
        for tree in trees:
            try:
                sources.append(_expression(tree, ids, consts))
            except RecursionError:
                sources.append(None)
        try:
            code = _compile_all(sources)
        except _REFUSED:
            # Some expression is too deep for the compiler: find which, they become closures.
            for i, source in enumerate(sources):
                if source is not None:
                    try:
                        compile(f"lambda h: {source}", _FILENAME, "eval")
                    except _REFUSED:
                        sources[i] = None
            code = _compile_all(sources)
        fallback = []
        for i, source in enumerate(sources):
            if source is None:
                tree = trees[i]
                fallback.append((i, tree, {a: ids[a] for a in ir.atoms_of(tree)}))
        self.__setstate__((marshal.dumps(code), consts, fallback))

    def __getstate__(self) -> tuple[bytes, dict[str, object], list[Any]]:
        return self._state

    def __setstate__(self, state: tuple[bytes, dict[str, object], list[Any]]) -> None:
        self._state = state
        code_bytes, consts, fallback = state
        code = marshal.loads(code_bytes)  # noqa: S302 - made by __init__, kept in our own cache
        funcs: list[Cond] = list(eval(code, {"__builtins__": {}, **consts}))  # noqa: S307
        for i, tree, ids in fallback:
            funcs[i] = _closure(tree, ids)
        self.funcs = funcs


def _compile_all(sources: Sequence[str | None]) -> Any:
    """One code object evaluating to the tuple of functions (None for the fallback ones)."""
    items = "".join(f"lambda h: {s},\n" if s is not None else "None,\n" for s in sources)
    return compile(f"({items})", _FILENAME, "eval")


def compile_condition(node: ir.Node, ids: Mapping[ir.Atom, int]) -> Cond:
    """A function deciding one tree from the set of satisfied atom ids."""
    return Conditions([node], ids).funcs[0]


def _expression(node: ir.Node, ids: Mapping[ir.Atom, int], consts: dict[str, object]) -> str:
    """Python source deciding ``node`` from the set ``h`` of satisfied atom ids."""
    if isinstance(node, ir.Leaf):
        return f"{ids[node.atom]} in h"
    if isinstance(node, ir.Const):
        return "True" if node.value else "False"
    if isinstance(node, ir.Not):
        return f"not ({_expression(node.child, ids, consts)})"
    if isinstance(node, ir.And | ir.Or):
        leaves = frozenset(ids[c.atom] for c in node.children if isinstance(c, ir.Leaf))
        terms = [
            f"({_expression(c, ids, consts)})" for c in node.children if not isinstance(c, ir.Leaf)
        ]
        conj = isinstance(node, ir.And)
        if len(leaves) == 1:
            terms.insert(0, f"{next(iter(leaves))} in h")
        elif leaves:
            name = f"k{len(consts)}"
            consts[name] = leaves
            terms.insert(0, f"{name} <= h" if conj else f"not {name}.isdisjoint(h)")
        if not terms:
            return "True" if conj else "False"
        return (" and " if conj else " or ").join(terms)
    raise TypeError(f"unresolved node {node!r}")


def _closure(node: ir.Node, ids: Mapping[ir.Atom, int]) -> Cond:
    """The same decision as nested closures: for trees the expression compiler refuses."""
    if isinstance(node, ir.Leaf):
        aid = ids[node.atom]
        return lambda h: aid in h
    if isinstance(node, ir.Const):
        value = node.value
        return lambda h: value
    if isinstance(node, ir.Not):
        inner = _closure(node.child, ids)
        return lambda h: not inner(h)
    if isinstance(node, ir.And | ir.Or):
        leaves = frozenset(ids[c.atom] for c in node.children if isinstance(c, ir.Leaf))
        rest = [_closure(c, ids) for c in node.children if not isinstance(c, ir.Leaf)]
        if isinstance(node, ir.And):
            if not rest:
                return lambda h: leaves <= h
            if not leaves:
                return lambda h: all(f(h) for f in rest)
            return lambda h: leaves <= h and all(f(h) for f in rest)
        if not rest:
            return lambda h: not leaves.isdisjoint(h)
        if not leaves:
            return lambda h: any(f(h) for f in rest)
        return lambda h: not leaves.isdisjoint(h) or any(f(h) for f in rest)
    raise TypeError(f"unresolved node {node!r}")
