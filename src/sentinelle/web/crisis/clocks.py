"""Regulatory clocks: the deadlines that start when an incident is declared significant.

Each kind has its deadline counted from the declaration (the moment the establishment is aware
of a significant incident): the declaration to the health authorities without delay (French
health establishments: the ARS and CERT Santé), the personal-data breach notification to the
data-protection authority within 72 hours (GDPR art. 33), and the three NIS2 steps (art. 23):
an early warning within 24 hours, an incident notification within 72 hours, a final report one
month after the notification was sent (one month after its deadline while it is not).

Which kinds apply is the establishment's choice (:class:`ClockRule` rows, edited by an
administrator on the clocks' settings page; defaults below). Each clock carries a draft,
prefilled from the incident (:func:`prefill`), that the crisis cell completes, prints (the
authorities' portals are online, the hospital may not be), exports and marks sent.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from sentinelle.hospital import HospitalModel
from sentinelle.web.crisis.models import Clock, ClockRule, Status
from sentinelle.web.incidents.models import ContainmentAction, ContainmentState, Incident

NIS2_FINAL = "nis2-final-report"
NIS2_NOTIFICATION = "nis2-notification"


@dataclass(frozen=True, slots=True)
class Kind:
    key: str
    title: str | Promise
    deadline: timedelta | None  # None: one calendar month after ``after`` (or after the start)
    basis: str | Promise  # the text that sets it
    authority: str | Promise  # defaults, per establishment in ClockRule
    channel: str | Promise
    after: str = ""  # the kind whose sending starts this one (the NIS2 final report)


KINDS: dict[str, Kind] = {
    k.key: k
    for k in (
        Kind(
            "health-authority",
            _("Incident declaration to the health authorities"),
            timedelta(0),
            _("without delay (Public Health Code, art. L.1111-8-2)"),
            _("Regional health agency (ARS) and CERT Santé"),
            _("signalement.social-sante.gouv.fr; CERT Santé on-call by phone"),
        ),
        Kind(
            "gdpr",
            _("Personal-data breach notification"),
            timedelta(hours=72),
            _("72 hours (GDPR art. 33)"),
            _("Data-protection authority (CNIL)"),
            _("notifications.cnil.fr"),
        ),
        Kind(
            "nis2-early-warning",
            _("NIS2 early warning"),
            timedelta(hours=24),
            _("24 hours (NIS2 art. 23(4)(a))"),
            _("National CSIRT (ANSSI / CERT-FR)"),
            _("the national NIS2 portal; CERT-FR by phone"),
        ),
        Kind(
            NIS2_NOTIFICATION,
            _("NIS2 incident notification"),
            timedelta(hours=72),
            _("72 hours (NIS2 art. 23(4)(b))"),
            _("National CSIRT (ANSSI / CERT-FR)"),
            _("the national NIS2 portal"),
        ),
        Kind(
            NIS2_FINAL,
            _("NIS2 final report"),
            None,
            _("one month after the incident notification (NIS2 art. 23(4)(d))"),
            _("National CSIRT (ANSSI / CERT-FR)"),
            _("the national NIS2 portal"),
            after=NIS2_NOTIFICATION,
        ),
    )
}

# The draft's sections, in order, and their labels.
SECTIONS: dict[str, str | Promise] = {
    "facts": _("Facts"),
    "detection": _("First detection"),
    "times": _("Times"),
    "scope": _("Services and sites hit"),
    "containment": _("Containment taken"),
    "data": _("Data categories at risk"),
    "contact": _("Contact for the authority"),
    "other": _("Other information"),
}


def add_month(at: datetime) -> datetime:
    """The same time one calendar month later (the last day of a shorter month)."""
    year, month = (at.year + 1, 1) if at.month == 12 else (at.year, at.month + 1)
    day = min(at.day, calendar.monthrange(year, month)[1])
    return at.replace(year=year, month=month, day=day)


def rules() -> dict[str, dict[str, Any]]:
    """Per kind: whether it applies here, to whom, and how it is sent (defaults completed)."""
    stored = {r.kind: r for r in ClockRule.objects.all()}
    out: dict[str, dict[str, Any]] = {}
    for key, kind in KINDS.items():
        row = stored.get(key)
        out[key] = {
            "kind": kind,
            "applies": row.applies if row is not None else True,
            "authority": (row.authority if row is not None else "") or str(kind.authority),
            "channel": (row.channel if row is not None else "") or str(kind.channel),
        }
    return out


def due_of(kind: Kind, started: datetime, sent: dict[str, datetime | None]) -> datetime:
    if kind.deadline is not None:
        return started + kind.deadline
    if kind.after:
        basis = sent.get(kind.after)
        if basis is None:
            previous = KINDS[kind.after]
            basis = due_of(previous, started, sent)
        return add_month(basis)
    return add_month(started)


def recompute_dues(incident: Incident) -> list[Clock]:
    """Deadlines that depend on another clock's sending (the NIS2 final report), brought up to
    date; the clocks changed are returned (unsaved)."""
    clocks = {c.kind: c for c in incident.clocks.all()}
    sent = {k: c.sent for k, c in clocks.items()}
    changed = []
    for key, clock in clocks.items():
        kind = KINDS.get(key)
        if kind is None or not kind.after:
            continue
        due = due_of(kind, clock.started, sent)
        if due != clock.due:
            clock.due = due
            changed.append(clock)
    return changed


def _hhmm(at: datetime | None) -> str:
    from django.utils import timezone

    return timezone.localtime(at).strftime("%Y-%m-%d %H:%M %Z") if at else "—"


def prefill(incident: Incident, model: HospitalModel, board: list[Any]) -> dict[str, str]:
    """A draft from what the store knows: the incident's facts, its first detection and times,
    the services and sites the board shows hit, the containment taken, and the services whose
    data may be at risk (to be completed: which personal data, how many people)."""
    sites = {s.id: s.name for s in model.sites.values()}
    hit = [row for row in board if row.status != Status.OPERATIONAL]
    by_service: dict[str, list[str]] = {}
    for row in hit:
        by_service.setdefault(row.service, []).append(f"{sites.get(row.site, row.site)}")
    scope_lines = []
    for service_id, where in by_service.items():
        service = model.services.get(service_id)
        name = service.name if service is not None else service_id
        states = sorted({r.status for r in hit if r.service == service_id})
        scope_lines.append(f"- {name} ({', '.join(states)}): {', '.join(where)}")
    taken = ContainmentAction.objects.filter(
        incident=incident, state=ContainmentState.TAKEN
    ).select_related("decided_by")
    containment_lines = [
        f"- {a.kind}:{a.target}, {_hhmm(a.decided_at)}"
        + (f", decided by {a.decided_by.username}" if a.decided_by else "")
        + (f": {a.note}" if a.note else "")
        for a in taken.order_by("decided_at", "id")
    ]
    at_risk = sorted(
        {
            model.services[r.service].name
            for r in hit
            if r.service in model.services
            and (r.status in (Status.AT_RISK, Status.DOWN, Status.DEGRADED))
        }
    )
    facts = [f"#{incident.pk} {incident.title}", f"Severity: {incident.severity}"]
    if incident.summary:
        facts.append(incident.summary)
    if incident.hosts:
        facts.append("Hosts: " + ", ".join(incident.hosts[:50]))
    if incident.accounts:
        facts.append("Accounts: " + ", ".join(incident.accounts[:50]))
    chain = [f"- {c.get('name', c.get('tactic', ''))}" for c in incident.chain or []]
    if chain:
        facts.append("Attack stages (ATT&CK):\n" + "\n".join(chain))
    return {
        "facts": "\n".join(facts),
        "detection": _hhmm(incident.first_seen or incident.opened),
        "times": "\n".join(
            [
                f"First seen: {_hhmm(incident.first_seen)}",
                f"Last seen: {_hhmm(incident.last_seen)}",
                f"Incident opened: {_hhmm(incident.opened)}",
                f"Declared significant: {_hhmm(incident.significant_at)}",
            ]
        ),
        "scope": "\n".join(scope_lines) or "—",
        "containment": "\n".join(containment_lines) or "—",
        "data": ("Services whose data may be at risk: " + ", ".join(at_risk) if at_risk else "—")
        + "\n(complete: categories of personal data, number of people and records)",
        "contact": "",
        "other": "",
    }
