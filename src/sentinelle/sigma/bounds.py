"""Size and depth bounds a rule document must keep before pySigma reads it.

pySigma parses regular expressions with Python's recursive ``re`` parser and conditions with a
recursive grammar, then copies the parse trees recursively: a regex nested 5,000 groups deep or a
condition of 5,000 ``not`` raises ``RecursionError`` from inside it, at a depth that depends on
how deep the caller's own stack already is. These checks refuse such a rule first, with a reason
and the text to point at, at the same bound wherever the loader is called from. Real rules stay
far below them (SigmaHQ: regexes nested at most 4 groups deep, conditions under 600 characters).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# RE2 itself refuses nesting past 1,000; Python's parser recurses twice per group.
MAX_REGEX_DEPTH = 100
# Parsing a condition costs about 15 us per character (pyparsing): 8 KiB is about 0.1 s.
MAX_CONDITION_CHARS = 8 * 1024


@dataclass(frozen=True, slots=True)
class Violation:
    """Why a document is refused, and a piece of its text that shows where."""

    reason: str
    needle: str


def check_document(data: dict[str, Any]) -> Violation | None:
    """The first bound ``data`` (one parsed rule document) breaks, or None."""
    correlation = data.get("correlation")
    if isinstance(correlation, dict):
        rules = correlation.get("rules")
        if isinstance(rules, list) and not all(isinstance(r, str) and r for r in rules):
            # pySigma would resolve an empty reference to nothing and fail on it.
            return Violation("a correlation's rules are rule names or ids", "rules:")
    detection = data.get("detection")
    if not isinstance(detection, dict):
        return None  # pySigma reports a missing or malformed detection itself
    condition = detection.get("condition")
    conditions = condition if isinstance(condition, list) else [condition]
    if condition is not None and not all(isinstance(c, str) for c in conditions):
        return Violation("a condition is text or a list of texts", "condition:")
    size = sum(len(c) for c in conditions if isinstance(c, str))
    if size > MAX_CONDITION_CHARS:
        return Violation(
            f"condition of {size} characters (at most {MAX_CONDITION_CHARS})", "condition:"
        )
    for key, pattern in _regexes(detection):
        depth = regex_depth(pattern)
        if depth > MAX_REGEX_DEPTH:
            return Violation(
                f"regular expression nested {depth} groups deep (at most {MAX_REGEX_DEPTH})",
                key,
            )
    return None


def _regexes(detection: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(key, pattern) for every value of a ``|re`` key anywhere under ``detection``."""
    stack: list[Any] = [v for k, v in detection.items() if k != "condition"]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            for key, value in item.items():
                if isinstance(key, str) and "re" in key.split("|")[1:]:
                    values = value if isinstance(value, list) else [value]
                    yield from ((key, v) for v in values if isinstance(v, str))
                else:
                    stack.append(value)


def regex_depth(pattern: str) -> int:
    """How deeply the groups of ``pattern`` nest (escapes and character classes skipped).

    An over-estimate at worst (RE2's ``\\Q...\\E`` is not understood), never an under-estimate.
    """
    depth = deepest = 0
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            # A class: a ``]`` right after ``[`` or ``[^`` is a literal, the next one ends it.
            i += 1
            if i < n and pattern[i] == "^":
                i += 1
            if i < n and pattern[i] == "]":
                i += 1
            while i < n and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
        elif c == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif c == ")":
            depth = max(depth - 1, 0)
        i += 1
    return deepest
