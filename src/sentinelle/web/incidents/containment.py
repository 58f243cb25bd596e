"""An incident's impact on the hospital's services, and containment actions simulated before
they are taken: the same engine as ``sentinelle impact`` (:func:`sentinelle.hospital.assess`).

The incident's hosts count as compromised; the actions already taken are applied; a simulated
action is the difference between the impact with it and without it ("cutting the internet
stops the teleradiology at three sites").
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from django.core.cache import cache
from django.utils.translation import gettext as _

from sentinelle.hospital import HospitalModel, ImpactReport, ServiceState, assess, parse_action
from sentinelle.web.incidents.models import ContainmentAction, ContainmentState, Incident


def taken_actions(incident: Incident) -> list[str]:
    rows = incident.containment.filter(state=ContainmentState.TAKEN).order_by("decided_at")
    return [action_text(row) for row in rows]


def action_text(row: ContainmentAction) -> str:
    return f"{row.kind}:{row.target}"


def current_impact(model: HospitalModel, incident: Incident) -> ImpactReport:
    """The impact engine's answer for the incident as it stands (kept while neither its
    entities nor its actions change: every page view of a busy incident would assess again)."""
    compromised = [*incident.hosts, *incident.assets]
    actions = taken_actions(incident)
    key = (
        "incident-impact:"
        + hashlib.sha256(repr((id(model), compromised, actions)).encode()).hexdigest()
    )
    report: ImpactReport | None = cache.get(key)
    if report is None:
        report = assess(model, compromised=compromised, actions=actions)
        cache.set(key, report, 300)
    return report


def options(model: HospitalModel) -> list[tuple[str, str]]:
    """The containment actions a person can pick, as (``verb:target``, label)."""
    out: list[tuple[str, str]] = []
    for role, label in (
        ("internet", _("Cut the internet")),
        ("remote-access", _("Shut remote access")),
        ("directory", _("Disable the directory")),
    ):
        if model.resolve_component(role) is not None:
            verb = {"internet": "cut", "remote-access": "shut", "directory": "disable"}[role]
            out.append((f"{verb}:{role}", label))
    for site in model.sites.values():
        out.append((f"isolate:{site.id}", _("Isolate site %(site)s") % {"site": site.name}))
    for comp in model.infrastructure.values():
        out.append((f"cut:{comp.id}", _("Cut %(name)s") % {"name": comp.name or comp.id}))
    return out


def entry_dict(entry: Any) -> dict[str, Any]:
    return {
        "site": entry.site,
        "component": entry.component,
        "name": entry.name,
        "criticality": entry.criticality,
        "state": entry.state.value,
        "cause": entry.cause,  # in English; pages word the explanation in their language
        "explanation": entry.explanation(),
        "path": list(entry.path),
    }


def simulate(model: HospitalModel, incident: Incident, action: str) -> dict[str, Any]:
    """What ``action`` changes, service by service and site by site, on top of the present."""
    parsed = parse_action(action)  # ConfigError for a malformed one
    compromised = [*incident.hosts, *incident.assets]
    taken = taken_actions(incident)
    before = assess(model, compromised=compromised, actions=taken)
    after = assess(model, compromised=compromised, actions=[*taken, str(parsed)])
    changes = [
        {**entry_dict(entry), "before": old.value} for old, entry in after.changes_since(before)
    ]
    return {
        "action": str(parsed),
        "changes": changes,
        "counts_before": before.counts(),
        "counts_after": after.counts(),
        "down_sites": sorted({c["site"] for c in changes if c["state"] == "down"}),
    }


def affected_by_site(report: ImpactReport, sites: Sequence[str]) -> list[dict[str, Any]]:
    """Services not operational, by site (the order of the model)."""
    out: list[dict[str, Any]] = []
    for site, entries in report.by_site().items():
        if sites and site not in sites:
            continue
        hit = [entry_dict(e) for e in entries if e.state is not ServiceState.OPERATIONAL]
        if hit:
            out.append({"site": site, "entries": hit})
    return out
