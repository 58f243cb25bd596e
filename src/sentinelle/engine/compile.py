"""``CompiledRules``: the rule set turned into per-logsource buckets of multi-pattern matchers.

An event meets only the rules of its channel and event id (one dict lookup). Within that bucket
every field holding a trigger atom is scanned once against all atoms on that field
(``matchers``), the atoms and the rules a value gives being remembered per value; the rules with
a satisfied trigger, plus the few whose condition holds with no atom satisfied (``not x``), are
the candidates. The other fields they test are scanned next, then their conditions, compiled to
one Python expression each over the set of satisfied atom ids, decide.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sentinelle.detections import Detection
from sentinelle.engine import ir, reference, values
from sentinelle.engine.matchers import MEMO_MAX_LEN, MEMO_SIZE, FieldMatcher, regex_trigger
from sentinelle.engine.plan import Plan, RuleInfo, Variant
from sentinelle.errors import RuleError
from sentinelle.events import Event, EventBatch

Cond = Callable[[set[int] | frozenset[int]], bool]
BucketKey = tuple[str | None, int | None]
_MEMO_LIMIT = 4096
_GUARD = "\0"  # bucket keys of channel-less sources: NUL + the guard field name
_EMPTY: frozenset[int] = frozenset()
# What a value of a field gives: the atoms it satisfies, the rules they make candidates.
Remembered = tuple[frozenset[int], frozenset[int]]
_NOTHING: Remembered = (_EMPTY, _EMPTY)


def compile_condition(node: ir.Node, ids: Mapping[ir.Atom, int]) -> Cond:
    """A function deciding the tree from the set of satisfied atom ids.

    The tree becomes one Python expression compiled to bytecode: several times faster than
    nested closures (no generator or call per node). The expression holds only atom ids and
    names of constants made here, never text from a rule. Trees too deep for the compiler fall
    back to closures.
    """
    consts: dict[str, object] = {}
    try:
        source = _expression(node, ids, consts)
        code = compile(f"lambda h: {source}", "<sigma condition>", "eval")
    except (RecursionError, SyntaxError, MemoryError, ValueError):
        return _closure(node, ids)
    func: Cond = eval(code, {"__builtins__": {}, **consts})  # noqa: S307 - generated above
    return func


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


class Bucket:
    """The rules of one (channel, event id), with their atoms grouped by field.

    Keywords and regular expressions without a literal trigger (``matchers.regex_trigger``) are
    lazy: they run only for rules that are still candidates after the cheap atoms, once each.
    """

    __slots__ = (
        "absent",
        "always",
        "atom_rules",
        "conds",
        "fields",
        "keywords",
        "keywords_joined",
        "late",
        "lazy",
        "lazy_rules",
        "maybe",
        "names",
        "single",
        "table",
    )

    def __init__(self, variants: Sequence[Variant]) -> None:
        ids: dict[ir.Atom, int] = {}
        by_field: dict[str | None, list[tuple[int, ir.Matcher]]] = defaultdict(list)
        atom_rules: dict[int, set[int]] = defaultdict(set)
        self.conds: dict[int, list[Cond]] = defaultdict(list)
        # Lazy atoms: a test of the event, or None for keywords (all decided in one pass).
        self.lazy: dict[int, Callable[[dict[str, Any]], bool] | None] = {}
        keyword_atoms: list[tuple[int, ir.Matcher]] = []
        lazy_rules: dict[int, set[int]] = defaultdict(set)
        always: set[int] = set()
        maybe: set[int] = set()
        costs: dict[int, float] = {}
        rule_fields: dict[int, set[str]] = defaultdict(set)
        for v in variants:
            for atom in ir.atoms_of(v.tree):
                if atom.field is not None:
                    rule_fields[v.rule].add(atom.field)
                aid = ids.get(atom)
                if aid is None:
                    aid = ids[atom] = len(ids)
                    if atom.field is None:
                        # Keywords read every value of the event: only for rules still in play.
                        self.lazy[aid] = None
                        keyword_atoms.append((aid, atom.matcher))
                    elif isinstance(atom.matcher, ir.Regex) and regex_trigger(atom.matcher) is None:
                        self.lazy[aid] = _lazy_test(atom)
                    else:
                        by_field[atom.field].append((aid, atom.matcher))
                    costs[aid] = _commonness(atom)
                if aid in self.lazy:
                    lazy_rules[v.rule].add(aid)
            cond = compile_condition(v.tree, ids)
            self.conds[v.rule].append(cond)
            if cond(_EMPTY):
                always.add(v.rule)
            # The rule is looked at only when one of its trigger atoms holds: atoms of which at
            # least one must hold for the condition to hold. Without such a set (``not x``), or
            # when it needs a lazy atom, the rule is looked at for every event of the bucket.
            triggers = _triggers(v.tree, ids, self.lazy, costs)
            if triggers is None or not triggers.isdisjoint(self.lazy):
                maybe.add(v.rule)
            else:
                for aid in triggers:
                    atom_rules[aid].add(v.rule)
        self.conds = dict(self.conds)
        self.atom_rules = {aid: tuple(sorted(rules)) for aid, rules in atom_rules.items()}
        self.lazy_rules = {r: tuple(sorted(a)) for r, a in lazy_rules.items()}
        self.always = tuple(sorted(always))
        self.maybe = frozenset(maybe | always)
        self.keywords = FieldMatcher(keyword_atoms) if keyword_atoms else None
        self.keywords_joined = self.keywords is not None and self.keywords.only_contains
        self.fields: list[tuple[str, FieldMatcher, dict[str | int, Remembered]]] = []
        for name, atoms in by_field.items():
            if name is None:
                continue
            # A string or integer value decides every atom of its field but field references:
            # remember per value the atoms it satisfies and the rules they make candidates.
            self.fields.append((name, FieldMatcher(atoms), {}))
        self.single = {r: c[0] for r, c in self.conds.items() if len(c) == 1}
        self.table = {name: (fm, memo) for name, fm, memo in self.fields}
        # Fields scanned for every event: those with a trigger atom, and those of the rules
        # looked at for every event. The others are scanned only when a candidate rule tests
        # them (their atoms make no rule a candidate, they only decide conditions).
        field_of = {aid: name for name, atoms in by_field.items() for aid, _ in atoms}
        eager = {field_of[aid] for aid in self.atom_rules if aid in field_of}
        for r in self.maybe:
            eager |= rule_fields.get(r, set())
        self.names = frozenset(eager) & frozenset(self.table)
        self.late = {
            r: frozenset(late)
            for r, names in rule_fields.items()
            if (late := (names & self.table.keys()) - eager)
        }
        self.absent = [(name, fm.absent) for name, fm, _ in self.fields if fm.absent]

    def _remember(
        self, fm: FieldMatcher, memo: dict[str | int, Remembered], raw: str | int
    ) -> Remembered:
        found = fm.scalar_hits(raw)
        if not found:
            entry = _NOTHING
        else:
            atom_rules = self.atom_rules
            rules = {r for aid in found for r in atom_rules.get(aid, ())}
            entry = (frozenset(found), frozenset(rules))
        if len(memo) >= MEMO_SIZE:
            memo.clear()  # bounded: hostile or endlessly varied input
        memo[raw] = entry
        return entry

    def _scan(
        self,
        fields: dict[str, Any],
        names: Iterable[str],
        hits: set[int],
        candidates: set[int],
        loose: set[int],
    ) -> None:
        """Scan the fields ``names`` of the event: atoms into ``hits`` (or ``loose`` when
        they were not remembered), the rules they trigger into ``candidates``."""
        table = self.table
        for name in names:
            fm, memo = table[name]
            raw = fields[name]
            cls = raw.__class__
            # Exact classes only: True == 1 and 1.0 == 1 as keys, but they read differently.
            if (cls is str and len(raw) <= MEMO_MAX_LEN) or cls is int:
                entry = memo.get(raw)  # hot path: a value this field has seen
                if entry is None:
                    entry = self._remember(fm, memo, raw)
                if entry[0]:
                    hits.update(entry[0])
                    candidates.update(entry[1])
                if fm.refs:
                    fm.scan_refs(raw, fields, loose)
            else:
                fm.scan(raw, fields, loose)

    def match(self, fields: dict[str, Any]) -> list[int]:
        hits: set[int] = set()
        candidates: set[int] = set(self.maybe)
        loose: set[int] = set()  # atoms found outside the remembered values
        # Only the fields both the event has and some trigger tests (a C-level intersection),
        # then the absence tests of the fields the event lacks.
        self._scan(fields, fields.keys() & self.names, hits, candidates, loose)
        for name, absent in self.absent:
            if name not in fields:
                loose.update(absent)
        if loose:
            hits.update(loose)
            atom_rules = self.atom_rules
            for aid in loose:
                rules = atom_rules.get(aid)
                if rules is not None:
                    candidates.update(rules)
        if not candidates:
            return []
        late_of = self.late
        if late_of:
            late: set[str] = set()
            for r in candidates:
                names = late_of.get(r)
                if names is not None:
                    late |= names
            if late:
                loose = set()
                self._scan(fields, fields.keys() & late, hits, candidates, loose)
                hits.update(loose)  # no trigger among them: the candidates stay as they are
        if self.lazy_rules:
            lazy = self.lazy
            done: set[int] = set()
            keywords_done = False
            for r in candidates:
                for aid in self.lazy_rules.get(r, ()):
                    if aid in done:
                        continue
                    done.add(aid)
                    test = lazy[aid]
                    if test is not None:
                        if test(fields):
                            hits.add(aid)
                    elif not keywords_done:
                        keywords_done = True
                        self._keywords(fields, hits)
        single = self.single
        out: list[int] = []
        for r in sorted(candidates):
            cond = single.get(r)
            if cond is not None:
                if cond(hits):
                    out.append(r)
            elif any(c(hits) for c in self.conds[r]):
                out.append(r)
        return out

    def _keywords(self, fields: dict[str, Any], hits: set[int]) -> None:
        """Every keyword atom of the bucket, in one pass over every value of the event."""
        matcher = self.keywords
        assert matcher is not None
        if self.keywords_joined:
            # The usual keywords (plain substrings): one automaton pass over all the values.
            texts: list[str] = []
            for raw in fields.values():
                if raw.__class__ is str:
                    texts.append(raw)
                else:
                    for v in values.scalars(raw):
                        t = values.text(v)
                        if t is not None:
                            texts.append(t)
            matcher.scan_texts(texts, hits)
            return
        for raw in fields.values():
            if raw.__class__ is str:
                matcher.scan_scalar(raw, fields, hits)
            else:
                for v in values.scalars(raw):
                    matcher.scan_scalar(v, fields, hits)


def _lazy_test(atom: ir.Atom) -> Callable[[dict[str, Any]], bool]:
    assert isinstance(atom.matcher, ir.Regex)
    search = values.compile_regex(atom.matcher).search
    name = atom.field
    # Field values recur (images, command lines of scheduled jobs): remember the answer for
    # each string, in a bounded table, as the field matchers do.
    memo: dict[str, bool] = {}

    def test(fields: dict[str, Any]) -> bool:
        if name is not None:
            raw = fields.get(name)
            if raw.__class__ is str and len(raw) <= MEMO_MAX_LEN:
                found = memo.get(raw)
                if found is None:
                    found = search(raw) is not None
                    if len(memo) >= MEMO_SIZE:
                        memo.clear()
                    memo[raw] = found
                return found
        raws = fields.values() if name is None else (fields.get(name),)
        for raw in raws:
            for v in values.scalars(raw):
                t = values.text(v)
                if t is not None and search(t) is not None:
                    return True
        return False

    return test


# Fields whose few values recur in most events: a test on them says little about an event.
_COMMON_FIELDS = frozenset(
    {
        "EventID",
        "Channel",
        "Provider_Name",
        "Level",
        "Task",
        "Opcode",
        "Keywords",
        "LogonType",
        "Status",
        "EventType",
        "IntegrityLevel",
        "Computer",
        "Version",
    }
)


def _commonness(atom: ir.Atom) -> float:
    """A rough guess of how often an atom holds: only used to pick which atoms index a rule."""
    m = atom.matcher
    if isinstance(m, ir.Exists | ir.Null):
        return 1000.0
    if atom.field in _COMMON_FIELDS or not isinstance(m, ir.Pattern | ir.Regex):
        return 100.0
    if isinstance(m, ir.Pattern):
        # Each character of the longest literal makes a match rarer, except the path pieces
        # that nearly every process or file name holds.
        longest = max((p for p in m.parts if isinstance(p, str)), key=len, default="")
        folded = longest.lower()
        for piece in _COMMON_PIECES:
            folded = folded.replace(piece, "")
        return 100.0 * 0.6 ** len(folded)
    return 30.0


_COMMON_PIECES = (
    "\\windows",
    "\\system32",
    "\\syswow64",
    "\\program files",
    "c:\\",
    ".exe",
    ".dll",
)


def _triggers(
    node: ir.Node,
    ids: Mapping[ir.Atom, int],
    lazy: Mapping[int, object],
    costs: Mapping[int, float] | None = None,
) -> frozenset[int] | None:
    """Atoms of which one must hold for ``node`` to hold; None when no such set exists."""
    if costs is None:
        costs = {aid: _commonness(atom) for atom, aid in ids.items()}
    if isinstance(node, ir.Leaf):
        return frozenset((ids[node.atom],))
    if isinstance(node, ir.Const):
        return None if node.value else frozenset()
    if isinstance(node, ir.Or):
        out: set[int] = set()
        for c in node.children:
            t = _triggers(c, ids, lazy, costs)
            if t is None:
                return None
            out |= t
        return frozenset(out)
    if isinstance(node, ir.And):
        options = [
            t for t in (_triggers(c, ids, lazy, costs) for c in node.children) if t is not None
        ]
        if not options:
            return None
        # Prefer a set without lazy atoms, then the one least likely to hold on a random event.
        return min(options, key=lambda t: (not t.isdisjoint(lazy), sum(costs[a] for a in t)))
    return None  # ``not x`` may hold when nothing does


_MISSING: Any = object()


class CompiledRules:
    """A compiled rule set. Pickles as its plan; the matchers are rebuilt where it is unpickled.

    ``reference=True`` evaluates with the plain reference evaluator instead (same results, slow);
    the tests run every case both ways.
    """

    _plan: Plan | None

    def __init__(
        self, plan: Plan, correlations: Sequence[Any] = (), *, reference: bool = False
    ) -> None:
        self._rules = plan.rules
        self._errors = plan.errors
        self._unmapped = plan.unmapped
        self._slots = [(v.rule, v.channel, v.event_ids, v.guard) for v in plan.variants]
        self._trees: list[ir.Node | ir.Encoded] = [v.tree for v in plan.variants]
        self._correlations = list(correlations)
        self.reference = reference
        self._setup()

    @property
    def rules(self) -> list[RuleInfo]:
        return self._rules

    @property
    def errors(self) -> list[RuleError]:
        return self._errors

    @property
    def plan(self) -> Plan:
        """The plan this set was compiled from (trees decoded from the cache form if needed)."""
        if self._plan is None:
            variants = [self._variant(i) for i in range(len(self._slots))]
            self._plan = Plan(self._rules, variants, self._errors, self._unmapped)
        return self._plan

    @property
    def correlations(self) -> list[Any]:
        """The pySigma correlation rules of the set, references resolved."""
        return self._correlations

    def __getstate__(self) -> dict[str, Any]:
        # Trees travel as nested tuples: several times faster to unpickle than the objects.
        trees = [t if isinstance(t, tuple) else ir.encode(t) for t in self._trees]
        return {
            "rules": self._rules,
            "errors": self._errors,
            "unmapped": self._unmapped,
            "slots": self._slots,
            "trees": trees,
            "correlations": self._correlations,
            "reference": self.reference,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._rules = state["rules"]
        self._errors = state["errors"]
        self._unmapped = state["unmapped"]
        self._slots = state["slots"]
        self._trees = state["trees"]
        self._correlations = state["correlations"]
        self.reference = state["reference"]
        self._setup()

    def _variant(self, index: int) -> Variant:
        tree = self._trees[index]
        if isinstance(tree, tuple):
            tree = self._trees[index] = ir.decode(tree, self._atoms)
        rule, channel, event_ids, guard = self._slots[index]
        return Variant(rule, channel, event_ids, tree, guard)

    def _setup(self) -> None:
        self._plan = None
        self._atoms: dict[ir.Encoded, ir.Atom] = {}
        self._by_key: dict[BucketKey, list[int]] = defaultdict(list)
        guards: set[str] = set()
        for index, (_, channel, event_ids, guard) in enumerate(self._slots):
            for eid in event_ids or (None,):
                if guard is not None:
                    guards.add(guard)
                    self._by_key[(_GUARD + guard, eid)].append(index)
                else:
                    self._by_key[(channel, eid)].append(index)
        self._by_key = dict(self._by_key)
        self._guards = tuple(sorted(guards))
        self._guard_set = frozenset(guards)
        self._buckets: dict[tuple[BucketKey, ...], Bucket] = {}
        self._memo: dict[tuple[Any, type, Any, tuple[str, ...]], Bucket | None] = {}
        self._info = self._rules

    def warm(self) -> None:
        """Build every bucket now rather than on the first event that needs it."""
        for key in self._by_key:
            if key[0] is not None and key[0].startswith(_GUARD):
                self._bucket_for(None, key[1], (key[0][1:],))
            else:
                self._bucket_for(key[0], key[1], ())

    def _bucket_for(
        self, channel: str | None, eid: int | None, guards: tuple[str, ...]
    ) -> Bucket | None:
        wanted = [(channel, eid), (channel, None), (None, eid), (None, None)]
        for g in guards:
            wanted += [(_GUARD + g, eid), (_GUARD + g, None)]
        keys = tuple(k for k in dict.fromkeys(wanted) if k in self._by_key)
        if not keys:
            return None
        bucket = self._buckets.get(keys)
        if bucket is None:
            indices = sorted({i for k in keys for i in self._by_key[k]})
            variants = sorted((self._variant(i) for i in indices), key=lambda v: v.rule)
            bucket = self._buckets[keys] = Bucket(variants)
        return bucket

    def _matching_rules(self, fields: dict[str, Any]) -> list[int]:
        channel = fields.get("Channel")
        eid = fields.get("EventID")
        guards: tuple[str, ...] = ()
        if self._guards:
            present = fields.keys() & self._guard_set  # most events have none of them
            if present:
                guards = tuple(g for g in self._guards if g in present and fields[g] is not None)
        # The id's type is part of the key: 4688 == 4688.0 and 1 == True as dict keys, yet
        # they name different buckets (True is no event id).
        key = (channel, eid.__class__, eid, guards)
        try:
            bucket = self._memo[key]
        except (KeyError, TypeError):
            ch = channel.lower() if isinstance(channel, str) else None
            n = values.number(eid)
            if isinstance(n, float) and n.is_integer():
                n = int(n)  # as the reference does: 4688.0 is event id 4688
            bucket = self._bucket_for(ch, n if isinstance(n, int) else None, guards)
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
        for v in self.plan.variants:
            if out and out[-1] == v.rule:
                continue
            if v.channel is not None and v.channel != ch:
                continue
            if v.guard is not None and fields.get(v.guard) is None:
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

        return Correlator(self._correlations, base_rule_refs(self._rules))

    def rejections(self) -> list[RuleError]:
        """Everything of the set that will never run: the load errors, then the correlations
        the correlator refuses though pySigma let them through (a percentile without
        ``percentile``, cycles, aliases naming unknown rules...)."""
        return [*self.errors, *self.correlator().errors]


def base_rule_refs(rules: Sequence[RuleInfo]) -> list[Any]:
    """The detection rules as the correlator knows them (``BaseRuleRef``)."""
    from sentinelle.engine.correlation import BaseRuleRef

    return [BaseRuleRef(r.id, r.name, r.title, r.level, r.tags) for r in rules]
