"""From a pySigma rule to the engine's tree (``ir``), for one event source.

This is where Sigma meaning is fixed once: pySigma has applied the modifiers and expanded
``1 of x*`` / ``all of them``; here each typed value becomes an atom, field names take the
source's names, ``expand`` placeholders take their configured values, and anything that cannot be
honoured exactly raises ``Rejected`` with a reason a rule author understands.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeGuard

import re2
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionIdentifier,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.exceptions import SigmaError
from sigma.modifiers import SigmaUTF16Modifier
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import (
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
)

from sentinelle.engine import ir, values
from sentinelle.sigma.logsources import Source
from sentinelle.sigma.modifiers import DashPosition

MAX_EXPANSION = 4096  # values one placeholder-bearing string may expand to
# Depth of a condition with its detections expanded; real rules stay under 15.
MAX_CONDITION_DEPTH = 64

_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: "i",
    SigmaRegularExpressionFlag.MULTILINE: "m",
    SigmaRegularExpressionFlag.DOTALL: "s",
}


class Rejected(Exception):
    """The rule cannot be evaluated exactly; ``reason`` says why."""

    def __init__(self, reason: str, field: str | None = None, needle: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field  # the rule field whose value is the problem, to point at its line
        self.needle = needle  # text of the rule that shows the problem, when there is one


AbsentFilters = tuple[tuple[str, tuple[str, ...]], ...]  # detection identifier -> fields


def rule_tree(
    rule: SigmaRule, source: Source, placeholders: Mapping[str, Sequence[str]]
) -> tuple[ir.Node, AbsentFilters]:
    """The rule's condition as a tree over event fields of ``source`` (its ``where`` included),
    and the negated detections (filters) that test fields ``source`` never carries.

    Such a field reads as absent, as the Sigma specification and pySigma read a field an event
    lacks: a value test on it does not hold, so ``not filter`` holds and the rule may fire
    although a benign exclusion could not be checked. The filters returned say which.
    """
    _check_modifiers(rule.detection.detections.values())
    try:
        parsed = [cond.parsed for cond in rule.detection.parsed_condition]
    except SigmaError as exc:
        raise Rejected(f"condition: {exc}", needle="condition:") from None
    except RecursionError:
        # pySigma parses and copies conditions recursively: 800 `not` exhaust the stack.
        raise Rejected("condition: nested too deeply to be read", needle="condition:") from None
    except Exception as exc:  # noqa: BLE001 - pySigma parses the condition of a hostile rule here
        raise Rejected(
            f"condition: pySigma cannot read it ({type(exc).__name__}: {exc})", needle="condition:"
        ) from None
    for condition in parsed:
        if _deeper_than(condition, MAX_CONDITION_DEPTH):
            # Everything after this point (this translation, the reference evaluator, the
            # compiled conditions) walks the tree recursively: the bound keeps it far from the
            # interpreter's recursion limit wherever it runs.
            raise Rejected(
                f"condition nested more than {MAX_CONDITION_DEPTH} levels deep",
                needle="condition:",
            )
    ctx = _Context(source, placeholders)
    trees = [ctx.node(p, negated=False) for p in parsed]
    # Several conditions in one rule are alternatives (spec: a list of conditions is OR-ed).
    tree: ir.Node = trees[0] if len(trees) == 1 else ir.Or(tuple(trees))
    if source.where:
        wheres: list[ir.Node] = [
            ir.Or(tuple(ir.Leaf(ir.Atom(name, _literal(v))) for v in values))
            for name, values in source.where
        ]
        tree = ir.And((*wheres, tree))
    absent = tuple((name, tuple(sorted(fields))) for name, fields in sorted(ctx.absent.items()))
    return ir.fold_constants(tree), absent


def _deeper_than(tree: Any, limit: int) -> bool:
    """Whether a parsed pySigma condition nests more than ``limit`` levels (no recursion)."""
    stack: list[tuple[Any, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        stack.extend((arg, depth + 1) for arg in getattr(node, "args", ()) or ())
    return False


def _check_modifiers(items: Iterable[SigmaDetection | SigmaDetectionItem]) -> None:
    for item in items:
        if isinstance(item, SigmaDetection):
            _check_modifiers(item.detection_items)
        elif SigmaUTF16Modifier in item.modifiers:
            # pySigma writes the byte order mark as one character, which a following base64
            # encodes as the UTF-8 bytes EF BB BF instead of FF FE: not the value the spec means.
            raise Rejected(
                "the utf16 modifier (UTF-16 with byte order mark) is not evaluated exactly"
            )


def _literal(value: str | int) -> ir.Matcher:
    if isinstance(value, int):
        return ir.Number(value)
    return _pattern(SigmaString(value), cased=False)


def _absent_reading(value: Any) -> bool:
    """What a test gives on a field the event does not have: only ``null`` and ``exists: false``
    hold (pySigma's backends: ``field IS NULL``, ``NOT EXISTS``); every value test fails."""
    if isinstance(value, SigmaExpansion):
        return any(_absent_reading(v) for v in value.values)
    if isinstance(value, SigmaNull):
        return True
    if isinstance(value, SigmaExists):
        return not value.exists
    return False


def _identifier(cond: ConditionFieldEqualsValueExpression) -> str:
    """The detection identifier (``filter_main_x``) a condition leaf comes from."""
    for parent in cond.parent_chain():
        if isinstance(parent, ConditionIdentifier):
            return parent.identifier
    return "condition"


class _Context:
    def __init__(self, source: Source, placeholders: Mapping[str, Sequence[str]]) -> None:
        self.source = source
        self.placeholders = placeholders
        # Negated detections testing fields the source lacks: identifier -> those fields.
        self.absent: dict[str, set[str]] = {}

    def node(self, cond: Any, *, negated: bool) -> ir.Node:
        if isinstance(cond, ConditionAND):
            return ir.And(tuple(self.node(c, negated=negated) for c in cond.args))
        if isinstance(cond, ConditionOR):
            return ir.Or(tuple(self.node(c, negated=negated) for c in cond.args))
        if isinstance(cond, ConditionNOT):
            return ir.Not(self.node(cond.args[0], negated=not negated))
        if isinstance(cond, ConditionFieldEqualsValueExpression):
            missing = self.missing_field(cond)
            if missing is not None:
                if negated:
                    self.absent.setdefault(_identifier(cond), set()).add(missing)
                return ir.Const(_absent_reading(cond.value))
            try:
                return self.field_node(cond)
            except Rejected as exc:
                raise Rejected(exc.reason, exc.field or cond.field, exc.needle) from None
        if isinstance(cond, ConditionValueExpression):
            return self.value(None, cond.value)
        if cond is None:
            raise Rejected("a detection became empty")
        raise Rejected(f"unsupported condition element {type(cond).__name__}")

    def missing_field(self, cond: ConditionFieldEqualsValueExpression) -> str | None:
        """The rule field (or the field a ``fieldref`` names) the source never carries."""
        if not self.source.event_fields(cond.field):
            return cond.field
        value = cond.value
        if isinstance(value, SigmaFieldReference) and not self.source.event_fields(value.field):
            return value.field
        return None

    def field_node(self, cond: ConditionFieldEqualsValueExpression) -> ir.Node:
        names = self.source.event_fields(cond.field)
        if len(names) == 1:
            return self.value(names[0], cond.value)
        # Alternative names of one field (an event has at most one of them): any of them
        # matches, except for absence tests, which need every name absent.
        alternatives = tuple(self.value(n, cond.value) for n in names)
        if isinstance(cond.value, SigmaNull) or (
            isinstance(cond.value, SigmaExists) and not cond.value.exists
        ):
            return ir.And(alternatives)
        return ir.Or(alternatives)

    def value(self, field: str | None, value: Any) -> ir.Node:
        if isinstance(value, SigmaExpansion):
            # Expanded values (windash, base64offset) are alternatives whatever the linking.
            return ir.Or(tuple(self.value(field, v) for v in value.values))
        if isinstance(value, SigmaString):
            cased = isinstance(value, SigmaCasedString)
            if field is None:
                # A keyword is searched inside every value of the event (implicit wildcards).
                value = _surround(value)
            strings = self.expand(value)
            leaves = tuple(ir.Leaf(ir.Atom(field, _pattern(s, cased))) for s in strings)
            return leaves[0] if len(leaves) == 1 else ir.Or(leaves)
        if field is None and not isinstance(value, SigmaRegularExpression | SigmaNumber):
            raise Rejected(f"a keyword cannot be a {type(value).__name__} value")
        if isinstance(value, SigmaFieldReference):
            assert field is not None
            others = self.source.event_fields(value.field)  # never empty: see missing_field
            if len(others) > 1:
                return ir.Or(
                    tuple(
                        ir.Leaf(
                            ir.Atom(
                                field,
                                ir.FieldRef(o, starts=value.starts_with, ends=value.ends_with),
                            )
                        )
                        for o in others
                    )
                )
            other = others[0]
            # startswith: the value starts with the other field's value, so more text may follow.
            return ir.Leaf(
                ir.Atom(field, ir.FieldRef(other, starts=value.starts_with, ends=value.ends_with))
            )
        return ir.Leaf(ir.Atom(field, self.scalar(value)))

    def scalar(self, value: Any) -> ir.Matcher:
        if isinstance(value, SigmaRegularExpression):
            if value.regexp.contains_placeholder():
                value = _expand_regex(value, self.placeholders)
            pattern = value.regexp.to_plain()
            flags = "".join(sorted(_FLAGS[f] for f in value.flags))
            try:
                values.compile_re2(values.regex_text(pattern, flags))
            except re2.error as exc:
                raise Rejected(
                    f"regular expression {pattern!r} is not supported by RE2 (linear-time): {exc}"
                ) from None
            return ir.Regex(pattern, flags)
        if isinstance(value, SigmaCIDRExpression):
            return ir.Cidr(str(value.network))
        if isinstance(value, SigmaCompareExpression):
            op = value.op.name.lower()
            if op == "neq":
                raise Rejected("numeric `neq` comparison is not part of Sigma 2")
            return ir.Compare(op, value.number.number)
        if isinstance(value, SigmaTimestampPart):
            return ir.TimePart(value.timestamp_part.name.lower(), int(value.number))
        if isinstance(value, SigmaBool):
            return ir.Boolean(bool(value.boolean))
        if isinstance(value, SigmaNumber):
            return ir.Number(value.number)
        if isinstance(value, SigmaNull):
            return ir.Null()
        if isinstance(value, SigmaExists):
            return ir.Exists(bool(value.exists))
        raise Rejected(f"value type {type(value).__name__} cannot be evaluated on events")

    def expand(self, value: SigmaString) -> list[SigmaString]:
        if not any(_is_placeholder(part) for part in value.s):
            return [value]
        options: list[list[list[Any]]] = []
        for part in value.s:
            if _is_placeholder(part):
                values = self.placeholders.get(part.name)
                if not values:
                    raise Rejected(
                        f"placeholder %{part.name}% has no values (define it in the placeholders"
                        " file)",
                        needle=f"%{part.name}%",
                    )
                options.append([list(SigmaString(v).s) for v in values])
            else:
                options.append([[part]])
        total = 1
        for o in options:
            total *= len(o)
        if total > MAX_EXPANSION:
            raise Rejected(f"placeholders expand to {total} values (limit {MAX_EXPANSION})")
        out: list[SigmaString] = []
        for combo in itertools.product(*options):
            s = SigmaString()
            s.s = [p for parts in combo for p in parts]
            out.append(s._merge_strs())
        return out


def _is_placeholder(part: object) -> TypeGuard[Placeholder]:
    """An ``expand`` placeholder (``%name%``), which takes the configured values."""
    return isinstance(part, Placeholder) and not isinstance(part, DashPosition)


def _surround(value: SigmaString) -> SigmaString:
    if not value.startswith(SpecialChars.WILDCARD_MULTI):
        value = SpecialChars.WILDCARD_MULTI + value
    if not value.endswith(SpecialChars.WILDCARD_MULTI):
        value = value + SpecialChars.WILDCARD_MULTI
    return value


def _expand_regex(
    value: SigmaRegularExpression, placeholders: Mapping[str, Sequence[str]]
) -> SigmaRegularExpression:
    # A placeholder in a regex becomes an alternation of the escaped values.
    parts: list[str] = []
    for part in value.regexp.s:
        if isinstance(part, Placeholder):
            values = placeholders.get(part.name)
            if not values:
                raise Rejected(
                    f"placeholder %{part.name}% has no values (define it in the placeholders file)",
                    needle=f"%{part.name}%",
                )
            parts.append("(?:" + "|".join(re2.escape(v) for v in values) + ")")
        elif isinstance(part, SpecialChars):
            parts.append("*" if part is SpecialChars.WILDCARD_MULTI else "?")
        else:
            parts.append(part)
    return SigmaRegularExpression("".join(parts), set(value.flags))


def _pattern(value: SigmaString, cased: bool) -> ir.Pattern:
    parts: list[ir.Part] = []
    for part in value.s:
        if isinstance(part, str):
            if parts and isinstance(parts[-1], str):
                parts[-1] = parts[-1] + part
            else:
                parts.append(part)
        elif part is SpecialChars.WILDCARD_MULTI:
            if not (parts and parts[-1] == ir.STAR):  # ``**`` means the same as ``*``
                parts.append(ir.STAR)
        elif part is SpecialChars.WILDCARD_SINGLE:
            parts.append(ir.ONE)
        elif isinstance(part, DashPosition):
            parts.append(ir.DASH)
        else:
            raise Rejected(f"unexpanded placeholder {part!r}")
    return ir.Pattern(tuple(parts), cased)
