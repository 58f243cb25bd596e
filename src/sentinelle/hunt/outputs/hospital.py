"""The hospital part of a hunt's outputs: incidents and their impact on services.

One view of ``HuntSummary.hospital`` per output: rows for the terminal summary, records for the
JSON lines (after the detections), a section for the HTML report. Site and service names come
from the model and are shown beside their ids, so an analyst reads "Dossier patient", not
``patient-record``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from sentinelle.events import format_timestamp
from sentinelle.hospital import ImpactEntry
from sentinelle.hunt.hospital import HospitalFindings, IncidentImpact
from sentinelle.hunt.outputs.fields import utc_text
from sentinelle.terminal import printable

_TOP = 10  # incidents and affected services the terminal shows (the JSON lines have them all)
_HTML_TOP = 100


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d}"


def ranked(findings: HospitalFindings) -> list[IncidentImpact]:
    """Incidents most severe first, then the earliest."""
    from sentinelle.detections import level_rank

    return sorted(
        findings.incidents,
        key=lambda i: (-level_rank(i.incident.severity), i.incident.first_seen),
    )


def _service(findings: HospitalFindings, entry: ImpactEntry) -> str:
    site = findings.site_names.get(entry.site, entry.site)
    return f"{entry.name} ({entry.component}) at {site}"


def headline(findings: HospitalFindings) -> str:
    how = "worked example, its machines match" if findings.default_model else "--model"
    return (
        f"{findings.hospital} ({how}): {findings.located:,} detections placed, "
        f"{findings.hosts_located} of {findings.hosts_seen} machines with detections in the "
        f"model; {findings.incidents_total:,} incidents"
        + (f"; {findings.raised:,} levels raised (vital services)" if findings.raised else "")
    )


def print_hospital(console: Console, findings: HospitalFindings) -> None:
    """The incidents and the services they hit, under the terminal summary."""
    console.print(Text("Hospital", style="bold underline"))
    console.print(Text(printable(headline(findings))))
    if findings.incidents:
        table = Table(title="Top incidents", title_justify="left", box=None, header_style="bold")
        for name in ("Incident", "Level", "First (UTC)", "Lasts", "Det.", "Sites", "Title"):
            table.add_column(name, no_wrap=name != "Title", overflow="ellipsis")
        for item in ranked(findings)[:_TOP]:
            inc = item.incident
            table.add_row(
                inc.id,
                inc.severity,
                utc_text(inc.first_seen),
                _duration(inc.duration),
                str(inc.detections),
                printable(", ".join(inc.sites) or "-"),
                printable(inc.title),
            )
        console.print(table)
    rows = grouped(findings.impact.affected() if findings.impact is not None else [])
    if rows:
        table = Table(
            title="Services hit by the serious incidents",
            title_justify="left",
            box=None,
            header_style="bold",
        )
        for name in ("State", "Criticality", "Service", "Where", "Because"):
            table.add_column(name, overflow="ellipsis")
        for row in rows[:_TOP]:
            table.add_row(
                row.state,
                row.criticality,
                printable(f"{row.name} ({row.service})"),
                printable(_where(findings, row.sites)),
                printable(row.cause),
            )
        console.print(table)
        if len(rows) > _TOP:
            console.print(Text(f"  ... and {len(rows) - _TOP} more services affected"))


@dataclass(frozen=True, slots=True)
class ServiceHit:
    """One service in one state for one reason, and the sites where it is so."""

    state: str
    criticality: str
    service: str
    name: str
    cause: str
    sites: tuple[str, ...]


def grouped(entries: list[ImpactEntry]) -> list[ServiceHit]:
    """Affected (site, service) entries as one row per service, state and cause, worst first
    (a service down at nine sites for one reason is one line, not nine)."""
    rows: dict[tuple[str, str, str], list[ImpactEntry]] = {}
    for entry in sorted(entries, key=_impact_order):
        cause = entry.cause or entry.risk_cause or "-"
        rows.setdefault((entry.component, entry.state.label, cause), []).append(entry)
    return [
        ServiceHit(
            state=state,
            criticality=group[0].criticality or "-",
            service=component,
            name=group[0].name,
            cause=cause,
            sites=tuple(e.site for e in group),
        )
        for (component, state, cause), group in rows.items()
    ]


def _where(findings: HospitalFindings, sites: tuple[str, ...]) -> str:
    if len(sites) == len(findings.site_names) and len(sites) > 1:
        return "every site"
    names = [findings.site_names.get(s, s) for s in sites]
    return ", ".join(names[:3]) + (f" (+{len(names) - 3})" if len(names) > 3 else "")


def _impact_order(entry: ImpactEntry) -> tuple[int, int, str, str]:
    criticality = {"vital": 0, "major": 1, "minor": 2}.get(entry.criticality or "", 3)
    return (-entry.state.rank, criticality, entry.site, entry.component)


def _entry_record(findings: HospitalFindings, entry: ImpactEntry) -> dict[str, Any]:
    return {
        "site": entry.site,
        "site_name": findings.site_names.get(entry.site, entry.site),
        "service": entry.component,
        "service_name": entry.name,
        "criticality": entry.criticality,
        "state": entry.state.value,
        "at_risk": entry.at_risk,
        "cause": entry.cause or entry.risk_cause,
        "path": list(entry.path or entry.risk_path),
    }


def hospital_records(findings: HospitalFindings) -> list[dict[str, Any]]:
    """JSON lines written after the detections: one per incident (``record_type:
    incident``), then the impact of the serious ones together (``record_type: impact``)."""
    out: list[dict[str, Any]] = []
    for item in sorted(findings.incidents, key=lambda i: i.incident.id):
        record = item.incident.to_dict()
        record["record_type"] = "incident"
        record["services_affected"] = [
            _entry_record(findings, e) for e in sorted(item.affected, key=_impact_order)
        ]
        record["examples"] = [
            {"rule_title": d.rule_title, "timestamp": format_timestamp(d.timestamp)}
            for d in item.incident.timeline
        ]
        out.append(record)
    affected = findings.impact.affected() if findings.impact is not None else []
    out.append(
        {
            "record_type": "impact",
            "hospital": findings.hospital,
            "model": findings.model,
            "incidents": findings.incidents_total,
            "incidents_listed": len(findings.incidents),
            "detections_placed": findings.located,
            "levels_raised": findings.raised,
            "compromised": list(findings.impact.compromised) if findings.impact else [],
            "unavailable": list(findings.impact.unavailable) if findings.impact else [],
            "degraded": list(findings.impact.degraded) if findings.impact else [],
            "services_affected": [
                _entry_record(findings, e) for e in sorted(affected, key=_impact_order)
            ],
        }
    )
    return out


def hospital_html(findings: HospitalFindings | None) -> str:
    """The HTML report's section (empty without a hospital model)."""
    if findings is None:
        return ""
    esc = html.escape
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{esc(c)}</td>"
            for c in (
                item.incident.id,
                item.incident.severity,
                utc_text(item.incident.first_seen),
                _duration(item.incident.duration),
                str(item.incident.detections),
                ", ".join(findings.site_names.get(s, s) for s in item.incident.sites) or "-",
                item.incident.title,
                " → ".join(s.tactic.name for s in item.incident.chain),
                "; ".join(_service(findings, e) for e in item.affected[:5]) or "-",
            )
        )
        + "</tr>"
        for item in ranked(findings)[:_HTML_TOP]
    )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "Incident",
            "Level",
            "First (UTC)",
            "Lasts",
            "Detections",
            "Sites",
            "Title",
            "Chain",
            "Services hit",
        )
    )
    impact_rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{esc(c)}</td>"
            for c in (
                row.state,
                row.criticality,
                f"{row.name} ({row.service})",
                _where(findings, row.sites),
                row.cause,
            )
        )
        + "</tr>"
        for row in grouped(findings.impact.affected() if findings.impact is not None else [])
    )
    more = (
        f'<p class="muted">The {_HTML_TOP} most severe of {len(findings.incidents):,} '
        "incidents; the JSON lines output lists them all.</p>"
        if len(findings.incidents) > _HTML_TOP
        else ""
    )
    impact = (
        "<h3>Services hit by the serious incidents</h3><table><thead><tr><th>State</th>"
        "<th>Criticality</th><th>Service</th><th>Where</th><th>Because</th></tr></thead>"
        f"<tbody>{impact_rows}"
        "</tbody></table>"
        if impact_rows
        else "<p>No high or critical incident touches a service of the model.</p>"
    )
    return (
        f"<section><h2>Hospital: incidents and services</h2><p>{esc(headline(findings))}</p>"
        f"{more}<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>{impact}"
        "</section>"
    )
