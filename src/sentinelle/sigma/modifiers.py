"""Sigma value modifiers Sentinelle reads differently from pySigma, in place while it parses.

* ``utf16le``: Sigma 2's name for ``wide``, which pySigma 1.x does not know.
* ``windash``: pySigma writes out every combination of dash characters (five per dash: a value
  with 10 dashes became 9.8 million strings, 30 s and 400 MB to compile, and a rule package
  holding one hung ``rules update``). Here each dash position becomes one ``DashPosition`` in
  the string, which the engine reads as "any one of ``ir.DASHES``" (hyphen, slash, en dash, em
  dash, horizontal bar): the value keeps its length and its cost stays linear in it. Which
  dashes count is pySigma's rule, unchanged: a ``-`` or ``/`` that starts a word after a
  non-word character (``\\B[-/]\\b``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sigma.modifiers import SigmaValueModifier, SigmaWideModifier, modifier_mapping
from sigma.types import Placeholder, SigmaString, SpecialChars

_DASH_AT = re.compile(r"\B[-/]\b")


@dataclass
class DashPosition(Placeholder):
    """One character that may be any dash; never a user ``%placeholder%`` (another type)."""

    name: str = "windash"


class WindashModifier(SigmaValueModifier[SigmaString, SigmaString]):
    """``windash`` as one pattern with a dash class at each dash position."""

    def modify(self, val: SigmaString) -> SigmaString:
        parts: list[str | SpecialChars | Placeholder] = []
        for part in val.s:
            if not isinstance(part, str):
                parts.append(part)
                continue
            start = 0
            for found in _DASH_AT.finditer(part):
                if found.start() > start:
                    parts.append(part[start : found.start()])
                parts.append(DashPosition())
                start = found.end()
            if start < len(part):
                parts.append(part[start:])
        out = val.__class__()
        out.s = parts
        return out


@contextlib.contextmanager
def sentinelle_modifiers() -> Iterator[None]:
    """pySigma's modifier registry with these modifiers, for the time of a parse.

    The registry is pySigma's global: changed only around Sentinelle's own parsing, so that
    pySigma used otherwise in the same process (a backend converting rules, as the peer
    benchmark does) keeps its own behaviour.
    """
    ours: dict[str, type[Any]] = {"windash": WindashModifier}
    if "utf16le" not in modifier_mapping:
        ours["utf16le"] = SigmaWideModifier
    saved = {name: modifier_mapping.get(name) for name in ours}
    modifier_mapping.update(ours)
    try:
        yield
    finally:
        for name, previous in saved.items():
            if previous is None:
                modifier_mapping.pop(name, None)
            else:
                modifier_mapping[name] = previous
