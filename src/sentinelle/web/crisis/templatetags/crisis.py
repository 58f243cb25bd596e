"""Template filters of the crisis pages: sources and disagreements in words, time left."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from sentinelle.web.access import CRISIS_CELL, Principal
from sentinelle.web.crisis.clocks import KINDS
from sentinelle.web.crisis.models import Status

register = template.Library()


def _source(name: str) -> str:
    return {
        "predicted": pgettext("source", "predicted"),
        "seen": pgettext("source", "seen"),
        "declared": pgettext("source", "declared"),
    }.get(name, name)


def _said(word: str) -> str:
    return {
        "up": pgettext("availability", "up"),
        "degraded": pgettext("availability", "degraded"),
        "down": pgettext("availability", "down"),
    }.get(word, word)


@register.filter
def source_label(name: str) -> str:
    return _source(str(name))


@register.filter
def status_label(value: str) -> str:
    try:
        return str(Status(value).label)
    except ValueError:
        return str(value)


@register.filter
def disagreement(pair: Any) -> str:
    """``["predicted", "down", "seen", "up"]`` -> "predicted down, seen up"."""
    if not isinstance(pair, list | tuple) or len(pair) != 4:
        return ""
    first, said_first, second, said_second = (str(p) for p in pair)
    return _("%(a)s %(x)s, %(b)s %(y)s") % {
        "a": _source(first),
        "x": _said(said_first),
        "b": _source(second),
        "y": _said(said_second),
    }


def span_text(minutes: int) -> str:
    """``2 d 5 h`` past two days, else ``5 h 07 min`` (app.js writes the same)."""
    minutes = abs(minutes)
    if minutes >= 48 * 60:
        return f"{minutes // 1440} d {minutes % 1440 // 60} h"
    return f"{minutes // 60} h {minutes % 60:02d} min"


@register.simple_tag
def time_left(due: datetime, now: datetime) -> str:
    minutes = round((due - now).total_seconds() / 60)
    if minutes >= 0:
        return _("%s left") % span_text(minutes)
    return _("overdue by %s") % span_text(minutes)


@register.filter
def clock_title(kind: str) -> str:
    found = KINDS.get(str(kind))
    return str(found.title) if found else str(kind)


@register.filter
def name_in(key: str, names: dict[str, str]) -> str:
    return names.get(key, key) if isinstance(names, dict) else key


@register.filter
def in_crisis_cell(principal: Any) -> bool:
    """Whether the signed-in person may act for the crisis cell (role or seat)."""
    return isinstance(principal, Principal) and principal.has_any(CRISIS_CELL)
