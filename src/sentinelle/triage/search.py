"""Searching events for words, regular expressions and field values.

A ``Query`` is built once from the command line's terms. Keywords and regexes are tested
against the text of every value of the event (numbers by their decimal text, lists item by
item); field terms against one field. Regexes run in RE2, as rule regexes do: a pattern from
the command line may be as hostile as one from a rule file, and RE2 runs in linear time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import re2

from sentinelle.engine import values
from sentinelle.errors import ConfigError, Location
from sentinelle.events import Event


@dataclass(frozen=True, slots=True)
class FieldTerm:
    """``NAME=VALUE``: the field (name compared case-insensitively) has that value, compared
    case-insensitively, ``*`` matching any run of characters and ``?`` one."""

    name: str
    value: str
    pattern: Any  # compiled RE2 full-match pattern


@dataclass(frozen=True, slots=True)
class Query:
    keywords: tuple[str, ...] = ()  # lower case
    regexes: tuple[Any, ...] = ()  # compiled RE2 patterns
    fields: tuple[FieldTerm, ...] = ()
    all_terms: bool = False  # keywords and regexes must all hold (else any of them)

    def matches(self, event: Event) -> bool:
        """Every field term holds, and any (or all) of the keywords and regexes."""
        fields = event.fields
        for term in self.fields:
            if not _field_holds(fields, term):
                return False
        if not self.keywords and not self.regexes:
            return True
        texts = list(_texts(fields))
        lowered = [t.lower() for t in texts] if self.keywords else []
        found = (any(k in t for t in lowered) for k in self.keywords)
        hits = (any(r.search(t) for t in texts) for r in self.regexes)
        if self.all_terms:
            return all(found) and all(hits)
        return any(found) or any(hits)


def build_query(
    keywords: Sequence[str],
    regexes: Sequence[str],
    fields: Sequence[str],
    *,
    all_terms: bool = False,
    ignore_case: bool = False,
) -> Query:
    """The query of the command line's terms; ``ConfigError`` names a bad one."""
    if not (keywords or regexes or fields):
        raise ConfigError("give at least one --keyword, --regex or --field", Location("search"))
    compiled = []
    for text in regexes:
        try:
            compiled.append(values.compile_re2(f"(?i){text}" if ignore_case else text))
        except re2.error as exc:
            raise ConfigError(
                f"regular expression {text!r} is not supported by RE2 (linear-time): {exc}",
                Location("--regex"),
            ) from None
    terms = []
    for text in fields:
        name, sep, value = text.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"{text!r} is not NAME=VALUE", Location("--field"))
        terms.append(FieldTerm(name.strip(), value, values.compile_re2(_glob(value))))
    empty = [k for k in keywords if not k]
    if empty:
        raise ConfigError("an empty --keyword would match every event", Location("--keyword"))
    return Query(
        keywords=tuple(k.lower() for k in keywords),
        regexes=tuple(compiled),
        fields=tuple(terms),
        all_terms=all_terms,
    )


def _glob(value: str) -> str:
    """A ``*``/``?`` pattern as a case-insensitive, whole-value RE2 pattern."""
    parts = []
    for ch in value:
        if ch == "*":
            parts.append(".*")
        elif ch == "?":
            parts.append(".")
        else:
            parts.append(re2.escape(ch))
    return "(?is)^" + "".join(parts) + "$"


def _texts(fields: dict[str, Any]) -> Iterator[str]:
    for raw in fields.values():
        for value in values.scalars(raw):
            text = values.text(value)
            if text is not None:
                yield text


def _field_holds(fields: dict[str, Any], term: FieldTerm) -> bool:
    raw = fields.get(term.name)
    if raw is None and term.name not in fields:
        lowered = term.name.lower()
        raw = next((v for k, v in fields.items() if k.lower() == lowered), None)
    if raw is None:
        return False
    for value in values.scalars(raw):
        text = values.text(value)
        if text is not None and term.pattern.search(text):
            return True
    return False
