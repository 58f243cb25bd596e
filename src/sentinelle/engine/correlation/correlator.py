"""The streaming correlator: detections in, correlation detections out.

Routing: a detection is handed to every correlation that references its rule (base rules by id
or name); a correlation's own output is handed, in the same call, to the correlations that
reference it. Time only moves forward: each call first closes every anchored window that ended
before the new detection, in time order, so that outputs (and chained inputs) stay in
non-decreasing time order.

Two ways of deciding, chosen per rule at load time (``CompiledCorrelation.eager``):

* sliding windows, for conditions that are lower bounds only (``gt``/``gte``, or a boolean
  condition without ``not``): the window is the ``timespan`` ending at each detection, and the
  correlation fires at the detection that makes the condition hold;
* anchored windows, for everything that needs to know what did *not* happen (``lt``, ``lte``,
  ``eq``, ``neq``, ranges, ``not``): the window opens at a group's first detection, lasts
  ``timespan``, and is judged when it closes (or at the end of the input).

docs/SEMANTICS.md (## Correlations) states every decision and why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sigma.correlations import SigmaCorrelationRule

from sentinelle.detections import Detection
from sentinelle.engine.correlation.aggregates import (
    NO_VALUE,
    Aggregate,
    CountAggregate,
    DistinctAggregate,
    OrderedAggregate,
    PercentileAggregate,
    SumAggregate,
    TemporalAggregate,
)
from sentinelle.engine.correlation.model import (
    NUMERIC_KINDS,
    BaseRuleRef,
    CompiledCorrelation,
    Kind,
    compile_correlations,
)
from sentinelle.engine.correlation.state import Group, Key, RuleState
from sentinelle.errors import RuleError
from sentinelle.events import Event


@dataclass(frozen=True, slots=True)
class CorrelationLimits:
    """Hard caps on the state of each correlation rule; every eviction is counted.

    ``max_groups``: open groups per correlation (the furthest from its threshold evicted
    first, see ``state``).
    ``max_entries``: window entries per correlation, all groups together.
    ``max_entries_per_group``: window entries of one group (oldest evicted first).
    ``sample_events``: contributing events kept per group and attached to an alert.
    ``sample_bytes``: what the kept events of one correlation's groups may cost in all.
    """

    max_groups: int = 100_000
    max_entries: int = 1_000_000
    max_entries_per_group: int = 100_000
    sample_events: int = 10
    sample_bytes: int = 64 * 1024 * 1024


@dataclass(slots=True)
class Eviction:
    """What one correlation rule had to forget because a cap was reached.

    ``groups``: groups evicted (their windows lost: an attack in one of them may go unseen);
    ``entries``: window entries dropped by the per-group cap (its alerts are approximate);
    ``events``: events its alerts could not keep to show (``sample_bytes``);
    ``first``/``last``: the input times of the first and the latest eviction of a group or
    an entry (events not kept count only: their windows are whole).
    """

    rule_id: str
    title: str
    groups: int = 0
    entries: int = 0
    events: int = 0
    first: float | None = None
    last: float | None = None

    def count(self, at: float, groups: int = 0, entries: int = 0, events: int = 0) -> None:
        self.groups += groups
        self.entries += entries
        self.events += events
        if (groups or entries) and math.isfinite(at):
            self.first = at if self.first is None else min(self.first, at)
            self.last = at if self.last is None else max(self.last, at)

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "groups": self.groups,
            "entries": self.entries,
            "events": self.events,
            "first": self.first,
            "last": self.last,
        }


@dataclass(slots=True)
class CorrelationStats:
    """What the correlator could not use or had to forget; the hunt summary prints it, and a
    service reads it (``Correlator.stats``) for its health."""

    detections: int = 0
    untimed: int = 0  # detections without a timestamp: cannot be placed in any window
    out_of_order: int = 0  # older than a previous one: processed at the latest time seen
    missing_values: int = 0  # the condition field is absent from the event
    non_numeric_values: int = 0  # value_sum/avg/percentile field that is not a number
    evictions: dict[str, Eviction] = field(default_factory=dict)  # by rule id
    emitted: int = 0
    hidden: int = 0  # outputs of correlations referenced with generate: false

    @property
    def evicted_groups(self) -> dict[str, int]:
        """Groups evicted, by rule id (rules that evicted none are left out)."""
        return {rid: e.groups for rid, e in self.evictions.items() if e.groups}

    @property
    def evicted_entries(self) -> dict[str, int]:
        """Window entries dropped by the per-group cap, by rule id."""
        return {rid: e.entries for rid, e in self.evictions.items() if e.entries}

    def as_dict(self) -> dict[str, Any]:
        return {
            "detections": self.detections,
            "untimed": self.untimed,
            "out_of_order": self.out_of_order,
            "missing_values": self.missing_values,
            "non_numeric_values": self.non_numeric_values,
            "evictions": {rid: e.as_dict() for rid, e in self.evictions.items()},
            "emitted": self.emitted,
            "hidden": self.hidden,
        }


class Correlator:
    """Sigma correlation rules over a stream of detections in non-decreasing time order."""

    def __init__(
        self,
        correlations: Sequence[SigmaCorrelationRule],
        base_rules: Sequence[BaseRuleRef],
        limits: CorrelationLimits | None = None,
    ) -> None:
        self.limits = limits or CorrelationLimits()
        compiled, errors = compile_correlations(correlations, base_rules)
        self.errors: tuple[RuleError, ...] = tuple(errors)
        self.stats = CorrelationStats()
        self._rules = [RuleState(c) for c in compiled]
        by_index = {r.corr.index: r for r in self._rules}
        # subscription key -> [(rule, position)], in dependency order (inner rules first)
        self._routes: dict[str, list[tuple[RuleState, int]]] = {}
        names: dict[str, str] = {b.name: b.id.lower() for b in base_rules if b.name}
        self._base_names = names
        suppressed: set[str] = set()
        for rule in self._rules:
            for pos, target in enumerate(rule.corr.targets):
                self._routes.setdefault(target.subscription, []).append((rule, pos))
                if not rule.corr.generate:
                    if target.kind == "base":
                        suppressed.add(target.key)
                    else:
                        by_index[int(target.key)].hidden = True
        ids = {b.id.lower(): b.id for b in base_rules}
        self.suppressed_rule_ids: frozenset[str] = frozenset(ids[k] for k in suppressed)
        self._anchored = [r for r in self._rules if not r.corr.eager]
        self._clock = -math.inf
        self._since_sweep = 0

    @property
    def rules(self) -> tuple[CompiledCorrelation, ...]:
        """The correlations that loaded, in dependency order."""
        return tuple(r.corr for r in self._rules)

    # ------------------------------------------------------------------ input

    def feed(self, detection: Detection) -> list[Detection]:
        """Take one detection; return the correlation detections it (or the time) completed.

        Every detection moves the clock, even one no correlation references: an anchored window
        that ended before it is judged now, so no output is ever older than a detection fed
        before it (callers that interleave outputs with their input rely on this).
        """
        self.stats.detections += 1
        routes = self._routes_for(detection)
        ts = detection.timestamp
        if ts is None or not math.isfinite(ts):
            if routes:
                self.stats.untimed += 1
            return []
        out: list[Detection] = []
        if ts > self._clock:
            self._advance(ts, out)
            self._clock = ts
        if not routes:
            return out
        if ts < self._clock:
            self.stats.out_of_order += 1
            ts = self._clock
        self._dispatch(detection, ts, routes, out)
        self._since_sweep += 1
        if self._since_sweep >= 4096:
            self._since_sweep = 0
            self._sweep(ts)
        return out

    def flush(self) -> list[Detection]:
        """End of input: judge every anchored window still open and forget all state.

        Sliding-window rules have nothing pending (they fired when their condition held).
        Anchored windows cut short by the end of the input are judged on what they saw, with
        ``details["window_complete"] = False`` and the time of the last input as timestamp.
        """
        out: list[Detection] = []
        end = self._clock
        for rule in self._rules:  # dependency order: inner outputs reach outer rules first
            if rule.corr.eager:
                continue
            while (group := rule.first()) is not None:
                self._drop(rule, group)
                close = group.opened + rule.corr.span
                self._judge_closed(rule, group, min(close, end), close <= end, out)
        for rule in self._rules:
            rule.clear()
        return out

    def evictions(self) -> list[Eviction]:
        """Per correlation rule, what its caps made it forget so far (rules that lost nothing
        are left out); for the hunt summary and a service's health."""
        return list(self.stats.evictions.values())

    def _routes_for(self, detection: Detection) -> list[tuple[RuleState, int]]:
        if detection.rule_type == "correlation":
            return []  # correlation outputs travel inside the correlator only
        key = detection.rule_id.lower()
        routes = self._routes.get("base:" + key)
        if routes is None and detection.rule_name:
            base = self._base_names.get(detection.rule_name)
            if base is not None:
                routes = self._routes.get("base:" + base)
        return routes or []

    # ---------------------------------------------------------------- routing

    def _dispatch(
        self,
        detection: Detection,
        ts: float,
        routes: list[tuple[RuleState, int]],
        out: list[Detection],
    ) -> None:
        self._clock = max(self._clock, ts)
        for rule, pos in routes:
            produced = self._update(rule, pos, detection, ts)
            if produced is not None:
                self._emit(rule, produced, out)

    def _emit(self, rule: RuleState, produced: Detection, out: list[Detection]) -> None:
        if rule.hidden:
            self.stats.hidden += 1
        else:
            self.stats.emitted += 1
            out.append(produced)
        routes = self._routes.get(f"correlation:{rule.corr.index}")
        if routes and produced.timestamp is not None:
            self._dispatch(produced, produced.timestamp, routes, out)

    def _advance(self, ts: float, out: list[Detection]) -> None:
        """Close, in time order, every anchored window that ended before ``ts``."""
        while True:
            first: RuleState | None = None
            first_close = math.inf
            for rule in self._anchored:
                group = rule.first()
                if group is not None:
                    close = group.opened + rule.corr.span
                    if close < ts and close < first_close:
                        first, first_close = rule, close
            if first is None:
                return
            group = first.first()
            assert group is not None
            self._drop(first, group)
            self._clock = max(self._clock, first_close)
            self._judge_closed(first, group, first_close, True, out)

    def _sweep(self, ts: float) -> None:
        """Drop sliding groups whose whole window has expired (bounded work, amortised)."""
        for rule in self._rules:
            if rule.corr.eager:
                self._expire_idle(rule, ts - rule.corr.span)

    def _expire_idle(self, rule: RuleState, cutoff: float) -> None:
        while (group := rule.first()) is not None and group.last_ts < cutoff:
            self._drop(rule, group)

    def _drop(self, rule: RuleState, group: Group) -> None:
        """Take a group out of the state (expired, closed or evicted)."""
        rule.remove(group)
        rule.entries -= group.aggregate.size

    # ---------------------------------------------------------------- windows

    def _update(
        self, rule: RuleState, pos: int, detection: Detection, ts: float
    ) -> Detection | None:
        """Add one detection to its group's window; the alert when a sliding window fires."""
        corr = rule.corr
        values = tuple(field_value(detection, f) for f in corr.group_fields[pos])
        key = tuple(map(_hashable, values))
        payload = self._payload(corr, pos, detection)
        # Sliding windows end at this detection; anchored ones keep all they saw until closing.
        cutoff = ts - corr.span if corr.eager else -math.inf
        if corr.kind is Kind.TEMPORAL_ORDERED:
            payload = cutoff  # chains are filtered by their start, not stored as entries
        group = rule.groups.get(key)
        if group is None:
            group = self._new_group(rule, key, values, ts)
        elif corr.eager:
            before = group.aggregate.size
            group.aggregate.expire(cutoff)
            rule.entries -= before - group.aggregate.size
            if not group.armed and (
                group.fire_ts < cutoff or not self._holds(corr, group.aggregate, cutoff)
            ):
                # The last alert's detection has left the window, or the condition stopped
                # holding in between: what follows is a new episode.
                group.armed = True
        self._add(rule, group, pos, payload, _event_of(detection), ts)
        if not corr.eager:
            rule.touched(group, None)
            return None
        value = group.aggregate.value(cutoff) if corr.threshold is not None else None
        fired: Detection | None = None
        if group.armed and self._holds(corr, group.aggregate, cutoff, value):
            group.armed = False
            group.fire_ts = ts
            fired = self._output(rule, group, ts, cutoff, complete=True)
        rule.touched(group, value)  # now the most recently active, at its new level
        self._expire_idle(rule, cutoff)
        return fired

    def _new_group(self, rule: RuleState, key: Key, values: Key, ts: float) -> Group:
        limits = self.limits
        if len(rule) >= limits.max_groups and rule.corr.eager:
            self._expire_idle(rule, ts - rule.corr.span)  # expired groups are not evictions
        while len(rule) >= limits.max_groups:
            self._evict(rule, rule.victim(), ts)
        group = Group(self._aggregate(rule.corr), key, values, ts)
        rule.add(group)
        return group

    def _evict(self, rule: RuleState, victim: Group | None, ts: float) -> None:
        if victim is None:
            return
        self._drop(rule, victim)
        self._eviction(rule, ts, groups=1)

    def _eviction(
        self, rule: RuleState, at: float, groups: int = 0, entries: int = 0, events: int = 0
    ) -> None:
        rid = rule.corr.rule_id
        record = self.stats.evictions.get(rid)
        if record is None:
            record = self.stats.evictions[rid] = Eviction(rid, rule.corr.title)
        record.count(at, groups, entries, events)

    def _add(
        self,
        rule: RuleState,
        group: Group,
        pos: int,
        payload: Any,
        event: Event | None,
        ts: float,
    ) -> None:
        aggregate = group.aggregate
        before = aggregate.size
        aggregate.add(ts, pos, payload, event)
        rule.entries += aggregate.size - before
        group.last_ts = ts
        limits = self.limits
        if event is not None:
            unkept = group.unkept
            rule.keep_event(group, ts, event, limits.sample_events, limits.sample_bytes)
            if group.unkept != unkept:
                self._eviction(rule, ts, events=1)
        while aggregate.size > limits.max_entries_per_group:
            before = aggregate.size
            aggregate.evict_oldest()
            dropped = before - aggregate.size
            rule.entries -= dropped
            group.approximate = True
            self._eviction(rule, ts, entries=dropped)
        while rule.entries > limits.max_entries and len(rule) > 1:
            self._evict(rule, rule.victim(keep=group), ts)

    def _aggregate(self, corr: CompiledCorrelation) -> Aggregate:
        match corr.kind:
            case Kind.EVENT_COUNT:
                return CountAggregate()
            case Kind.VALUE_COUNT:
                return DistinctAggregate()
            case Kind.VALUE_SUM:
                return SumAggregate(average=False)
            case Kind.VALUE_AVG:
                return SumAggregate(average=True)
            case Kind.VALUE_PERCENTILE | Kind.VALUE_MEDIAN:
                assert corr.percentile is not None
                return PercentileAggregate(corr.percentile)
            case Kind.TEMPORAL:
                return TemporalAggregate(len(corr.targets), corr.expression)
            case Kind.TEMPORAL_ORDERED:
                return OrderedAggregate(len(corr.targets))

    @staticmethod
    def _holds(
        corr: CompiledCorrelation,
        aggregate: Aggregate,
        cutoff: float,
        value: float | None = None,
    ) -> bool:
        """Whether the condition holds; ``value``: the measure, when already computed."""
        if corr.expression is not None:
            assert isinstance(aggregate, TemporalAggregate)
            return aggregate.holds()
        assert corr.threshold is not None
        return corr.threshold.holds(aggregate.value(cutoff) if value is None else value)

    def _judge_closed(
        self, rule: RuleState, group: Group, at: float, complete: bool, out: list[Detection]
    ) -> None:
        if self._holds(rule.corr, group.aggregate, -math.inf):
            produced = self._output(rule, group, at, -math.inf, complete=complete)
            self._emit(rule, produced, out)

    # ------------------------------------------------------------- extraction

    def _payload(self, corr: CompiledCorrelation, pos: int, detection: Detection) -> Any:
        kind = corr.kind
        if kind is Kind.VALUE_COUNT:
            values = [field_value(detection, f) for f in corr.value_fields[pos]]
            if all(v is None for v in values):
                self.stats.missing_values += 1
                return NO_VALUE  # like SQL COUNT(DISTINCT f): absent values are not counted
            return _hashable(values[0]) if len(values) == 1 else tuple(map(_hashable, values))
        if kind in NUMERIC_KINDS:
            raw = field_value(detection, corr.value_fields[pos][0])
            if raw is None:
                self.stats.missing_values += 1
                return NO_VALUE
            number = as_number(raw)
            if number is None:
                self.stats.non_numeric_values += 1
                return NO_VALUE
            return number
        return None

    # ----------------------------------------------------------------- output

    def _output(
        self, rule: RuleState, group: Group, at: float, cutoff: float, complete: bool
    ) -> Detection:
        corr = rule.corr
        aggregate = group.aggregate
        chosen = aggregate.contributing(cutoff)
        if chosen is None:
            chosen = [(ts, ev) for ts, ev in group.sample or () if ts >= cutoff]
        events = tuple(ev for _, ev in chosen[-self.limits.sample_events :])
        first = aggregate.first_ts(cutoff)
        if first is None:
            first = chosen[0][0] if chosen else group.opened
        details: dict[str, Any] = {
            "correlation_type": str(corr.kind),
            "condition": corr.describe_condition(),
            "timespan": corr.span_text,
            "window": "sliding" if corr.eager else "anchored",
            "references": list(corr.references),
        }
        if corr.kind in (Kind.TEMPORAL, Kind.TEMPORAL_ORDERED):
            details["rules_matched"] = _rules_matched(corr, aggregate, cutoff)
        if not corr.eager:
            details["window_start"] = group.opened
            details["window_complete"] = complete
        if group.approximate:
            details["approximate"] = True  # entries were evicted by the per-group cap
        if group.unkept:
            details["events_not_kept"] = group.unkept  # past the rule's sample_bytes
        return Detection(
            rule_id=corr.rule_id,
            rule_title=corr.title,
            level=corr.level,
            timestamp=at,
            tags=corr.tags,
            rule_type="correlation",
            events=events,
            group=dict(zip(corr.group_by, group.values, strict=True)),
            first_seen=first,
            last_seen=group.last_ts,
            value=aggregate.value(cutoff),
            details=details,
            rule_name=corr.name,
        )


def _rules_matched(corr: CompiledCorrelation, aggregate: Aggregate, cutoff: float) -> list[str]:
    if isinstance(aggregate, TemporalAggregate):
        return [corr.references[pos] for pos in sorted(aggregate.seen())]
    assert isinstance(aggregate, OrderedAggregate)
    return [corr.references[pos] for pos in aggregate.chain_positions(cutoff)]


def _event_of(detection: Detection) -> Event | None:
    if detection.event is not None:
        return detection.event
    return detection.events[-1] if detection.events else None


def field_value(detection: Detection, name: str) -> Any:
    """A field of a detection: its event's field, or for a correlation detection (chained
    correlations) its group-by value, else the field of its latest contributing event."""
    if detection.event is not None:
        return detection.event.fields.get(name)
    if name in detection.group:
        return detection.group[name]
    if detection.events:
        return detection.events[-1].fields.get(name)
    return None


def as_number(value: Any) -> int | float | None:
    """A field value as a number: ints and floats as they are, numeric text parsed.

    Booleans, NaN and infinities are not numbers here.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip()
        if not text.isascii() or "_" in text:
            return None  # int() would take "1_000" and non-Latin digits; logs do not mean those
        try:
            return int(text, 10)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _hashable(value: Any) -> Any:
    """Group keys compare values exactly (case and type included), like SQL GROUP BY."""
    kind = type(value)
    if kind is str or kind is int or value is None:
        return value
    if kind is float:
        return ("nan",) if math.isnan(value) else value  # NaN != NaN: one group per event
    if kind is bool:
        return ("bool", value)  # True must not merge with 1
    if isinstance(value, list | tuple):
        return ("list", *(_hashable(v) for v in value))
    if isinstance(value, dict):
        return ("map", *sorted((str(k), _hashable(v)) for k, v in value.items()))
    return (kind.__name__, repr(value))
