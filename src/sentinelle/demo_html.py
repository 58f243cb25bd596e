"""The demo's report: one self-contained HTML file (no script, no network, inline SVG).

It reuses the hunt report's style sheet and its detections-per-hour chart, so both reports read
alike, and adds what only the demo knows: the ground truth, the incidents on a time axis, the
state of every service at every site, and the dependency paths that explain them. Every value
that comes from a log goes through ``_esc``: logs are written by attackers.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sentinelle import __version__
from sentinelle.demo import DemoResult, ScenarioResult
from sentinelle.detections import LEVELS
from sentinelle.hospital import HospitalModel, ImpactReport, ServiceState
from sentinelle.hunt.outputs.html import _CSS as HUNT_CSS
from sentinelle.hunt.outputs.html import LEVEL_COLOURS
from sentinelle.hunt.outputs.html import _chart_section as hunt_chart_section
from sentinelle.hunt.summary import HuntSummary
from sentinelle.incidents import Incident
from sentinelle.terminal import printable

STATE_COLOURS = {
    ServiceState.OPERATIONAL: "#c7e9c0",
    ServiceState.AT_RISK: "#fee391",
    ServiceState.DEGRADED: "#fdae6b",
    ServiceState.DOWN: "#de2d26",
}
_CSS = (
    HUNT_CSS
    + """
table.grid td,table.grid th{border:1px solid #ddd;text-align:center;font-size:12px}
table.grid th.svc{text-align:left}td.down{color:#fff}
.story{background:#f7f7f7;padding:8px 14px;border-left:4px solid #ef6548}
"""
)
_LOCAL = timedelta(hours=1)  # the scenarios' hospital clock (UTC+1)


def _esc(value: object) -> str:
    return html.escape(printable(str(value)), quote=True)


def _utc(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _local(ts: float) -> str:
    return (datetime.fromtimestamp(ts, tz=UTC) + _LOCAL).strftime("%H:%M:%S")


def _delay(seconds: float | None) -> str:
    if seconds is None:
        return "not detected"
    if abs(seconds) < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def write_report(result: DemoResult, model: HospitalModel, path: Path) -> Path:
    """Write the report of a :class:`sentinelle.demo.DemoResult`; returns ``path``."""
    parts = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>Sentinelle demo</title><style>{_CSS}</style></head><body>"
        f"<h1>Sentinelle demo: {_esc(model.name)}</h1>"
        f'<p class="muted">Sentinelle {_esc(__version__)}. Generated, hunted and assessed in '
        f"{result.seconds:.1f} s. Times in UTC; the hospital's clock is UTC+1.</p>"
    ]
    parts.append(_contents(result.scenarios))
    for sc in result.scenarios:
        parts.append(_scenario(sc, model))
    parts.append("</body></html>\n")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(parts), encoding="utf-8")
    tmp.replace(path)
    return path


def _contents(scenarios: Sequence[ScenarioResult]) -> str:
    rows = []
    for sc in scenarios:
        for o in sc.outcomes:
            fp = sc.false_positives
            rows.append(
                f'<tr><td><a href="#{_esc(sc.name)}">{_esc(sc.name)}</a></td>'
                f"<td>{_esc(o.attack.name)}</td><td>{_utc(o.attack.start)}</td>"
                f"<td>{_utc(o.first.timestamp if o.first else None)}</td>"
                f"<td><b>{_esc(_delay(o.delay))}</b></td>"
                f"<td>{_esc(o.first.rule_title if o.first else '-')}</td>"
                f"<td>{sum(1 for _, d in o.steps_seen if d)}/{len(o.steps_seen)}</td>"
                f"<td>{fp['high'] + fp['critical']} high+, {fp['medium']} medium, "
                f"{fp['low']} low</td></tr>"
            )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "Scenario",
            "Attack",
            "Started",
            "First detection",
            "Delay",
            "Detected by",
            "Steps seen",
            "False positives (benign night)",
        )
    )
    table = f'<table class="det"><tr>{head}</tr>{"".join(rows)}</table>'
    return f"<section><h2>Summary</h2>{table}</section>"


def _scenario(sc: ScenarioResult, model: HospitalModel) -> str:
    summary = HuntSummary()
    for det in sc.hunted.detections:
        summary.add(det)
    out = [f'<section id="{_esc(sc.name)}"><h2>Scenario {_esc(sc.name)}</h2>']
    for note in sc.manifest.notes[:1]:
        out.append(f'<p class="story">{_esc(note)}</p>')
    if sc.problems:
        items = "".join(f"<li>{_esc(p)}</li>" for p in sc.problems)
        out.append(f"<h3>Could not read or match everything</h3><ul>{items}</ul>")
    out.append(_steps(sc))
    out.append(hunt_chart_section(summary))
    out.append(_incident_chart(sc.incidents))
    out.append(_incident_table(sc.incidents))
    main = _main_incident(sc)
    if main is not None:
        out.append(_chain(main))
    out.append("<h3>Services per site: what the detected attack did</h3>")
    out.append(_inputs(sc.impact_inputs))
    out.append(_grid(sc.detected_impact, model))
    out.append(_paths(sc.detected_impact))
    for phase in sc.phases:
        title = ", ".join(phase.phase.actions)
        out.append(
            f"<h3>Containment from {_utc(phase.phase.time)} ({_local(phase.phase.time)} local):"
            f" {_esc(title)}</h3><p>{_esc(phase.phase.detail)} ({_esc(phase.phase.by)})</p>"
        )
        out.append(_grid(phase.report, model))
        out.append(_paths(phase.report, only=phase.cost))
        out.append(_observed(phase.observed, phase.report))
    out.append(_false_positives(sc))
    out.append(
        f'<p class="muted">Logs: {sc.manifest.total_records:,} records in '
        f"{len(sc.manifest.files)} files (generated in {sc.generate_seconds:.1f} s, attack and "
        f"benign nights); hunted {sc.hunted.summary.events:,} events and {sc.hunted.flows:,} "
        f"flows in {sc.hunted.seconds:.1f} s.</p></section>"
    )
    return "".join(out)


def _steps(sc: ScenarioResult) -> str:
    rows = []
    for outcome in sc.outcomes:
        rows.append(
            f'<p class="story">Attack <b>{_esc(outcome.attack.name)}</b> started at '
            f"{_utc(outcome.attack.start)} ({_local(outcome.attack.start)} local); first "
            f"detection {_esc(_delay(outcome.delay))} later"
            + (f": <i>{_esc(outcome.first.rule_title)}</i>" if outcome.first else "")
            + ".</p>"
        )
        body = []
        for step, (_, det) in zip(outcome.attack.steps, outcome.steps_seen, strict=True):
            seen = "-"
            if det is not None and det.timestamp is not None:
                lv = det.level
                seen = (
                    f'<span class="lv {_esc(lv)}">{_esc(lv)}</span> {_esc(det.rule_title)} '
                    f"(+{_esc(_delay(det.timestamp - step.time))})"
                )
            body.append(
                f"<tr><td>{_utc(step.time)}</td><td>{_esc(step.tactic)}</td>"
                f"<td>{_esc(step.name)}</td><td>{_esc(step.host)}</td>"
                f"<td>{_esc(step.site or '')}</td><td>{seen}</td></tr>"
            )
        head = "".join(
            f"<th>{h}</th>"
            for h in ("Time (UTC)", "Tactic", "Step (ground truth)", "Host", "Site", "Seen by")
        )
        rows.append(f'<table class="det"><tr>{head}</tr>{"".join(body)}</table>')
    return "".join(rows)


def _incident_chart(incidents: Sequence[Incident]) -> str:
    """Incidents on a time axis: one row each, a bar from first to last detection."""
    shown = [i for i in incidents if LEVELS.index(i.severity) >= LEVELS.index("low")][:30]
    if not shown:
        return ""
    t0 = min(i.first_seen for i in shown)
    t1 = max(i.last_seen for i in shown)
    span = max(t1 - t0, 60.0)
    left, width, row = 90.0, 860.0, 18.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 20:.0f}" '
        f'height="{row * len(shown) + 40:.0f}" role="img" aria-label="Incidents over time">'
    ]
    for n, inc in enumerate(shown):
        y = 10 + n * row
        x = left + width * (inc.first_seen - t0) / span
        w = max(width * inc.duration / span, 3.0)
        colour = LEVEL_COLOURS.get(inc.severity, "#bdbdbd")
        parts.append(
            f'<text x="4" y="{y + 12:.0f}" font-size="11">{_esc(inc.id)}</text>'
            f'<rect x="{x:.1f}" y="{y + 2:.1f}" width="{w:.1f}" height="{row - 5:.0f}" '
            f'fill="{colour}"><title>{_esc(inc.id)} {_esc(inc.title)}: '
            f"{_utc(inc.first_seen)} to {_utc(inc.last_seen)}</title></rect>"
        )
    y = 14 + len(shown) * row
    for k in range(5):
        ts = t0 + span * k / 4
        parts.append(
            f'<text x="{left + width * k / 4:.0f}" y="{y + 10:.0f}" font-size="11">'
            f"{_esc(_utc(ts)[11:16])}</text>"
        )
    parts.append("</svg>")
    return "<h3>Incidents over time</h3>" + "".join(parts)


def _incident_table(incidents: Sequence[Incident]) -> str:
    rows = []
    for inc in incidents:
        rows.append(
            f'<tr><td>{_esc(inc.id)}</td><td><span class="lv {_esc(inc.severity)}">'
            f"{_esc(inc.severity)}</span></td><td>{_utc(inc.first_seen)}</td>"
            f"<td>{_utc(inc.last_seen)}</td><td>{_esc(inc.title)}</td>"
            f"<td>{_esc(', '.join(inc.sites))}</td><td>{inc.detections}</td>"
            f"<td>{_esc(' → '.join(t.name for t in inc.tactics))}</td></tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("Incident", "Severity", "First", "Last", "Title", "Sites", "Detections", "Chain")
    )
    return (
        f"<h3>Incidents ({len(incidents)})</h3>"
        f'<table class="det"><tr>{head}</tr>{"".join(rows)}</table>'
    )


def _main_incident(sc: ScenarioResult) -> Incident | None:
    firsts = {id(o.first) for o in sc.outcomes if o.first is not None}
    for inc in sc.incidents:
        if any(id(d) in firsts for d in inc.timeline):
            return inc
    return None


def _chain(inc: Incident) -> str:
    rows = "".join(
        f"<tr><td>{_esc(s.tactic.name)}</td><td>{_utc(s.first_seen)}</td>"
        f"<td>{s.count}</td><td>{_esc('; '.join(s.rules))}</td></tr>"
        for s in inc.chain
    )
    return (
        f"<h3>Attack chain of {_esc(inc.id)} (hosts: {_esc(', '.join(inc.hosts))})</h3>"
        '<table class="det"><tr><th>Tactic</th><th>First seen</th><th>Detections</th>'
        f"<th>Rules</th></tr>{rows}</table>"
    )


def _inputs(inputs: dict[str, list[str]]) -> str:
    items = "".join(
        f"<dt>{_esc(k)}</dt><dd>{_esc(', '.join(v) or '-')}</dd>" for k, v in inputs.items()
    )
    return f"<dl>{items}</dl>"


def _grid(report: ImpactReport, model: HospitalModel) -> str:
    """Services down the side, sites across, each cell coloured by the service's state."""
    sites = list(model.sites)
    by_service: dict[str, dict[str, ServiceState]] = {}
    names: dict[str, str] = {}
    for e in report.entries:
        by_service.setdefault(e.component, {})[e.site] = e.state
        names[e.component] = e.name
    head = "".join(f"<th>{_esc(s)}</th>" for s in sites)
    rows = []
    for comp, states in by_service.items():
        cells = []
        for site in sites:
            state = states.get(site)
            if state is None:
                cells.append('<td class="muted">·</td>')
                continue
            cls = ' class="down"' if state is ServiceState.DOWN else ""
            cells.append(
                f'<td{cls} style="background:{STATE_COLOURS[state]}" '
                f'title="{_esc(state.label)}">{_esc(state.label)}</td>'
            )
        rows.append(f'<tr><th class="svc">{_esc(names[comp])}</th>{"".join(cells)}</tr>')
    counts = ", ".join(f"{v} {k}" for k, v in report.counts().items() if v)
    return (
        f'<p class="muted">{_esc(counts)} (service × site)</p>'
        f'<table class="grid"><tr><th></th>{head}</tr>{"".join(rows)}</table>'
    )


def _paths(report: ImpactReport, only: Sequence[object] | None = None) -> str:
    entries = report.affected() if only is None else [e for e in report.affected() if e in only]
    seen: set[tuple[str, tuple[str, ...]]] = set()
    items = []
    for e in entries:
        key = (e.component, e.path)
        if key in seen:
            continue  # the same explanation at several sites is shown once
        seen.add(key)
        sites = sorted(x.site for x in entries if x.component == e.component and x.path == e.path)
        items.append(
            f"<li><b>{_esc(e.name)}</b> {_esc(e.state.label)} at {_esc(', '.join(sites))}: "
            f"{_esc(' → '.join(e.path) or e.reason)}"
            + (f" <span class='muted'>({_esc(e.cause)})</span>" if e.cause else "")
            + "</li>"
        )
    if not items:
        return ""
    return f"<h4>Dependency paths</h4><ul>{''.join(items[:60])}</ul>"


def _observed(observed: dict[str, Counter[str]], report: ImpactReport) -> str:
    if not observed:
        return ""
    rows = []
    for comp, counts in sorted(observed.items()):
        predicted = report.worst(comp).label if report.states(comp) else "-"
        text = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        rows.append(
            f"<tr><td>{_esc(comp)}</td><td>{_esc(predicted)}</td><td>{_esc(text)}</td></tr>"
        )
    return (
        "<h4>Predicted state against what the monitoring checks saw</h4>"
        '<table class="det"><tr><th>Component</th><th>Impact engine (worst site)</th>'
        f"<th>Checks in this phase</th></tr>{''.join(rows)}</table>"
    )


def _false_positives(sc: ScenarioResult) -> str:
    from collections import Counter

    per_rule = Counter((d.level, d.rule_title) for d in sc.background.detections)
    rows = "".join(
        f'<tr><td><span class="lv {_esc(lv)}">{_esc(lv)}</span></td><td>{_esc(title)}</td>'
        f"<td>{n}</td></tr>"
        for (lv, title), n in sorted(
            per_rule.items(), key=lambda kv: (-LEVELS.index(kv[0][0]), kv[0][1])
        )
    )
    return (
        "<h3>False positives: the same night without the attack</h3>"
        f'<table class="det"><tr><th>Level</th><th>Rule</th><th>Detections</th></tr>{rows}</table>'
    )
