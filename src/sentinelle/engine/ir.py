"""The engine's own rule form: a boolean tree over typed atoms, free of pySigma objects.

Both evaluation paths (the reference evaluator and the compiled matchers) read this one form, so
they can differ only in how they evaluate it, never in what a rule means. Everything here is a
frozen, hashable value: equal atoms of different rules are shared by the compiled path, and the
whole form pickles cheaply for the on-disk cache and worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass

# Wildcard tokens inside a string pattern; literal text parts are plain ``str``.
STAR = 0  # ``*``: any run of characters, possibly empty
ONE = 1  # ``?``: exactly one character
DASH = 2  # ``windash``: exactly one character of ``DASHES``
# What Windows command-line parsers take for an option's dash: hyphen, slash, en dash, em dash,
# horizontal bar (the characters of Sigma's ``windash``). ``str.lower`` leaves each unchanged.
DASHES = "-/\u2013\u2014\u2015"

Part = str | int


@dataclass(frozen=True, slots=True)
class Pattern:
    """A Sigma string: literal parts and wildcards, matched case-insensitively unless cased."""

    parts: tuple[Part, ...]
    cased: bool = False

    @property
    def literal(self) -> str | None:
        """The text when the pattern has no wildcard."""
        if all(isinstance(p, str) for p in self.parts):
            return "".join(p for p in self.parts if isinstance(p, str))
        return None


@dataclass(frozen=True, slots=True)
class Regex:
    pattern: str
    flags: str = ""  # subset of "ims"


@dataclass(frozen=True, slots=True)
class Cidr:
    network: str


@dataclass(frozen=True, slots=True)
class Number:
    value: int | float


@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # "lt" "lte" "gt" "gte"
    value: int | float


@dataclass(frozen=True, slots=True)
class Boolean:
    value: bool


@dataclass(frozen=True, slots=True)
class Null:
    pass


@dataclass(frozen=True, slots=True)
class Exists:
    exists: bool


@dataclass(frozen=True, slots=True)
class FieldRef:
    """The value equals (or starts/ends with, or contains) the value of another field."""

    field: str
    starts: bool = False  # the other field's value may be followed by more text
    ends: bool = False  # the other field's value may be preceded by more text


@dataclass(frozen=True, slots=True)
class TimePart:
    part: str  # "minute" "hour" "day" "week" "month" "year"
    value: int


Matcher = Pattern | Regex | Cidr | Number | Compare | Boolean | Null | Exists | FieldRef | TimePart


@dataclass(frozen=True, slots=True)
class Atom:
    """One test of one field (``field`` None: a keyword, tested against every value)."""

    field: str | None
    matcher: Matcher


@dataclass(frozen=True, slots=True)
class Leaf:
    atom: Atom


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class Const:
    value: bool


Node = Leaf | And | Or | Not | Const


EVENT_ID = "EventID"


def event_ids_named(node: Node) -> frozenset[int | float]:
    """The event ids the ``EventID`` number tests of a tree name."""
    return frozenset(
        a.matcher.value
        for a in atoms_of(node)
        if a.field == EVENT_ID and isinstance(a.matcher, Number)
    )


def fold_event_id(node: Node, eid: int | None) -> Node:
    """``node`` for the events whose ``EventID`` reads as the number ``eid`` (None: a number
    that no test of the tree names): every ``EventID`` number test decided, constants folded.

    Exact for such events: a number test holds when the value's numeric reading equals its
    number, and an event id that reads as one number is one value.
    """
    if isinstance(node, Leaf):
        m = node.atom.matcher
        if node.atom.field == EVENT_ID and isinstance(m, Number):
            return Const(eid is not None and m.value == eid)
        return node
    if isinstance(node, Not):
        return simplify(Not(fold_event_id(node.child, eid)))
    if isinstance(node, And):
        return simplify(And(tuple(fold_event_id(c, eid) for c in node.children)))
    if isinstance(node, Or):
        return simplify(Or(tuple(fold_event_id(c, eid) for c in node.children)))
    return node


def atoms_of(node: Node) -> list[Atom]:
    """Every atom of a tree, in order of appearance, with repeats."""
    out: list[Atom] = []
    stack: list[Node] = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Leaf):
            out.append(n.atom)
        elif isinstance(n, And | Or):
            stack.extend(reversed(n.children))
        elif isinstance(n, Not):
            stack.append(n.child)
    return out


def fold_constants(node: Node) -> Node:
    """``simplify`` at every level: constants (tests of fields a source lacks) folded away."""
    if isinstance(node, Not):
        return simplify(Not(fold_constants(node.child)))
    if isinstance(node, And):
        return simplify(And(tuple(fold_constants(c) for c in node.children)))
    if isinstance(node, Or):
        return simplify(Or(tuple(fold_constants(c) for c in node.children)))
    return node


def simplify(node: Node) -> Node:
    """Fold constants and flatten nested and/or one level; keeps the meaning exactly."""
    if isinstance(node, Not):
        child = node.child
        if isinstance(child, Const):
            return Const(not child.value)
        if isinstance(child, Not):
            return child.child
        return node
    if isinstance(node, And | Or):
        is_and = isinstance(node, And)
        kept: list[Node] = []
        for c in node.children:
            if isinstance(c, Const):
                if c.value != is_and:  # false in an and, true in an or: decides the whole node
                    return Const(c.value)
                continue
            if type(c) is type(node):
                kept.extend(c.children)
            else:
                kept.append(c)
        if not kept:
            return Const(is_and)
        if len(kept) == 1:
            return kept[0]
        return And(tuple(kept)) if is_and else Or(tuple(kept))
    return node


# --- compact form for the cache: nested tuples of plain values (fast to pickle and unpickle) ---

_MATCHERS: tuple[type, ...] = (
    Pattern,
    Regex,
    Cidr,
    Number,
    Compare,
    Boolean,
    Null,
    Exists,
    FieldRef,
    TimePart,
)
_TAG = {cls: i for i, cls in enumerate(_MATCHERS)}
Encoded = tuple[object, ...]


def encode(node: Node) -> Encoded:
    """The tree as nested tuples; ``decode`` gives it back equal."""
    if isinstance(node, Leaf):
        m = node.atom.matcher
        fields = tuple(getattr(m, name) for name in m.__slots__)
        return (0, node.atom.field, _TAG[type(m)], fields)
    if isinstance(node, And):
        return (1, tuple(encode(c) for c in node.children))
    if isinstance(node, Or):
        return (2, tuple(encode(c) for c in node.children))
    if isinstance(node, Not):
        return (3, encode(node.child))
    if isinstance(node, Const):
        return (4, node.value)
    raise TypeError(f"cannot encode {node!r}")


def decode(data: Encoded, atoms: dict[Encoded, Atom] | None = None) -> Node:
    """Rebuild a tree; equal atoms share one object when ``atoms`` is shared across trees."""
    kind = data[0]
    if kind == 0:
        cache = atoms if atoms is not None else {}
        atom = cache.get(data)
        if atom is None:
            _, field, tag, args = data
            assert isinstance(tag, int) and isinstance(args, tuple)
            assert field is None or isinstance(field, str)
            atom = cache[data] = Atom(field, _MATCHERS[tag](*args))
        return Leaf(atom)
    if kind in (1, 2):
        children = tuple(decode(c, atoms) for c in data[1])  # type: ignore[attr-defined]
        return And(children) if kind == 1 else Or(children)
    if kind == 3:
        return Not(decode(data[1], atoms))  # type: ignore[arg-type]
    if kind == 4:
        return Const(bool(data[1]))
    raise ValueError(f"bad encoded node kind {kind!r}")
