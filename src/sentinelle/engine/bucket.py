"""``Bucket``: the rules of one (channel, event id) set, ready to match an event's fields.

An event meets only the rules of its bucket. Within it every field holding a trigger atom is
scanned once against all atoms on that field (``matchers``), the atoms and the rules a value
gives being remembered per value; the rules with a satisfied trigger, plus the few whose
condition holds with no atom satisfied (``not x``), are the candidates. The other fields they
test are scanned next, then their conditions (``condition``) decide.

Building a bucket is the costly part of a hunt's start (atom analysis, trigger choice, condition
compiling, automata). A bucket therefore pickles as the plain result of that work (tables of
atom and rule ids, field matchers as their own plain state, conditions as bytecode) and rebuilds
only its cheap runtime parts when unpickled, so the rule cache can keep every built bucket.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sentinelle.engine import ir, values
from sentinelle.engine.condition import Cond, Conditions
from sentinelle.engine.matchers import (
    MEMO_MAX_LEN,
    MEMO_SIZE,
    TEXT_SEP,
    FieldMatcher,
    regex_trigger,
)
from sentinelle.engine.plan import Variant

_EMPTY: frozenset[int] = frozenset()
# Strings longer than ``MEMO_MAX_LEN`` and up to this length are remembered per bucket, within a
# budget of characters (the table is emptied when a new value would pass it).
LONG_MEMO_MAX_LEN = 64 * 1024
LONG_MEMO_BUDGET = 2 * 1024 * 1024
# What a value of a field gives: the atoms it satisfies, the rules they make candidates.
Remembered = tuple[frozenset[int], frozenset[int]]
_NOTHING: Remembered = (_EMPTY, _EMPTY)
# Buckets of this many rules or more remember their answer per event (``Bucket.match``): such a
# bucket (process creation, whether from Sysmon or Security 4688) costs several microseconds an
# event in candidates, conditions and regexes, against about one to look its answer up; smaller
# ones cost about what the look-up does (mitre corpus: as many instructions either way once,
# 5 % fewer over its ten copies with a hundred, 8 % more over it once with every bucket).
EVENT_MEMO_MIN_RULES = 100


class Bucket:
    """The rules of one (channel, event id), with their atoms grouped by field.

    Keywords and regular expressions without a literal trigger (``matchers.regex_trigger``) are
    lazy: they run only for rules that are still candidates after the cheap atoms, once each.
    Such a regex that a rule needs as its trigger runs with its field's other atoms instead.
    """

    __slots__ = (
        "absent",
        "always",
        "atom_rules",
        "conds",
        "event_chars",
        "event_memo",
        "fields",
        "keywords",
        "keywords_joined",
        "late",
        "lazy",
        "lazy_rules",
        "long_bytes",
        "long_memo",
        "maybe",
        "missing",
        "names",
        "read",
        "single",
        "state",
        "table",
    )

    def __init__(self, variants: Sequence[Variant]) -> None:
        ids: dict[ir.Atom, int] = {}
        by_field: dict[str | None, list[tuple[int, ir.Matcher]]] = defaultdict(list)
        atom_rules: dict[int, set[int]] = defaultdict(set)
        # Lazy atoms: regexes tested on the event, or None for keywords (decided in one pass).
        lazy: dict[int, ir.Atom | None] = {}
        keyword_atoms: list[tuple[int, ir.Matcher]] = []
        maybe: set[int] = set()
        costs: dict[int, float] = {}
        rule_fields: dict[int, set[str]] = defaultdict(set)
        rule_atoms: dict[int, set[int]] = defaultdict(set)
        for v in variants:
            for atom in ir.atoms_of(v.tree):
                if atom.field is not None:
                    rule_fields[v.rule].add(atom.field)
                aid = ids.get(atom)
                if aid is None:
                    aid = ids[atom] = len(ids)
                    if atom.field is None:
                        # Keywords read every value of the event: only for rules still in play.
                        lazy[aid] = None
                        keyword_atoms.append((aid, atom.matcher))
                    elif isinstance(atom.matcher, ir.Regex) and regex_trigger(atom.matcher) is None:
                        lazy[aid] = atom
                    else:
                        by_field[atom.field].append((aid, atom.matcher))
                    costs[aid] = _commonness(atom)
                rule_atoms[v.rule].add(aid)
        # The rule is looked at only when one of its trigger atoms holds: atoms of which at
        # least one must hold for the condition to hold. Without such a set (``not x``), or when
        # it needs a keyword, the rule is looked at for every event of the bucket. A regex with
        # no literal to trigger it is tested lazily (only for rules still in play), except when
        # a rule needs it as a trigger: it would then run on every event anyway, so it joins its
        # field's matcher (one RE2 set per field, remembered per value like the other atoms).
        for v in variants:
            triggers = _triggers(v.tree, ids, lazy, costs)
            if triggers is None or any(lazy.get(aid, 0) is None for aid in triggers):
                maybe.add(v.rule)
                continue
            for aid in triggers & lazy.keys():
                promoted = lazy.pop(aid)
                assert promoted is not None and promoted.field is not None
                by_field[promoted.field].append((aid, promoted.matcher))
            for aid in triggers:
                atom_rules[aid].add(v.rule)
        # The atoms still lazy once every trigger is chosen, per rule.
        lazy_rules = {r: found for r, aids in rule_atoms.items() if (found := aids & lazy.keys())}
        conds = Conditions([v.tree for v in variants], ids)
        always = {v.rule for v, cond in zip(variants, conds.funcs, strict=True) if cond(_EMPTY)}
        # A string or integer value decides every atom of its field but field references:
        # the bucket remembers per value the atoms it satisfies and the rules they make
        # candidates (see ``_scan``).
        fields = [
            (name, FieldMatcher(atoms)) for name, atoms in by_field.items() if name is not None
        ]
        # Fields scanned for every event: those with a trigger atom, and those of the rules
        # looked at for every event. The others are scanned only when a candidate rule tests
        # them (their atoms make no rule a candidate, they only decide conditions).
        field_of = {aid: name for name, atoms in by_field.items() for aid, _ in atoms}
        eager = {field_of[aid] for aid in atom_rules if aid in field_of}
        for r in maybe | always:
            eager |= rule_fields.get(r, set())
        names = frozenset(eager) & frozenset(name for name, _ in fields)
        self.__setstate__(
            {
                "conds": conds,
                "cond_rules": tuple(v.rule for v in variants),
                "lazy": lazy,
                "keywords": FieldMatcher(keyword_atoms) if keyword_atoms else None,
                "fields": fields,
                "atom_rules": {aid: tuple(sorted(rules)) for aid, rules in atom_rules.items()},
                "lazy_rules": {r: tuple(sorted(a)) for r, a in lazy_rules.items()},
                "always": tuple(sorted(always)),
                "maybe": frozenset(maybe | always),
                "names": names,
                "late": {
                    r: frozenset(late)
                    for r, used in rule_fields.items()
                    if (late := (used & {name for name, _ in fields}) - eager)
                },
            }
        )

    def __getstate__(self) -> dict[str, Any]:
        return self.state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """The runtime parts: condition functions by rule, lazy tests, empty value memos."""
        self.state = state
        conds: dict[int, list[Cond]] = defaultdict(list)
        for rule, cond in zip(state["cond_rules"], state["conds"].funcs, strict=True):
            conds[rule].append(cond)
        self.conds = dict(conds)
        self.single = {r: c[0] for r, c in self.conds.items() if len(c) == 1}
        self.lazy = {
            aid: None if atom is None else _lazy_test(atom) for aid, atom in state["lazy"].items()
        }
        self.atom_rules = state["atom_rules"]
        self.lazy_rules = state["lazy_rules"]
        self.always = state["always"]
        self.maybe = state["maybe"]
        self.names = state["names"]
        self.late = state["late"]
        self.keywords = state["keywords"]
        self.keywords_joined = self.keywords is not None and self.keywords.only_contains
        self.fields: list[tuple[str, FieldMatcher, dict[str | int, Remembered]]] = [
            (name, fm, {}) for name, fm in state["fields"]
        ]
        self.table = {name: (fm, memo) for name, fm, memo in self.fields}
        # Long strings (command lines of scripts, encoded payloads) are remembered too, in one
        # table per bucket with a budget of characters rather than of entries.
        self.long_memo: dict[tuple[str, str], Remembered] = {}
        self.long_bytes = 0
        self.absent = [(name, fm.absent) for name, fm, _ in self.fields if fm.absent]
        # Every field whose presence or value the rules read (see ``match``); None when some
        # rule reads every value of the event (keywords, a regex on no field), or when the
        # bucket is too small for remembering its answers to pay.
        self.read = _fields_read(state) if len(self.conds) >= EVENT_MEMO_MIN_RULES else None
        self.missing = itertools.repeat(_MISSING)  # endless: filler for the fields absent
        self.event_memo: dict[tuple[Any, ...], tuple[int, ...]] = {}
        self.event_chars = 0

    def _gives(self, fm: FieldMatcher, raw: str | int) -> Remembered:
        """What a scalar value of the field gives: its atoms, and the rules they trigger."""
        found = fm.scalar_hits(raw)
        if not found:
            return _NOTHING
        atom_rules = self.atom_rules
        rules = {r for aid in found for r in atom_rules.get(aid, ())}
        return (frozenset(found), frozenset(rules))

    def _remember(
        self, fm: FieldMatcher, memo: dict[str | int, Remembered], raw: str | int
    ) -> Remembered:
        entry = self._gives(fm, raw)
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
            elif cls is str and len(raw) <= LONG_MEMO_MAX_LEN:
                entry = self._remember_long(name, fm, raw)
            else:
                fm.scan(raw, fields, loose)
                continue
            if entry[0]:
                hits.update(entry[0])
                candidates.update(entry[1])
            if fm.refs:
                fm.scan_refs(raw, fields, loose)

    def _remember_long(self, name: str, fm: FieldMatcher, raw: str) -> Remembered:
        """``_remember`` for a string past ``MEMO_MAX_LEN``: scanning one costs far more than
        hashing it, and the same long command lines come back (scheduled scripts, agents)."""
        key = (name, raw)
        entry = self.long_memo.get(key)
        if entry is None:
            if self.long_bytes + len(raw) > LONG_MEMO_BUDGET:
                self.long_memo.clear()  # bounded: endlessly varied long values
                self.long_bytes = 0
            entry = self.long_memo[key] = self._gives(fm, raw)
            self.long_bytes += len(raw)
        return entry

    def match(self, fields: dict[str, Any]) -> list[int]:
        """Indices of the rules of the bucket that an event with ``fields`` matches, in order.

        The answer depends only on the fields the rules read (``read``): events that agree on
        them (the same logon, share access or service event again and again) get it from a
        bounded table, keyed by those values as the event holds them, or absent.
        """
        read = self.read
        if read is None:
            return self._match(fields)
        key = tuple(map(fields.get, read, self.missing))
        # Exact classes only (True == 1 and 1.0 == 1 as keys, but they match differently).
        if not _PLAIN.issuperset(map(type, key)):
            return self._match(fields)
        known = self.event_memo.get(key)
        if known is not None:
            return list(known)
        out = self._match(fields)
        self._remember_event(key, out)
        return out

    def _remember_event(self, key: tuple[Any, ...], out: list[int]) -> None:
        chars = sum(len(v) for v in key if v.__class__ is str)
        if chars > MEMO_MAX_LEN:
            return  # a long value is rarely seen twice: not worth its room
        if len(self.event_memo) >= MEMO_SIZE or self.event_chars + chars > LONG_MEMO_BUDGET:
            self.event_memo.clear()  # bounded: endlessly varied events
            self.event_chars = 0
        self.event_memo[key] = tuple(out)
        self.event_chars += chars

    def _match(self, fields: dict[str, Any]) -> list[int]:
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
            # The usual keywords (plain substrings): one pass over all the values.
            matcher.scan_texts(
                [raw if raw.__class__ is str else _keyword_text(raw) for raw in fields.values()],
                hits,
            )
            return
        for raw in fields.values():
            if raw.__class__ is str:
                matcher.scan_scalar(raw, fields, hits)
            else:
                for v in values.scalars(raw):
                    matcher.scan_scalar(v, fields, hits)


# What a field of an event can hold for ``Bucket.match`` to remember the event's answer:
# absent, null, text or an integer (bool and float compare equal to ints as keys).
_MISSING = object()
_PLAIN = frozenset({str, int, type(None), object})


def _fields_read(state: dict[str, Any]) -> tuple[str, ...] | None:
    """The fields whose presence or value decide a bucket's answer for an event: those of
    its field matchers (values, presence, absence), the fields their references compare with,
    and those of its lazy regexes; None when a keyword or a regex on no field reads every
    value of the event."""
    if state["keywords"] is not None:
        return None
    names: set[str] = set()
    for name, fm in state["fields"]:
        names.add(name)
        names.update(ref.field for _, ref in fm.state["refs"])
    for atom in state["lazy"].values():
        if atom is None or atom.field is None:
            return None
        names.add(atom.field)
    return tuple(sorted(names))


def _keyword_text(raw: Any) -> str:
    """A value that is no string as the keyword pass reads it: the texts of its scalars (see
    ``values.text``), separated as the values are; empty when it has none."""
    if raw.__class__ is int:  # ids and counters, the usual case: without the calls
        return str(raw)
    return TEXT_SEP.join(t for v in values.scalars(raw) if (t := values.text(v)) is not None)


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
