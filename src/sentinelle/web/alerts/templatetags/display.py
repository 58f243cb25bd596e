"""Template filters for text that came from an input (event fields, host and user names).

Templates escape HTML already; these make control characters and bidi overrides visible (a
right-to-left override would reverse what the analyst reads) and cut very long values, so a
1 MB command line cannot stretch a page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from django import template

from sentinelle.terminal import printable
from sentinelle.web import reasons

register = template.Library()

SHOWN_CHARACTERS = 4000


@register.filter
def shown(value: Any, limit: int = SHOWN_CHARACTERS) -> str:
    """An input value as text: controls visible, at most ``limit`` characters."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = value
    elif isinstance(value, (int, float, bool)):
        text = str(value)
    else:
        text = orjson.dumps(value, default=str).decode()
    if len(text) > limit:
        text = text[:limit] + f" … [{len(text) - limit} more characters]"
    # Line breaks stay (a script block reads as lines); every other control is made visible.
    return "\n".join(printable(line) for line in text.split("\n"))


# A browser lays out a long unbroken run slowly (64,000 characters take Chromium seconds): the
# page shows this much of a value, and the whole event is a download away.
SHOWN_FULL_CHARACTERS = 8000


@register.filter
def shown_full(value: Any) -> str:
    """The same, with a larger limit (an alert's own page)."""
    return shown(value, SHOWN_FULL_CHARACTERS)


@register.filter
def get(mapping: Any, key: str) -> Any:
    """``mapping[key]`` in a template, or an empty string."""
    if isinstance(mapping, dict):
        return mapping.get(key, "")
    return ""


@register.simple_tag
def facet_query(params: dict[str, str], name: str, value: str) -> str:
    """The list's parameters with filter ``name`` set to ``value`` (or unset, if it was)."""
    query = dict(params)
    if query.get(name) == value:
        query.pop(name)
    else:
        query[name] = value
    return urlencode(query)


@register.filter
def joined(values: Any, limit: int = 50) -> str:
    """A list of input values as one line (``a, b, c``), each shown safely, at most ``limit``."""
    if not isinstance(values, (list, tuple)):
        return shown(values)
    items = [shown(v, 300) for v in values[:limit]]
    more = len(values) - limit
    return ", ".join(items) + (f" … (+{more})" if more > 0 else "")


def _field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


@register.filter
def reason(value: Any) -> str:
    """Why, in the page's language: the ``why`` parts of a board row, a status change or a
    source (``sentinelle.web.reasons``), else the ``reason`` text it stored."""
    text = reasons.parts_text(_field(value, "why"), str(_field(value, "reason") or ""))
    return shown(text)  # a person's words or a probed server's answer: controls made visible


@register.filter
def impact_cause(entry: Any) -> str:
    """An impact entry's root cause in the page's language (its English ``cause`` for an entry
    stored without its explanation)."""
    explanation = _field(entry, "explanation")
    if isinstance(explanation, dict) and explanation.get("cause"):
        return reasons.cause_text(explanation["cause"])
    return str(_field(entry, "cause") or "")


@register.filter
def state_label(value: Any) -> str:
    """An impact state (down, degraded, at-risk, operational) in the page's language."""
    return reasons.state_text(value)
