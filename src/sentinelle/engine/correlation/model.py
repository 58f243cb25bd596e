"""Correlation rules, typed once: what the windows need and nothing else.

pySigma parses the YAML and validates the structure; this module turns each
``SigmaCorrelationRule`` into a ``CompiledCorrelation`` whose references are resolved to
base rules or to other correlations, whose condition is a list of numeric bounds (or a compiled
boolean expression over the referenced rules), and whose group-by fields are already mapped
through the aliases for each referenced rule. Every reason to reject a correlation is found here,
at load time, with the rule's location.
"""

from __future__ import annotations

import copy
import math
import operator
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sigma.correlations import (
    CorrelationConditionAND,
    CorrelationConditionNOT,
    CorrelationConditionOR,
    SigmaCorrelationRule,
    SigmaExtendedCorrelationCondition,
    SigmaRuleReference,
)
from sigma.exceptions import SigmaError, SigmaRuleLocation

from sentinelle.detections import LEVELS, level_rank
from sentinelle.errors import Location, RuleError

# Where parse_correlation keeps the exact condition pySigma cannot model (ranges, fractions).
EXACT_CONDITION_KEY = "sentinelle_condition"

OPERATORS = ("gt", "gte", "lt", "lte", "eq", "neq")
# Conditions made only of these can be decided the moment they hold: adding an event never makes
# a count smaller, so the first window where the bound holds is the alert.
LOWER_BOUND_OPERATORS = frozenset({"gt", "gte"})


# Finding ordered chains costs (number of rules)^2 per detection and per group.
MAX_ORDERED_RULES = 64


class Kind(StrEnum):
    EVENT_COUNT = "event_count"
    VALUE_COUNT = "value_count"
    TEMPORAL = "temporal"
    TEMPORAL_ORDERED = "temporal_ordered"
    VALUE_SUM = "value_sum"
    VALUE_AVG = "value_avg"
    VALUE_PERCENTILE = "value_percentile"
    VALUE_MEDIAN = "value_median"


NUMERIC_KINDS = frozenset(
    {Kind.VALUE_SUM, Kind.VALUE_AVG, Kind.VALUE_PERCENTILE, Kind.VALUE_MEDIAN}
)
FIELD_KINDS = NUMERIC_KINDS | {Kind.VALUE_COUNT}
TEMPORAL_KINDS = frozenset({Kind.TEMPORAL, Kind.TEMPORAL_ORDERED})


@dataclass(frozen=True, slots=True)
class BaseRuleRef:
    """What the correlator needs to know of a single-event rule a correlation may reference.

    ``id`` is the value the engine puts in ``Detection.rule_id`` for this rule.
    """

    id: str
    name: str | None
    title: str
    level: str = "informational"
    tags: tuple[str, ...] = ()

    @classmethod
    def from_sigma(cls, rule: Any, rule_id: str | None = None) -> BaseRuleRef:
        """Reference to a pySigma ``SigmaRule``; ``rule_id`` overrides its ``id``."""
        ident = rule_id if rule_id is not None else (str(rule.id) if rule.id else rule.name)
        if not ident:
            raise ValueError(f"rule {rule.title!r} has neither id nor name")
        level = rule.level.name.lower() if rule.level is not None else "informational"
        return cls(str(ident), rule.name, str(rule.title), level, tuple(str(t) for t in rule.tags))


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "eq": operator.eq,
    "neq": operator.ne,
}


@dataclass(frozen=True, slots=True)
class Bound:
    op: str
    limit: float

    def holds(self, value: float) -> bool:
        return _COMPARE[self.op](value, self.limit)

    def __str__(self) -> str:
        limit = int(self.limit) if float(self.limit).is_integer() else self.limit
        return f"{self.op} {limit}"


@dataclass(frozen=True, slots=True)
class Threshold:
    """A conjunction of bounds (the spec allows ``gt: 100`` and ``lte: 200`` together)."""

    bounds: tuple[Bound, ...]

    def holds(self, value: float | None) -> bool:
        if value is None:
            return False
        return all(_COMPARE[bound.op](value, bound.limit) for bound in self.bounds)

    @property
    def lower_only(self) -> bool:
        return all(b.op in LOWER_BOUND_OPERATORS for b in self.bounds)

    def __str__(self) -> str:
        return " and ".join(str(b) for b in self.bounds)


RuleSet = Callable[[Collection[int]], bool]


@dataclass(frozen=True, slots=True)
class Target:
    """What a reference resolves to: a base rule (by its detection id) or a correlation."""

    kind: str  # "base" or "correlation"
    key: str  # base rule id (lower case), or the correlation's index as text

    @property
    def subscription(self) -> str:
        return f"{self.kind}:{self.key}"


@dataclass(slots=True)
class CompiledCorrelation:
    """One correlation rule, resolved and typed."""

    index: int
    rule_id: str
    name: str | None
    title: str
    level: str
    tags: tuple[str, ...]
    kind: Kind
    span: float
    span_text: str
    references: tuple[str, ...]  # as written, one per position
    targets: tuple[Target, ...]  # one per position
    group_by: tuple[str, ...]  # names as written (aliases stay aliases)
    group_fields: tuple[tuple[str, ...], ...]  # per position: event field for each group_by name
    value_fields: tuple[tuple[str, ...], ...]  # per position: field(s) of condition.field
    threshold: Threshold | None  # None when an extended (boolean) condition decides
    expression: RuleSet | None
    expression_text: str | None
    percentile: float | None
    generate: bool
    eager: bool  # decided the moment it holds (sliding) vs when an anchored window closes
    location: str

    def describe_condition(self) -> str:
        if self.expression_text is not None:
            return self.expression_text
        text = str(self.threshold)
        if self.percentile is not None:
            text = f"p{_plain(self.percentile)} {text}"
        return text


def _plain(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def location_of(rule: Any) -> Location:
    source = getattr(rule, "source", None)
    if source is None:
        return Location(f"<correlation {getattr(rule, 'title', '?')!r}>")
    return Location(str(source.path), line=source.line)


def parse_correlation(document: Mapping[str, Any], source: SigmaRuleLocation | None = None) -> Any:
    """Parse one correlation document (a dict from ``yaml.safe_load``) with pySigma.

    pySigma 1.5.1 accepts exactly one operator per condition and truncates counts to integers,
    while the specification allows a range (``gt: 100`` with ``lte: 200``) and the metric types
    need fractions (``value_avg`` ``gt: 0.5``). The exact bounds are read from the document and
    kept on the rule (``custom_attributes``); pySigma still validates everything else.
    Raises ``RuleError`` with the location when the document is not a valid correlation.
    """
    where = Location(str(source.path), line=source.line) if source else Location("<correlation>")
    doc = copy.deepcopy(dict(document))
    section = doc.get("correlation")
    exact: dict[str, Any] | None = None
    if isinstance(section, dict) and isinstance(section.get("condition"), dict):
        condition = section["condition"]
        ops = [op for op in OPERATORS if op in condition]
        if ops:
            bounds = [(op, _number(condition[op], f"condition.{op}", where)) for op in ops]
            exact = {"bounds": bounds}
            if "percentile" in condition:
                exact["percentile"] = _number(condition["percentile"], "percentile", where)
            # pySigma sees one integral operator; the real bounds travel next to it.
            slim = {k: v for k, v in condition.items() if k not in OPERATORS and k != "percentile"}
            slim[ops[0]] = 0
            if "percentile" in condition:
                slim["percentile"] = 50
            section["condition"] = slim
    try:
        rule = SigmaCorrelationRule.from_dict(doc, source=source)
    except SigmaError as exc:
        # pySigma appends its own " in <resolved path>:<line>"; the RuleError carries ours.
        message = str(exc).split(" in file ")[0]
        if source is not None:
            message = message.split(f" in {source}")[0]
        raise RuleError(message, where) from exc
    except (ValueError, OverflowError, TypeError, RecursionError) as exc:
        # Python's own errors on hostile values pySigma does not check (a timespan of 5,000
        # digits reaches int()).
        raise RuleError(f"invalid correlation: {type(exc).__name__}: {exc}", where) from None
    if exact is not None:
        rule.custom_attributes[EXACT_CONDITION_KEY] = exact
    return rule


def _number(value: Any, what: str, where: Location) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RuleError(f"correlation {what} must be a number, not {value!r}", where)
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise RuleError(f"correlation {what} must be a finite number", where)
    return number


class _Namespace:
    """Ids and names of every rule a correlation may reference, as pySigma resolves them."""

    def __init__(self, bases: Sequence[BaseRuleRef], correlations: Sequence[Any]) -> None:
        self._targets: dict[str, set[Target]] = {}
        for base in bases:
            target = Target("base", base.id.lower())
            self._add(base.id.lower(), target)
            if base.name:
                self._add(base.name, target)
        for index, rule in enumerate(correlations):
            target = Target("correlation", str(index))
            if getattr(rule, "id", None) is not None:
                self._add(str(rule.id).lower(), target)
            if getattr(rule, "name", None):
                self._add(str(rule.name), target)

    def _add(self, key: str, target: Target) -> None:
        self._targets.setdefault(key, set()).add(target)

    def resolve(self, reference: str) -> Target:
        found = self._targets.get(reference) or self._targets.get(reference.lower())
        if not found:
            raise LookupError(f"references unknown rule {reference!r}")
        if len(found) > 1:
            raise LookupError(f"reference {reference!r} is ambiguous (several rules carry it)")
        return next(iter(found))


def correlation_rule_id(rule: Any, index: int) -> str:
    if getattr(rule, "id", None) is not None:
        return str(rule.id)
    if getattr(rule, "name", None):
        return str(rule.name)
    return f"correlation-{index}"


def compile_correlations(
    correlations: Sequence[SigmaCorrelationRule], bases: Sequence[BaseRuleRef]
) -> tuple[list[CompiledCorrelation], list[RuleError]]:
    """Resolve and type every correlation; rejected ones come back as errors, with reasons.

    The result is in dependency order: a correlation comes after every correlation it references,
    so dispatching in this order lets an inner correlation fire before the outer one sees the
    same instant. A correlation that references a rejected one is rejected too.
    """
    names = _Namespace(bases, correlations)
    base_levels = {b.id.lower(): b.level for b in bases}
    compiled: dict[int, CompiledCorrelation] = {}
    errors: dict[int, RuleError] = {}
    for index, rule in enumerate(correlations):
        try:
            compiled[index] = _compile_one(index, rule, names)
        except RuleError as exc:
            errors[index] = exc

    order = _dependency_order(compiled, correlations, errors)
    ordered = [compiled[i] for i in order]
    for corr in ordered:  # inherited levels need the inner correlations' levels first
        if not corr.level:
            corr.level = _inherited_level(corr, base_levels, compiled)
    return ordered, [errors[i] for i in sorted(errors)]


def _dependency_order(
    compiled: dict[int, CompiledCorrelation], rules: Sequence[Any], errors: dict[int, RuleError]
) -> list[int]:
    state: dict[int, str] = {}
    order: list[int] = []

    def visit(index: int, trail: tuple[int, ...]) -> bool:
        if index in errors:
            return False
        if state.get(index) == "done":
            return True
        if state.get(index) == "active":
            cycle = " -> ".join(compiled[i].title for i in (*trail, index))
            for member in trail[trail.index(index) :]:
                errors.setdefault(
                    member,
                    RuleError(f"correlation cycle: {cycle}", location_of(rules[member])),
                )
            return False
        state[index] = "active"
        for target in compiled[index].targets:
            if target.kind == "correlation":
                inner = int(target.key)
                if not visit(inner, (*trail, index)):
                    reason = errors.get(inner)
                    errors.setdefault(
                        index,
                        RuleError(
                            f"references correlation {correlation_rule_id(rules[inner], inner)} "
                            f"that was rejected ({reason.message if reason else 'cycle'})",
                            location_of(rules[index]),
                        ),
                    )
                    state[index] = "done"
                    return False
        state[index] = "done"
        if index not in errors:
            order.append(index)
        return index not in errors

    for index in sorted(compiled):
        visit(index, ())
    return [i for i in order if i not in errors]


def _inherited_level(
    corr: CompiledCorrelation,
    base_levels: Mapping[str, str],
    compiled: Mapping[int, CompiledCorrelation],
) -> str:
    levels = []
    for target in corr.targets:
        if target.kind == "base":
            levels.append(base_levels.get(target.key, "informational"))
        else:
            levels.append(compiled[int(target.key)].level or "informational")
    return max(levels, key=level_rank, default="informational")


def _compile_one(index: int, rule: Any, names: _Namespace) -> CompiledCorrelation:
    where = location_of(rule)
    if getattr(rule, "errors", None):
        raise RuleError("; ".join(str(e).split(" in file ")[0] for e in rule.errors), where)
    try:
        kind = Kind(str(rule.type.name).lower())
    except ValueError:
        raise RuleError(f"unsupported correlation type {rule.type!r}", where) from None

    condition = rule.condition
    extended = isinstance(condition, SigmaExtendedCorrelationCondition)
    if rule.rules is not None:
        references = tuple(str(r.reference) for r in rule.rules)
    elif extended:
        references = tuple(condition.get_referenced_rules())
    else:
        references = ()
    if not references:
        raise RuleError("correlation references no rule", where)
    if kind is Kind.TEMPORAL_ORDERED and len(references) > MAX_ORDERED_RULES:
        raise RuleError(
            f"temporal_ordered over {len(references)} rules: the chain search costs the square "
            f"of the number of rules per detection, so more than {MAX_ORDERED_RULES} is refused",
            where,
        )
    duplicates = sorted({r for r in references if references.count(r) > 1})
    if duplicates:
        raise RuleError(f"rule(s) listed more than once: {', '.join(duplicates)}", where)

    targets: list[Target] = []
    for reference in references:
        try:
            target = names.resolve(reference)
        except LookupError as exc:
            raise RuleError(str(exc), where) from None
        if target == Target("correlation", str(index)):
            raise RuleError("correlation references itself", where)
        targets.append(target)

    aliases = _aliases(rule, targets, names, where)
    group_by = tuple(str(g) for g in (rule.group_by or ()))
    group_fields = tuple(
        tuple(aliases.get(name, {}).get(pos, name) for name in group_by)
        for pos in range(len(references))
    )

    threshold: Threshold | None = None
    expression: RuleSet | None = None
    expression_text: str | None = None
    percentile: float | None = None
    value_names: tuple[str, ...] = ()
    if extended:
        if kind is not Kind.TEMPORAL:
            raise RuleError(
                "a boolean (extended) condition is only honoured on temporal correlations: "
                "the order of a boolean expression is not defined",
                where,
            )
        positions = {ref: pos for pos, ref in enumerate(references)}
        expression, has_not = _compile_expression(condition.parsed, positions, where)
        expression_text = str(condition.expression)
        eager = not has_not
    else:
        exact = rule.custom_attributes.get(EXACT_CONDITION_KEY) if rule.custom_attributes else None
        if exact is not None:
            bounds = tuple(Bound(op, float(limit)) for op, limit in exact["bounds"])
            percentile = exact.get("percentile")
        else:
            bounds = (Bound(condition.op.name.lower(), float(condition.count)),)
            percentile = None if condition.percentile is None else float(condition.percentile)
        threshold = Threshold(bounds)
        if _empty_range(bounds):
            raise RuleError(f"condition '{threshold}' can never hold", where)
        eager = threshold.lower_only
        fieldref = condition.fieldref
        if kind in FIELD_KINDS:
            if not fieldref:
                raise RuleError(f"{kind} correlation needs condition.field", where)
            value_names = (fieldref,) if isinstance(fieldref, str) else tuple(map(str, fieldref))
            if kind in NUMERIC_KINDS and len(value_names) != 1:
                raise RuleError(f"{kind} takes exactly one condition.field", where)
        elif fieldref:
            raise RuleError(f"condition.field has no meaning for {kind}", where)
        if kind is Kind.VALUE_MEDIAN:
            if percentile is not None and percentile != 50:
                raise RuleError("value_median takes no percentile other than 50", where)
            percentile = 50.0
        elif kind is Kind.VALUE_PERCENTILE:
            if percentile is None:
                raise RuleError(
                    "value_percentile needs condition.percentile (0-100): without it the "
                    "threshold has no defined meaning (pySigma backends refuse it too)",
                    where,
                )
            if not 0 <= percentile <= 100:
                raise RuleError(f"percentile {percentile} is outside 0-100", where)
        elif percentile is not None:
            raise RuleError(f"condition.percentile has no meaning for {kind}", where)

    value_fields = tuple(
        tuple(aliases.get(name, {}).get(pos, name) for name in value_names)
        for pos in range(len(references))
    )
    level = rule.level.name.lower() if getattr(rule, "level", None) is not None else ""
    if level and level not in LEVELS:
        level = ""
    return CompiledCorrelation(
        index=index,
        rule_id=correlation_rule_id(rule, index),
        name=str(rule.name) if rule.name else None,
        title=str(rule.title),
        level=level,
        tags=tuple(str(t) for t in (rule.tags or ())),
        kind=kind,
        span=float(rule.timespan.seconds),
        span_text=str(rule.timespan.spec),
        references=references,
        targets=tuple(targets),
        group_by=group_by,
        group_fields=group_fields,
        value_fields=value_fields,
        threshold=threshold,
        expression=expression,
        expression_text=expression_text,
        percentile=percentile,
        generate=bool(rule.generate),
        eager=eager,
        location=str(where),
    )


def _aliases(
    rule: Any, targets: Sequence[Target], names: _Namespace, where: Location
) -> dict[str, dict[int, str]]:
    """alias name -> {position of a referenced rule: event field name for that rule}."""
    out: dict[str, dict[int, str]] = {}
    for alias in rule.aliases or ():
        per_position: dict[int, str] = {}
        for reference, field in alias.mapping.items():
            text = reference.reference if isinstance(reference, SigmaRuleReference) else reference
            try:
                target = names.resolve(str(text))
            except LookupError as exc:
                raise RuleError(f"alias {alias.alias!r}: {exc}", where) from None
            positions = [pos for pos, t in enumerate(targets) if t == target]
            if not positions:
                raise RuleError(
                    f"alias {alias.alias!r} maps rule {text!r} that the correlation does not use",
                    where,
                )
            for pos in positions:
                per_position[pos] = str(field)
        out[str(alias.alias)] = per_position
    return out


def _empty_range(bounds: Sequence[Bound]) -> bool:
    low, low_strict = -math.inf, False
    high, high_strict = math.inf, False
    for b in bounds:
        if b.op in ("gt", "gte") and (b.limit > low or (b.limit == low and b.op == "gt")):
            low, low_strict = b.limit, b.op == "gt"
        elif b.op in ("lt", "lte") and (b.limit < high or (b.limit == high and b.op == "lt")):
            high, high_strict = b.limit, b.op == "lt"
        elif b.op == "eq":
            if b.limit < low or b.limit > high:
                return True
            low = high = b.limit
            low_strict = high_strict = False
    if low > high:
        return True
    return low == high and (low_strict or high_strict)


def _compile_expression(
    node: Any, positions: Mapping[str, int], where: Location
) -> tuple[RuleSet, bool]:
    """Compile a pySigma extended condition into a test over the set of positions seen."""
    if isinstance(node, SigmaRuleReference):
        if node.reference not in positions:
            raise RuleError(f"condition names {node.reference!r}, not in rules", where)
        pos = positions[node.reference]
        return (lambda seen: pos in seen), False
    parts = [_compile_expression(arg, positions, where) for arg in node.args]
    tests = [p[0] for p in parts]
    has_not = any(p[1] for p in parts)
    if isinstance(node, CorrelationConditionNOT):
        inner = tests[0]
        return (lambda seen: not inner(seen)), True
    if isinstance(node, CorrelationConditionAND):
        return (lambda seen: all(t(seen) for t in tests)), has_not
    if isinstance(node, CorrelationConditionOR):
        return (lambda seen: any(t(seen) for t in tests)), has_not
    raise RuleError(f"unsupported condition node {type(node).__name__}", where)
