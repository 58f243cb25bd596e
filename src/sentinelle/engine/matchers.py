"""Multi-pattern matching of one field against every atom that tests it.

A ``FieldMatcher`` gathers all atoms of one field (in one bucket of rules) and, for a value,
reports every atom it satisfies with as few passes over the value as possible:

* exact literals: one dict lookup of the folded value;
* prefix / suffix / contains literals: one Aho-Corasick pass over the folded value;
* other wildcard patterns: their longest literal joins the same Aho-Corasick pass, and only the
  patterns whose literal was seen are then checked in full (in-order ``str.find`` for ``*``,
  an anchored RE2 match when ``?`` occurs);
* regular expressions with a required literal: like wildcard patterns, through that literal;
  the others are left to the bucket, which runs them only for rules still in play;
* numbers: one dict lookup of the value's numeric reading;
* the rest (cidr, comparisons, booleans, time parts, field references): tested one by one.

A matcher pickles as the plain result of that analysis (literal tables, word lists, regex
patterns, the atoms of the one-by-one tests); unpickling rebuilds only the automata, the RE2
objects and the test functions, which costs a fraction of the analysis.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import ahocorasick
import re2

from sentinelle.engine import ir, values

_EQ, _PREFIX, _SUFFIX, _CONTAINS, _GLOB = 0, 1, 2, 3, 4
_SET_MEMORY = 64 << 20

TEXT_SEP = "\0"  # joins the values of an event for one keyword pass
ValueTest = Callable[[Any], bool]
RefTest = Callable[[Any, dict[str, Any]], bool]
MEMO_SIZE = 4096
MEMO_MAX_LEN = 1024
# Up to this many substring words, looking each one up in a text (``in``, a C search that
# skips ahead) beats walking the automaton character by character.
FEW_WORDS = 8
# A windash pattern with this many dash choices or fewer becomes that many literals.
MAX_DASH_VARIANTS = 25


# The full check of a wildcard pattern (its folded parts) or of a regular expression.
CheckSpec = tuple[ir.Part, ...] | ir.Regex
Check = tuple[int, str | None, CheckSpec, bool]  # atom, trigger, check, on original


class _Literals:
    """Literal atoms of one case mode: dict for whole values, automaton for the rest.

    Wildcard patterns and regular expressions take part through a literal they cannot match
    without (their trigger): seeing it in the value makes the atom a candidate, which its full
    check then decides. Atoms without a trigger are checked on every value.
    """

    __slots__ = (
        "always",
        "automaton",
        "checks",
        "eq",
        "few",
        "fold_risky",
        "only_contains",
        "state",
    )

    def __init__(self, items: list[tuple[int, str, int]], checks: list[Check]) -> None:
        eq: dict[str, list[int]] = defaultdict(list)
        words: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
        for kind, lit, aid in items:
            if kind == _EQ:
                eq[lit].append(aid)
            else:
                words[lit].append((kind, aid, len(lit)))
        specs: dict[int, tuple[CheckSpec, bool]] = {}
        always: list[int] = []
        # Case-insensitive regexes fold U+017F (long s) to "s", which str.lower() does not:
        # a value holding it must not be ruled out by the folded trigger.
        fold_risky: list[int] = []
        for aid, trigger, spec, on_original in checks:
            specs[aid] = (spec, on_original)
            if trigger:
                words[trigger].append((_GLOB, aid, 0))
                if on_original:
                    fold_risky.append(aid)
            else:
                always.append(aid)
        # Substring literals only, none holding the separator of ``FieldMatcher.scan_texts``.
        only_contains = bool(words) and not eq and not checks
        only_contains &= all(
            kind == _CONTAINS and TEXT_SEP not in word
            for word, entries in words.items()
            for kind, _, _ in entries
        )
        # Per word: substring atoms (hold wherever the word is), wildcard and regex atoms
        # (candidates for their full check), prefix/suffix atoms (by position).
        entries_of = {
            word: (
                tuple(aid for kind, aid, _ in entries if kind == _CONTAINS),
                tuple(aid for kind, aid, _ in entries if kind == _GLOB),
                tuple(e for e in entries if e[0] in (_PREFIX, _SUFFIX)),
            )
            for word, entries in words.items()
        }
        self.__setstate__((dict(eq), entries_of, specs, always, fold_risky, only_contains))

    def __getstate__(self) -> tuple[Any, ...]:
        return self.state

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.state = state
        self.eq, words, specs, self.always, self.fold_risky, self.only_contains = state
        # For a few substring words only: (word, atoms) to look up one by one.
        self.few: tuple[tuple[str, tuple[int, ...]], ...] | None = None
        if self.only_contains and len(words) <= FEW_WORDS:
            self.few = tuple((word, contains) for word, (contains, _, _) in words.items())
        self.checks: dict[int, tuple[Callable[[str], bool], bool]] = {
            aid: (_checker(spec), on_original) for aid, (spec, on_original) in specs.items()
        }
        self.automaton: Any = None
        if words:
            auto = ahocorasick.Automaton(ahocorasick.STORE_ANY)
            for word, entry in words.items():
                auto.add_word(word, entry)
            auto.make_automaton()
            self.automaton = auto

    def scan(self, s: str, original: str, hits: set[int]) -> None:
        """``s`` is the value as this index compares it (folded or not), ``original`` as read."""
        found = self.eq.get(s)
        if found is not None:
            hits.update(found)
        candidates: set[int] = set()
        if self.automaton is not None:
            last = len(s) - 1
            # One Python step per occurrence of a word: long values hold hundreds.
            for end, (contains, globs, edges) in self.automaton.iter(s):
                if contains:
                    hits.update(contains)
                if globs:
                    candidates.update(globs)
                for kind, aid, length in edges:
                    if (kind == _PREFIX and end == length - 1) or (kind == _SUFFIX and end == last):
                        hits.add(aid)
        if self.fold_risky and "\u017f" in original:
            candidates.update(self.fold_risky)
        checks = self.checks
        if candidates:
            for aid in candidates:
                if aid not in hits:
                    check, on_original = checks[aid]
                    if check(original if on_original else s):
                        hits.add(aid)
        for aid in self.always:
            check, on_original = checks[aid]
            if check(original if on_original else s):
                hits.add(aid)


class _RegexSet:
    __slots__ = ("ids", "patterns", "rset")

    def __init__(self, patterns: list[str], ids: list[int]) -> None:
        self.__setstate__((patterns, ids))

    def __getstate__(self) -> tuple[list[str], list[int]]:
        return (self.patterns, self.ids)

    def __setstate__(self, state: tuple[list[str], list[int]]) -> None:
        patterns, ids = state
        self.patterns = patterns
        self.ids = ids
        options = values.re2_options()
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
        "memo",
        "numbers",
        "present",
        "present_null",
        "refs",
        "regex",
        "state",
        "tests",
    )

    def __init__(self, atoms: Iterable[tuple[int, ir.Matcher]]) -> None:
        ci: list[tuple[int, str, int]] = []
        cs: list[tuple[int, str, int]] = []
        checks_ci: list[Check] = []
        checks_cs: list[Check] = []
        regexes: tuple[list[str], list[int]] = ([], [])
        any_text: list[int] = []
        numbers: dict[int | float, list[int]] = defaultdict(list)
        tests: list[tuple[int, ir.Matcher]] = []  # one by one, and field references
        refs: list[tuple[int, ir.FieldRef]] = []
        # Atoms decided by presence alone: true whenever the field is present / absent / null.
        present: list[int] = []
        present_null: list[int] = []
        absent: list[int] = []
        for aid, m in atoms:
            if isinstance(m, ir.Pattern):
                parts = values.fold(m.parts, m.cased)
                lits = ci if not m.cased else cs
                shapes = [_shape(v) for v in dash_variants(parts)]
                if any(shape is None for shape in shapes):
                    lits_of = [p for p in parts if isinstance(p, str)]
                    trigger = max(lits_of, key=len) if lits_of else None
                    (checks_cs if m.cased else checks_ci).append((aid, trigger, parts, False))
                elif shapes[0] is not None and shapes[0][0] == -1:
                    any_text.append(aid)
                else:
                    lits.extend((shape[0], shape[1], aid) for shape in shapes if shape)
            elif isinstance(m, ir.Regex):
                found = regex_trigger(m)
                if found is None:
                    regexes[0].append(values.regex_text(m.pattern, m.flags))
                    regexes[1].append(aid)
                else:
                    (checks_ci if found[1] else checks_cs).append((aid, found[0], m, True))
            elif isinstance(m, ir.Number):
                numbers[m.value].append(aid)
            elif isinstance(m, ir.Exists):
                (present if m.exists else absent).append(aid)
            elif isinstance(m, ir.Null):
                present_null.append(aid)
                absent.append(aid)
            elif isinstance(m, ir.FieldRef):
                refs.append((aid, m))
            else:
                tests.append((aid, m))
        self.__setstate__(
            {
                "ci": _Literals(ci, checks_ci) if ci or checks_ci else None,
                "cs": _Literals(cs, checks_cs) if cs or checks_cs else None,
                "regex": _RegexSet(*regexes) if regexes[0] else None,
                "any_text": any_text,
                "numbers": dict(numbers),
                "tests": tests,
                "refs": refs,
                "present": present,
                "present_null": present_null,
                "absent": absent,
            }
        )

    def __getstate__(self) -> dict[str, Any]:
        return self.state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.ci: _Literals | None = state["ci"]
        self.cs: _Literals | None = state["cs"]
        self.regex: _RegexSet | None = state["regex"]
        self.any_text: list[int] = state["any_text"]
        self.numbers: dict[int | float, list[int]] = state["numbers"]
        self.present: list[int] = state["present"]
        self.present_null: list[int] = state["present_null"]
        self.absent: list[int] = state["absent"]
        self.tests: list[tuple[int, ValueTest]] = [(a, _value_test(m)) for a, m in state["tests"]]
        self.refs: list[tuple[int, RefTest]] = [(a, _ref_test(m)) for a, m in state["refs"]]
        self.memo: dict[str, frozenset[int]] = {}

    def scan(self, raw: Any, fields: dict[str, Any], hits: set[int]) -> None:
        """Atoms satisfied by a present field value ``raw`` (None counts as null)."""
        if self.present:
            hits.update(self.present)
        if raw is None:
            hits.update(self.present_null)
            return
        for v in values.scalars(raw) if isinstance(raw, list | tuple | dict) else (raw,):
            self.scan_scalar(v, fields, hits)

    @property
    def only_contains(self) -> bool:
        """Whether every atom is a case-insensitive substring (``scan_texts`` may be used)."""
        ci = self.ci
        return (
            ci is not None
            and ci.only_contains
            and self.cs is None
            and self.regex is None
            and not (self.any_text or self.numbers or self.tests or self.refs)
            and not (self.present or self.present_null or self.absent)
        )

    def scan_texts(self, texts: list[str], hits: set[int]) -> None:
        """For an ``only_contains`` matcher: the atoms any of ``texts`` satisfies, in one pass.

        The texts are joined with a separator no literal holds, so a literal found in the joined
        text lies within one of them, and folded at once: folding is per character except for
        a final sigma, whose context a NUL ends as the end of a text does.
        """
        assert self.ci is not None
        joined = TEXT_SEP.join(texts).lower()
        few = self.ci.few
        if few is not None:
            for word, contains in few:
                if word in joined:
                    hits.update(contains)
            return
        for _, (contains, _, _) in self.ci.automaton.iter(joined):
            hits.update(contains)

    def scan_scalar(self, v: Any, fields: dict[str, Any], hits: set[int]) -> None:
        # Field values repeat a lot (images, users, parent command lines): the atoms a string
        # satisfies are remembered, in a bounded table per field matcher.
        if v.__class__ is str and len(v) <= MEMO_MAX_LEN:
            found = self.memo.get(v)
            if found is None:
                found = frozenset(self._value_hits(v))
                if len(self.memo) >= MEMO_SIZE:
                    self.memo.clear()
                self.memo[v] = found
            if found:
                hits.update(found)
        else:
            hits.update(self._value_hits(v))
        self.scan_refs(v, fields, hits)

    def scalar_hits(self, v: Any) -> set[int]:
        """Atoms satisfied when the field holds the scalar ``v`` (field references excepted)."""
        hits = self._value_hits(v)
        hits.update(self.present)
        return hits

    def scan_refs(self, v: Any, fields: dict[str, Any], hits: set[int]) -> None:
        """The field reference atoms a scalar ``v`` of the field satisfies in ``fields``."""
        for aid, test in self.refs:
            if test(v, fields):
                hits.add(aid)

    def _value_hits(self, v: Any) -> set[int]:
        """Atoms satisfied by one scalar, from the value alone (field references excepted)."""
        hits: set[int] = set()
        s = values.text(v)
        if s is not None:
            if self.any_text:
                hits.update(self.any_text)
            if self.ci is not None:
                self.ci.scan(s.lower(), s, hits)
            if self.cs is not None:
                self.cs.scan(s, s, hits)
            if self.regex is not None:
                self.regex.scan(s, hits)
        if self.numbers:
            n = values.number(v)
            if n is not None:
                found = self.numbers.get(n)
                if found is not None:
                    hits.update(found)
        for aid, test in self.tests:
            if test(v):
                hits.add(aid)
        return hits


def dash_variants(parts: tuple[ir.Part, ...]) -> list[tuple[ir.Part, ...]]:
    """A ``windash`` pattern as the plain patterns of its dash choices, when they are few.

    With one or two dash positions (5 or 25 patterns), each choice is a literal the literal
    index matches in its one pass, as cheap as any other literal; with more, the pattern stays
    one pattern with a dash class at each position (checked by RE2 where its longest literal
    is seen), so the cost never grows with the number of combinations.
    """
    count = parts.count(ir.DASH)
    if not count or len(ir.DASHES) ** count > MAX_DASH_VARIANTS:
        return [parts]
    out: list[tuple[ir.Part, ...]] = []
    for choice in itertools.product(ir.DASHES, repeat=count):
        dashes = iter(choice)
        merged: list[ir.Part] = []
        for p in parts:
            q = next(dashes) if p == ir.DASH else p
            if isinstance(q, str) and merged and isinstance(merged[-1], str):
                merged[-1] += q
            else:
                merged.append(q)
        out.append(tuple(merged))
    return out


def _shape(parts: tuple[ir.Part, ...]) -> tuple[int, str] | None:
    """(kind, literal) for patterns the literal index handles; (-1, "") for ``*``; else None."""
    if parts == (ir.STAR,):
        return (-1, "")
    if ir.ONE in parts or ir.DASH in parts:
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


def regex_trigger(m: ir.Regex) -> tuple[str, bool] | None:
    """A literal every match of the regex contains, and whether to look for it case-folded.

    Only top-level literal runs of the pattern count (any other construct ends a run), so the
    literal is certainly required. None when there is no useful literal or the pattern is not
    plainly readable (then the regex runs on every value, in the RE2 set).
    """
    import importlib
    import re

    # The standard library's own regex parser (private, but stable across 3.11+).
    sre_parse: Any = importlib.import_module("re._parser")
    sre_c: Any = importlib.import_module("re._constants")

    try:
        parsed = sre_parse.parse(m.pattern)
    except (re.error, RecursionError, OverflowError, ValueError):
        return None
    flags = parsed.state.flags
    if flags & re.VERBOSE:
        return None
    folded = "i" in m.flags or bool(flags & re.IGNORECASE)
    best = ""
    run: list[str] = []
    for op, av in [*list(parsed), (None, None)]:
        if op is sre_c.LITERAL and isinstance(av, int):
            run.append(chr(av))
            continue
        if len(run) > len(best):
            best = "".join(run)
        run = []
    if len(best) < 3:
        return None
    if folded:
        if not best.isascii():
            return None  # Unicode case folding of RE2 and str.lower() differ beyond ASCII
        return best.lower(), True
    return best, False


def _checker(spec: CheckSpec) -> Callable[[str], bool]:
    """The full check of a wildcard pattern or of a regex with a trigger literal."""
    if isinstance(spec, ir.Regex):
        search = values.compile_regex(spec).search
        return lambda t: search(t) is not None
    return _glob_checker(spec)


def _glob_checker(parts: tuple[ir.Part, ...]) -> Callable[[str], bool]:
    """A full check of one wildcard pattern (literal parts already folded)."""
    if ir.ONE in parts or ir.DASH in parts:
        compiled = values.compile_re2(values.glob_regex(parts))
        return lambda s: compiled.search(s) is not None
    head = parts[0] if isinstance(parts[0], str) else ""
    tail = parts[-1] if isinstance(parts[-1], str) and len(parts) > 1 else ""
    inner = parts[1 if head else 0 : len(parts) - 1 if tail else len(parts)]
    middle = [p for p in inner if isinstance(p, str)]

    def check(s: str) -> bool:
        # Literals separated by ``*`` only: placing each leftmost in turn is optimal.
        if head and not s.startswith(head):
            return False
        pos = len(head)
        for lit in middle:
            at = s.find(lit, pos)
            if at < 0:
                return False
            pos = at + len(lit)
        return not tail or (s.endswith(tail) and len(s) - len(tail) >= pos)

    return check


def _value_test(m: ir.Matcher) -> ValueTest:
    if isinstance(m, ir.Compare):
        op, bound = m.op, m.value

        def cmp(v: Any) -> bool:
            n = values.number(v)
            return n is not None and values.compare(op, n, bound)

        return cmp
    if isinstance(m, ir.Boolean):
        want = m.value
        return lambda v: values.boolean(v) == want
    if isinstance(m, ir.Cidr):
        net = ipaddress.ip_network(m.network)

        def cidr(v: Any) -> bool:
            s = values.text(v)
            return s is not None and values.in_network(s, net)

        return cidr
    if isinstance(m, ir.TimePart):
        part, want_n = m.part, m.value

        def tpart(v: Any) -> bool:
            dt = values.timestamp(v)
            return dt is not None and values.time_part(dt, part) == want_n

        return tpart
    raise TypeError(f"no value test for {m!r}")


def _ref_test(ref: ir.FieldRef) -> RefTest:
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
