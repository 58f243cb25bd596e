"""Multi-pattern matching of one field against every atom that tests it.

A ``FieldMatcher`` gathers all atoms of one field (in one bucket of rules) and, for a value,
reports every atom it satisfies with as few passes over the value as possible:

* exact literals: one dict lookup of the folded value;
* prefix / suffix / contains literals: one Aho-Corasick pass over the folded value;
* other wildcard patterns and regular expressions: one RE2 set pass (linear time);
* numbers: one dict lookup of the value's numeric reading;
* the rest (cidr, comparisons, booleans, time parts, field references): tested one by one.

Everything is derived from the atoms, so a matcher pickles as its atom list and is rebuilt.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import ahocorasick
import re2

from sentinelle.engine import ir, values

_EQ, _PREFIX, _SUFFIX, _CONTAINS = 0, 1, 2, 3
_SET_MEMORY = 64 << 20

ValueTest = Callable[[Any, dict[str, Any]], bool]


class _Literals:
    """Literal atoms of one case mode: dict for whole values, automaton for the rest."""

    __slots__ = ("automaton", "eq")

    def __init__(self, items: list[tuple[int, str, int]]) -> None:
        self.eq: dict[str, list[int]] = defaultdict(list)
        words: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
        for kind, lit, aid in items:
            if kind == _EQ:
                self.eq[lit].append(aid)
            else:
                words[lit].append((kind, aid, len(lit)))
        self.eq = dict(self.eq)
        self.automaton: Any = None
        if words:
            auto = ahocorasick.Automaton(ahocorasick.STORE_ANY)
            for word, entries in words.items():
                auto.add_word(word, tuple(entries))
            auto.make_automaton()
            self.automaton = auto

    def scan(self, s: str, hits: set[int]) -> None:
        found = self.eq.get(s)
        if found is not None:
            hits.update(found)
        if self.automaton is None:
            return
        last = len(s) - 1
        for end, entries in self.automaton.iter(s):
            for kind, aid, length in entries:
                if (
                    kind == _CONTAINS
                    or (kind == _PREFIX and end == length - 1)
                    or (kind == _SUFFIX and end == last)
                ):
                    hits.add(aid)


class _RegexSet:
    __slots__ = ("ids", "patterns", "rset")

    def __init__(self, patterns: list[str], ids: list[int]) -> None:
        self.patterns = patterns
        self.ids = ids
        options = re2.Options()
        # RE2 sets run as one DFA; a DFA out of memory reports "no match", so give it room.
        options.max_mem = _SET_MEMORY
        rset = re2.Set.SearchSet(options)
        for p in patterns:
            rset.Add(p)
        rset.Compile()
        self.rset = rset

    def scan(self, s: str, hits: set[int]) -> None:
        found = self.rset.Match(s)  # None when nothing matched
        if found:
            ids = self.ids
            for i in found:
                hits.add(ids[i])


class FieldMatcher:
    """All atoms on one field; ``scan`` adds the ids of the atoms a field value satisfies."""

    __slots__ = (
        "absent",
        "any_text",
        "ci",
        "cs",
        "numbers",
        "present",
        "present_null",
        "regex_ci",
        "regex_cs",
        "tests",
    )

    def __init__(self, atoms: Iterable[tuple[int, ir.Matcher]]) -> None:
        ci: list[tuple[int, str, int]] = []
        cs: list[tuple[int, str, int]] = []
        globs_ci: tuple[list[str], list[int]] = ([], [])
        globs_cs: tuple[list[str], list[int]] = ([], [])
        self.any_text: list[int] = []
        self.numbers: dict[int | float, list[int]] = defaultdict(list)
        self.tests: list[tuple[int, ValueTest]] = []
        # Atoms decided by presence alone: true whenever the field is present / absent / null.
        self.present: list[int] = []
        self.present_null: list[int] = []
        self.absent: list[int] = []
        for aid, m in atoms:
            if isinstance(m, ir.Pattern):
                parts = values.fold(m.parts, m.cased)
                lits = ci if not m.cased else cs
                shape = _shape(parts)
                if shape is None:
                    target = globs_cs if m.cased else globs_ci
                    target[0].append(values.glob_regex(parts))
                    target[1].append(aid)
                elif shape[0] == -1:
                    self.any_text.append(aid)
                else:
                    lits.append((shape[0], shape[1], aid))
            elif isinstance(m, ir.Regex):
                globs_cs[0].append(values.regex_text(m.pattern, m.flags))
                globs_cs[1].append(aid)
            elif isinstance(m, ir.Number):
                self.numbers[m.value].append(aid)
            elif isinstance(m, ir.Exists):
                (self.present if m.exists else self.absent).append(aid)
            elif isinstance(m, ir.Null):
                self.present_null.append(aid)
                self.absent.append(aid)
            else:
                self.tests.append((aid, _value_test(m)))
        self.numbers = dict(self.numbers)
        self.ci = _Literals(ci) if ci else None
        self.cs = _Literals(cs) if cs else None
        # Wildcard patterns run on the folded text, regexes on the original text.
        self.regex_ci = _RegexSet(*globs_ci) if globs_ci[0] else None
        self.regex_cs = _RegexSet(*globs_cs) if globs_cs[0] else None

    def scan(self, raw: Any, fields: dict[str, Any], hits: set[int]) -> None:
        """Atoms satisfied by a present field value ``raw`` (None counts as null)."""
        if self.present:
            hits.update(self.present)
        if raw is None:
            hits.update(self.present_null)
            return
        for v in values.scalars(raw) if isinstance(raw, list | tuple | dict) else (raw,):
            self.scan_scalar(v, fields, hits)

    def scan_scalar(self, v: Any, fields: dict[str, Any], hits: set[int]) -> None:
        s = values.text(v)
        if s is not None:
            if self.any_text:
                hits.update(self.any_text)
            if self.ci is not None or self.regex_ci is not None:
                low = s.lower()
                if self.ci is not None:
                    self.ci.scan(low, hits)
                if self.regex_ci is not None:
                    self.regex_ci.scan(low, hits)
            if self.cs is not None:
                self.cs.scan(s, hits)
            if self.regex_cs is not None:
                self.regex_cs.scan(s, hits)
        if self.numbers:
            n = values.number(v)
            if n is not None:
                found = self.numbers.get(n)
                if found is not None:
                    hits.update(found)
        for aid, test in self.tests:
            if test(v, fields):
                hits.add(aid)


def _shape(parts: tuple[ir.Part, ...]) -> tuple[int, str] | None:
    """(kind, literal) for patterns the literal index handles; (-1, "") for ``*``; else None."""
    if parts == (ir.STAR,):
        return (-1, "")
    if ir.ONE in parts:
        return None
    if not parts:
        return (_EQ, "")
    lits = [p for p in parts if isinstance(p, str)]
    if len(lits) != 1 or not lits[0]:
        return None
    lit = lits[0]
    if len(parts) == 1:
        return (_EQ, lit)
    if len(parts) == 2:
        return (_PREFIX, lit) if parts[1] == ir.STAR else (_SUFFIX, lit)
    if len(parts) == 3 and parts[0] == ir.STAR and parts[2] == ir.STAR:
        return (_CONTAINS, lit)
    return None


def _value_test(m: ir.Matcher) -> ValueTest:
    if isinstance(m, ir.Compare):
        op, bound = m.op, m.value

        def cmp(v: Any, _f: dict[str, Any]) -> bool:
            n = values.number(v)
            return n is not None and values.compare(op, n, bound)

        return cmp
    if isinstance(m, ir.Boolean):
        want = m.value
        return lambda v, _f: values.boolean(v) == want
    if isinstance(m, ir.Cidr):
        net = ipaddress.ip_network(m.network)

        def cidr(v: Any, _f: dict[str, Any]) -> bool:
            s = values.text(v)
            return s is not None and values.in_network(s, net)

        return cidr
    if isinstance(m, ir.TimePart):
        part, want_n = m.part, m.value

        def tpart(v: Any, _f: dict[str, Any]) -> bool:
            dt = values.timestamp(v)
            return dt is not None and values.time_part(dt, part) == want_n

        return tpart
    if isinstance(m, ir.FieldRef):
        ref = m

        def fref(v: Any, fields: dict[str, Any]) -> bool:
            s = values.text(v)
            if s is None:
                return False
            for o in values.scalars(fields.get(ref.field)):
                t = values.text(o)
                if t is not None and values.fieldref(s, t, ref):
                    return True
            return False

        return fref
    raise TypeError(f"no value test for {m!r}")
