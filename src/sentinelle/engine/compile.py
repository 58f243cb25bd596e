"""``CompiledRules``: the rule set turned into per-logsource buckets of multi-pattern matchers.

An event meets only the rules of its channel and event id (one dict lookup). Within that bucket
every field value is scanned once against all atoms on that field (``matchers``); the rules with
at least one satisfied atom, plus the few whose condition holds with no atom satisfied (``not x``),
then evaluate their condition, compiled into closures over the set of satisfied atom ids.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sentinelle.detections import Detection
from sentinelle.engine import ir, reference, values
from sentinelle.engine.matchers import FieldMatcher
from sentinelle.engine.plan import Plan, RuleInfo, Variant
from sentinelle.errors import RuleError
from sentinelle.events import Event, EventBatch

Cond = Callable[[set[int] | frozenset[int]], bool]
BucketKey = tuple[str | None, int | None]
_MEMO_LIMIT = 4096
_EMPTY: frozenset[int] = frozenset()


def compile_condition(node: ir.Node, ids: Mapping[ir.Atom, int]) -> Cond:
    """A closure deciding the tree from the set of satisfied atom ids (EQL-style)."""
    if isinstance(node, ir.Leaf):
        aid = ids[node.atom]
        return lambda h: aid in h
    if isinstance(node, ir.Const):
        value = node.value
        return lambda h: value
    if isinstance(node, ir.Not):
        inner = compile_condition(node.child, ids)
        return lambda h: not inner(h)
    if isinstance(node, ir.And | ir.Or):
        leaves = frozenset(ids[c.atom] for c in node.children if isinstance(c, ir.Leaf))
        rest = [compile_condition(c, ids) for c in node.children if not isinstance(c, ir.Leaf)]
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


class Bucket:
    """The rules of one (channel, event id), with their atoms grouped by field."""

    __slots__ = ("always", "atom_rules", "conds", "fields", "keywords")

    def __init__(self, variants: Sequence[Variant]) -> None:
        ids: dict[ir.Atom, int] = {}
        by_field: dict[str | None, list[tuple[int, ir.Matcher]]] = defaultdict(list)
        atom_rules: dict[int, set[int]] = defaultdict(set)
        self.conds: dict[int, list[Cond]] = defaultdict(list)
        always: set[int] = set()
        for v in variants:
            for atom in ir.atoms_of(v.tree):
                aid = ids.get(atom)
                if aid is None:
                    aid = ids[atom] = len(ids)
                    by_field[atom.field].append((aid, atom.matcher))
                atom_rules[aid].add(v.rule)
            cond = compile_condition(v.tree, ids)
            self.conds[v.rule].append(cond)
            if cond(_EMPTY):
                always.add(v.rule)
        self.conds = dict(self.conds)
        self.atom_rules = {aid: tuple(sorted(rules)) for aid, rules in atom_rules.items()}
        self.always = tuple(sorted(always))
        self.keywords = FieldMatcher(by_field.pop(None)) if None in by_field else None
        self.fields = [
            (name, FieldMatcher(atoms)) for name, atoms in by_field.items() if name is not None
        ]

    def match(self, fields: dict[str, Any]) -> list[int]:
        hits: set[int] = set()
        for name, fm in self.fields:
            raw = fields.get(name, _MISSING)
            if raw is _MISSING:
                if fm.absent:
                    hits.update(fm.absent)
            else:
                fm.scan(raw, fields, hits)
        if self.keywords is not None:
            kw = self.keywords
            for raw in fields.values():
                for v in values.scalars(raw):
                    kw.scan_scalar(v, fields, hits)
        if not hits:
            return list(self.always)
        candidates: set[int] = set(self.always)
        atom_rules = self.atom_rules
        for aid in hits:
            candidates.update(atom_rules[aid])
        conds = self.conds
        return [r for r in sorted(candidates) if any(c(hits) for c in conds[r])]


_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class _Index:
    keys: frozenset[BucketKey]
    buckets: dict[tuple[BucketKey, ...], Bucket]


class CompiledRules:
    """A compiled rule set. Pickles as its plan; the matchers are rebuilt where it is unpickled.

    ``reference=True`` evaluates with the plain reference evaluator instead (same results, slow);
    the tests run every case both ways.
    """

    def __init__(
        self, plan: Plan, correlations: Sequence[Any] = (), *, reference: bool = False
    ) -> None:
        self._plan = plan
        self._correlations = list(correlations)
        self.reference = reference
        self._setup()

    @property
    def rules(self) -> list[RuleInfo]:
        return self._plan.rules

    @property
    def errors(self) -> list[RuleError]:
        return self._plan.errors

    @property
    def plan(self) -> Plan:
        return self._plan

    @property
    def correlations(self) -> list[Any]:
        """The pySigma correlation rules of the set, references resolved."""
        return self._correlations

    def __getstate__(self) -> dict[str, Any]:
        return {"plan": self._plan, "correlations": self._correlations, "reference": self.reference}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._plan = state["plan"]
        self._correlations = state["correlations"]
        self.reference = state["reference"]
        self._setup()

    def _setup(self) -> None:
        self._by_key: dict[BucketKey, list[Variant]] = defaultdict(list)
        for v in self._plan.variants:
            for eid in v.event_ids or (None,):
                self._by_key[(v.channel, eid)].append(v)
        self._by_key = dict(self._by_key)
        self._buckets: dict[tuple[BucketKey, ...], Bucket] = {}
        self._memo: dict[tuple[Any, Any], Bucket | None] = {}
        self._info = self._plan.rules

    def warm(self) -> None:
        """Build every bucket now rather than on the first event that needs it."""
        for key in self._by_key:
            self._bucket_for(key[0], key[1])

    def _bucket_for(self, channel: str | None, eid: int | None) -> Bucket | None:
        keys = tuple(
            k
            for k in ((channel, eid), (channel, None), (None, eid), (None, None))
            if k in self._by_key
        )
        if not keys:
            return None
        bucket = self._buckets.get(keys)
        if bucket is None:
            variants = sorted((v for k in keys for v in self._by_key[k]), key=lambda v: v.rule)
            bucket = self._buckets[keys] = Bucket(variants)
        return bucket

    def _matching_rules(self, fields: dict[str, Any]) -> list[int]:
        channel = fields.get("Channel")
        eid = fields.get("EventID")
        key = (channel, eid)
        try:
            bucket = self._memo[key]
        except (KeyError, TypeError):
            ch = channel.lower() if isinstance(channel, str) else None
            n = values.number(eid)
            bucket = self._bucket_for(ch, n if isinstance(n, int) else None)
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()  # hostile input with endless channels: stay bounded
            with contextlib.suppress(TypeError):  # unhashable channel or id value
                self._memo[key] = bucket
        if bucket is None:
            return []
        return bucket.match(fields)

    def _reference_rules(self, fields: dict[str, Any]) -> list[int]:
        channel = fields.get("Channel")
        ch = channel.lower() if isinstance(channel, str) else None
        n = values.number(fields.get("EventID"))
        out: list[int] = []
        for v in self._plan.variants:
            if out and out[-1] == v.rule:
                continue
            if v.channel is not None and v.channel != ch:
                continue
            if v.event_ids and n not in v.event_ids:
                continue
            if reference.evaluate(v.tree, fields):
                out.append(v.rule)
        return sorted(set(out))

    def match(self, event: Event) -> list[Detection]:
        """Detections of every rule that matches ``event``, in rule order."""
        fields = event.fields
        idx = self._reference_rules(fields) if self.reference else self._matching_rules(fields)
        if not idx:
            return []
        return [self._detection(self._info[i], event) for i in idx]

    def match_batch(self, batch: EventBatch | Iterable[Event]) -> list[Detection]:
        out: list[Detection] = []
        match = self.match
        for event in batch:
            found = match(event)
            if found:
                out.extend(found)
        return out

    @staticmethod
    def _detection(info: RuleInfo, event: Event) -> Detection:
        det = Detection(
            rule_id=info.id,
            rule_title=info.title,
            level=info.level,
            timestamp=event.timestamp,
            tags=info.tags,
            rule_type="detection",
            event=event,
            rule_name=info.name,
        )
        if info.suppressed:
            det.details["suppressed"] = True
        return det

    def correlator(self) -> Any:
        """A fresh correlator for the correlation rules of the set."""
        from sentinelle.engine.correlation import Correlator

        return Correlator(self._correlations, base_rule_refs(self._plan.rules))


def base_rule_refs(rules: Sequence[RuleInfo]) -> list[Any]:
    """The detection rules as the correlator knows them (``BaseRuleRef``)."""
    from sentinelle.engine.correlation import BaseRuleRef

    return [BaseRuleRef(r.id, r.name, r.title, r.level, r.tags) for r in rules]
