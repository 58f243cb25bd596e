"""The reference evaluator: the rule tree walked node by node, each atom tested directly.

Slow and plain on purpose. It shares only the tree (``ir``) and the value readings (``values``)
with the compiled path; every engine test runs through both, so an optimisation in the compiled
path can never change a result unnoticed.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sentinelle.engine import ir, values

_MISSING = object()


def glob_match(parts: tuple[ir.Part, ...], s: str) -> bool:
    """Wildcard match by dynamic programming over (pattern position, text position)."""
    # reachable[j]: the pattern prefix consumed so far can end at text position j.
    reachable = [True] + [False] * len(s)
    for p in parts:
        nxt = [False] * (len(s) + 1)
        if p == ir.STAR:
            seen = False
            for j in range(len(s) + 1):
                seen = seen or reachable[j]
                nxt[j] = seen
        elif p == ir.ONE:
            for j in range(len(s)):
                if reachable[j]:
                    nxt[j + 1] = True
        elif p == ir.DASH:
            for j in range(len(s)):
                if reachable[j] and s[j] in ir.DASHES:
                    nxt[j + 1] = True
        else:
            assert isinstance(p, str)
            for j in range(len(s) - len(p) + 1):
                if reachable[j] and s.startswith(p, j):
                    nxt[j + len(p)] = True
        reachable = nxt
    return reachable[len(s)]


def match_value(m: ir.Matcher, value: Any, fields: dict[str, Any]) -> bool:
    """Does one scalar value satisfy a matcher (Null and Exists are handled by the caller)."""
    if isinstance(m, ir.Pattern):
        s = values.text(value)
        if s is None:
            return False
        if not m.cased:
            s = s.lower()
        return glob_match(values.fold(m.parts, m.cased), s)
    if isinstance(m, ir.Regex):
        s = values.text(value)
        return s is not None and values.compile_regex(m).search(s) is not None
    if isinstance(m, ir.Number):
        n = values.number(value)
        return n is not None and n == m.value
    if isinstance(m, ir.Compare):
        n = values.number(value)
        return n is not None and values.compare(m.op, n, m.value)
    if isinstance(m, ir.Boolean):
        return values.boolean(value) == m.value
    if isinstance(m, ir.Cidr):
        s = values.text(value)
        return s is not None and values.in_network(s, ipaddress.ip_network(m.network))
    if isinstance(m, ir.TimePart):
        dt = values.timestamp(value)
        return dt is not None and values.time_part(dt, m.part) == m.value
    if isinstance(m, ir.FieldRef):
        s = values.text(value)
        if s is None:
            return False
        return any(
            o is not None and values.fieldref(s, o, m)
            for o in map(values.text, values.scalars(fields.get(m.field)))
        )
    raise TypeError(f"not a value matcher: {m!r}")


def atom_true(atom: ir.Atom, fields: dict[str, Any]) -> bool:
    m = atom.matcher
    if atom.field is None:  # keyword: any value of any field
        return any(
            match_value(m, v, fields) for raw in fields.values() for v in values.scalars(raw)
        )
    raw = fields.get(atom.field, _MISSING)
    if isinstance(m, ir.Exists):
        return (raw is not _MISSING) == m.exists
    if isinstance(m, ir.Null):
        return raw is _MISSING or raw is None
    if raw is _MISSING or raw is None:
        return False
    return any(match_value(m, v, fields) for v in values.scalars(raw))


def evaluate(node: ir.Node, fields: dict[str, Any]) -> bool:
    if isinstance(node, ir.Leaf):
        return atom_true(node.atom, fields)
    if isinstance(node, ir.And):
        return all(evaluate(c, fields) for c in node.children)
    if isinstance(node, ir.Or):
        return any(evaluate(c, fields) for c in node.children)
    if isinstance(node, ir.Not):
        return not evaluate(node.child, fields)
    if isinstance(node, ir.Const):
        return node.value
    raise TypeError(f"unresolved node {node!r}")
