"""Why a service is in its state, in the reader's language.

The impact engine stays language-neutral: it explains an entry as data
(:meth:`sentinelle.hospital.ImpactEntry.explanation`: a state, a short path of model names, a
cause of a known kind with its arguments). The web app words that data here, with gettext, when
a page is rendered (the live feeds render once per language): a French page says "hôte pc-12
indisponible" where the command line says "host pc-12 unavailable".

What the board shows in a cell is a list of *parts* (:func:`parts_text`), so that a reason made
of several sources stays translatable piece by piece: ``{"text": ...}`` is someone's own words
(a declaration, a probe's answer) shown as written; ``{"impact": explanation}`` is the engine's;
``{"expired": {...}}`` says that a declaration's expected end has passed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from sentinelle.hospital.report import CauseKind, path_text

STATES: dict[str, Promise] = {
    "operational": gettext_lazy("operational"),
    "at-risk": gettext_lazy("at risk"),
    "degraded": gettext_lazy("degraded"),
    "down": gettext_lazy("down"),
}

# One message per kind of cause, with the engine's arguments as named placeholders.
CAUSES: dict[CauseKind, Promise] = {
    CauseKind.HOST_UNAVAILABLE: pgettext_lazy("impact", "host %(host)s unavailable"),
    CauseKind.HOSTS_UNAVAILABLE: pgettext_lazy("impact", "%(count)s hosts unavailable (%(hosts)s)"),
    CauseKind.HOST_DEGRADED: pgettext_lazy("impact", "host %(host)s degraded"),
    CauseKind.HOST_COMPROMISED: pgettext_lazy("impact", "host %(host)s compromised"),
    CauseKind.ASSET_UNAVAILABLE: pgettext_lazy("impact", "asset %(asset)s unavailable"),
    CauseKind.ASSET_DEGRADED: pgettext_lazy("impact", "asset %(asset)s degraded"),
    CauseKind.ASSET_COMPROMISED: pgettext_lazy("impact", "asset %(asset)s compromised"),
    CauseKind.REPORTED_UNAVAILABLE: pgettext_lazy("impact", "reported unavailable"),
    CauseKind.REPORTED_DEGRADED: pgettext_lazy("impact", "reported degraded"),
    CauseKind.REPORTED_COMPROMISED: pgettext_lazy("impact", "reported compromised"),
    CauseKind.SITE_ISOLATED: pgettext_lazy(
        "impact", "site isolated by containment action %(action)s"
    ),
    CauseKind.CUT: pgettext_lazy("impact", "cut by containment action %(action)s"),
    CauseKind.STOPPED: pgettext_lazy("impact", "stopped by containment action %(action)s"),
    CauseKind.NO_INSTANCE: pgettext_lazy("impact", "no instance of %(component)s at site %(site)s"),
    CauseKind.SOFT_DEPENDENCY: pgettext_lazy(
        "impact", "%(component)s works without %(dependency)s (soft dependency)"
    ),
}


def state_text(state: object) -> str:
    found = STATES.get(str(state))
    return str(found) if found is not None else str(state)


def cause_text(data: Any) -> str:
    """A cause as :meth:`sentinelle.hospital.report.Cause.to_dict` gives it, in words."""
    if not isinstance(data, Mapping):
        return ""
    try:
        message = CAUSES[CauseKind(str(data.get("kind")))]
    except ValueError:  # a kind this version does not know (a newer engine's row): its name
        return str(data.get("kind", ""))
    args = {str(k): str(v) for k, v in data.items() if k != "kind"}
    try:
        return str(message) % args
    except (KeyError, TypeError, ValueError):  # arguments missing from a stored row
        return str(message)


def _path(data: Any) -> str:
    if not isinstance(data, list):
        return ""
    return path_text([None if p is None else str(p) for p in data])


def impact_text(explanation: Any) -> str:
    """An :meth:`~sentinelle.hospital.ImpactEntry.explanation` in words: ``down: a -> b
    (cause); note; also at risk: a -> c (cause)``."""
    if not isinstance(explanation, Mapping):
        return ""
    state = str(explanation.get("state", ""))
    if state == "operational":
        return state_text(state)
    text = _("%(state)s: %(path)s (%(cause)s)") % {
        "state": state_text(state),
        "path": _path(explanation.get("path")),
        "cause": cause_text(explanation.get("cause")),
    }
    if explanation.get("note"):
        text += "; " + cause_text(explanation["note"])
    risk = explanation.get("risk")
    if isinstance(risk, Mapping):
        text += "; " + _("also at risk: %(path)s (%(cause)s)") % {
            "path": _path(risk.get("path")),
            "cause": cause_text(risk.get("cause")),
        }
    return text


def expired_text(data: Any) -> str:
    """A declaration past its expected end: what it said, until when, who said it."""
    if not isinstance(data, Mapping):
        return ""
    end = parse_datetime(str(data.get("expected_end") or ""))
    return _("declaration expired (%(status)s until %(end)s, by %(author)s)") % {
        "status": state_text(data.get("status", "")),
        "end": formats.date_format(timezone.localtime(end), "Y-m-d H:i") if end else "?",
        "author": str(data.get("by", "")),
    }


def part_text(part: Any) -> str:
    if not isinstance(part, Mapping):
        return ""
    if "impact" in part:
        return impact_text(part["impact"])
    if "expired" in part:
        return expired_text(part["expired"])
    return str(part.get("text", ""))


def parts_text(parts: Any, fallback: str = "") -> str:
    """A reason made of parts, in words, ``; ``-separated; ``fallback`` (the stored English
    text) for a row written before reasons were kept as parts."""
    if not isinstance(parts, Sequence) or isinstance(parts, str) or not parts:
        return fallback
    return "; ".join(text for text in (part_text(p) for p in parts) if text)
