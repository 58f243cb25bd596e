"""One self-contained HTML report that stays usable at any size of hunt.

The report is a summary, not a second timeline: the summary figures, the timeline chart, the
ATT&CK tactics touched, then the detections grouped by rule and by host, each group one line
with its counts and times that opens (a ``<details>`` element, no script) on the hosts, the
rules and a few example detections. Its size is bounded whatever the hunt: at most
``MAX_RULES`` rules and ``MAX_HOSTS`` hosts are listed, ``EXAMPLES_PER_RULE`` examples per rule
within ``EXAMPLE_BUDGET`` bytes in all, each text cut at ``MAX_TEXT`` characters; what is left
out is counted on the page, which points to the CSV or JSONL timeline for the full list.

Memory is bounded too: detections stream through, and only per-rule and per-host counters
(hosts per rule and rules per host capped) and the rendered examples are kept.

The file needs no network when viewed: styles are inline, the chart is inline SVG, there is no
script at all, and a Content-Security-Policy forbids loading anything, so even a mistake in
escaping could not make the report fetch or run something. Every value taken from a rule or an
event goes through ``_esc``: the events were written by whoever attacked the machine. Words are
never broken: one-line cells end with ``…`` (the whole text in their tooltip), and example
details wrap at spaces only, a long token scrolling in its box.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sentinelle import __version__
from sentinelle.detections import LEVELS, Detection, level_rank
from sentinelle.hunt.attack import TACTICS
from sentinelle.hunt.outputs.chart import LEVEL_COLOURS, chart_bins, chart_section
from sentinelle.hunt.outputs.details import details
from sentinelle.hunt.outputs.fields import (
    computer,
    event_field,
    first_event,
    level_short,
    mitre_tactics,
    utc_text,
)
from sentinelle.hunt.outputs.hospital import hospital_html
from sentinelle.hunt.summary import HuntSummary
from sentinelle.terminal import printable

MAX_RULES = 200
MAX_HOSTS = 100
HOSTS_PER_RULE = 15  # listed when a rule opens; counted beyond
RULES_PER_HOST = 15
EXAMPLES_PER_RULE = 5
EXAMPLE_BUDGET = 1_000_000  # bytes of example rows in all
MAX_TEXT = 600  # characters of one example's details
_TRACKED_HOSTS = 5_000  # hosts counted one by one; more are counted together
_TRACKED_PER_GROUP = 200  # hosts of a rule, rules of a host, counted one by one

__all__ = ["LEVEL_COLOURS", "HtmlWriter", "chart_bins"]

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;max-width:1400px}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left;vertical-align:top}
table.det td{border-top:1px solid #eee;max-width:40em;overflow-wrap:break-word}
table.det th{position:sticky;top:0;background:#f5f5f5}
.lv{font-weight:bold;padding:0 4px;border-radius:3px}
.critical{background:#b2182b;color:#fff}.high{background:#ef6548;color:#fff}
.medium{background:#fdae6b}.low{background:#c6dbef}.informational{background:#eee}
.tactic{display:inline-block;margin:2px;padding:4px 8px;border:1px solid #ccc;border-radius:4px}
.tactic.hit{background:#fee0d2;border-color:#ef6548}.muted{color:#888}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 16px}dt{font-weight:bold}
details.grp{border-top:1px solid #eee}details.grp[open]{background:#fafafa}
details.grp>summary{display:grid;cursor:pointer;gap:0 10px;padding:2px 0;list-style-position:inside}
.rules>summary,.rules>.head{grid-template-columns:4.2em minmax(8em,1fr) 6em 4em 10em 10em 10em}
.hosts>summary,.hosts>.head{grid-template-columns:minmax(8em,1fr) 6em 16em 10em 10em}
.head{display:grid;gap:0 10px;font-weight:bold;padding:2px 0 2px 1.2em;background:#f5f5f5}
.c{white-space:nowrap;overflow:hidden;text-overflow:ellipsis;min-width:0}.n{text-align:right}
.open{padding:4px 0 10px 2em}.open table{width:100%;table-layout:fixed}
.open td{border-top:1px solid #eee;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.detail{white-space:pre-wrap;overflow-wrap:normal;word-break:normal;overflow-x:auto;
max-height:12em;margin:0;font:12px/1.35 ui-monospace,monospace;background:#fff;
border:1px solid #eee;padding:2px 6px}
.note{background:#fff8e1;border:1px solid #f0d890;padding:6px 10px;border-radius:4px}
"""


def _esc(value: object) -> str:
    return html.escape(printable(str(value)), quote=True)


def _cut(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cell(text: str, cls: str = "c") -> str:
    """A one-line cell: cut with ``…`` by the browser, the whole text in its tooltip."""
    shown = _esc(_cut(text, 300))
    return f'<span class="{cls}" title="{shown}">{shown}</span>'


def _level(level: str) -> str:
    known = level if level in LEVELS else "informational"
    return f'<span class="c"><span class="lv {known}">{_esc(level_short(level))}</span></span>'


def _time(ts: float | None) -> str:
    return utc_text(ts, "%Y-%m-%d %H:%M")


@dataclass(slots=True)
class _Span:
    count: int = 0
    first: float | None = None
    last: float | None = None

    def add(self, ts: float | None) -> None:
        self.count += 1
        if ts is not None and not math.isnan(ts):
            self.first = ts if self.first is None else min(self.first, ts)
            self.last = ts if self.last is None else max(self.last, ts)


@dataclass(slots=True)
class _RuleGroup:
    title: str
    level: str
    tactics: str
    span: _Span = field(default_factory=_Span)
    hosts: Counter[str] = field(default_factory=Counter)
    other_hosts: int = 0  # detections on hosts past the tracked ones
    examples: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _HostGroup:
    span: _Span = field(default_factory=_Span)
    levels: Counter[str] = field(default_factory=Counter)
    rules: Counter[str] = field(default_factory=Counter)


class HtmlWriter:
    """Counts detections by rule and host while the hunt streams; writes the page on close.

    ``timeline`` is where the hunt wrote its full timeline, if to a file: the page points to it.
    """

    def __init__(
        self, path: Path, title: str = "Sentinelle hunt", timeline: Path | None = None
    ) -> None:
        self._path = path
        self._title = title
        self._timeline = timeline
        self._rules: dict[tuple[str, str], _RuleGroup] = {}
        self._hosts: dict[str, _HostGroup] = {}
        self._other_hosts = _HostGroup()
        self._budget = EXAMPLE_BUDGET
        self._examples_left_out = 0

    def write(self, det: Detection) -> None:
        level = det.level.lower()
        key = (det.rule_id, det.rule_title)
        group = self._rules.get(key)
        if group is None:
            group = _RuleGroup(det.rule_title, level, mitre_tactics(det))
            self._rules[key] = group
        group.span.add(det.timestamp)
        host = computer(det)
        if host in group.hosts or len(group.hosts) < _TRACKED_PER_GROUP:
            group.hosts[host] += 1
        else:
            group.other_hosts += 1
        per_host = self._hosts.get(host)
        if per_host is None:
            per_host = self._other_hosts
            if len(self._hosts) < _TRACKED_HOSTS:
                per_host = self._hosts[host] = _HostGroup()
        per_host.span.add(det.timestamp)
        per_host.levels[level if level in LEVELS else "informational"] += 1
        if det.rule_title in per_host.rules or len(per_host.rules) < _TRACKED_PER_GROUP:
            per_host.rules[det.rule_title] += 1
        if len(group.examples) < EXAMPLES_PER_RULE:
            row = _example_row(det)
            if len(row) <= self._budget:
                self._budget -= len(row)
                group.examples.append(row)
            else:
                self._examples_left_out += 1

    def close(self, summary: HuntSummary) -> None:
        tmp = self._path.with_name(self._path.name + ".tmp")
        try:
            with tmp.open("w", encoding="utf-8") as out:
                out.write(self._head())
                out.write(_summary_section(summary))
                out.write(hospital_html(summary.hospital))
                out.write(chart_section(summary))
                out.write(_tactics_section(summary))
                out.write(self._rules_section(summary))
                out.write(self._hosts_section())
                out.write(self._foot(summary))
                out.write("</body></html>\n")
            tmp.replace(self._path)
        finally:
            tmp.unlink(missing_ok=True)

    def _head(self) -> str:
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta http-equiv="Content-Security-Policy" '
            "content=\"default-src 'none'; style-src 'unsafe-inline'\">"
            f"<title>{_esc(self._title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{_esc(self._title)}</h1>"
            f'<p class="muted">Sentinelle {_esc(__version__)}, report written '
            f"{_esc(datetime.now(tz=UTC).strftime('%Y-%m-%d %H:%M UTC'))}</p>"
        )

    def _full_list(self) -> str:
        if self._timeline is not None:
            return f"the timeline written with this report, <code>{_esc(self._timeline)}</code>"
        return (
            "the CSV or JSONL timeline (run the hunt again with <code>-o timeline.csv</code> "
            "or <code>-o timeline.jsonl</code>)"
        )

    def _rules_section(self, summary: HuntSummary) -> str:
        ranked = sorted(
            self._rules.values(),
            key=lambda g: (-level_rank(g.level), -g.span.count, g.title),
        )
        shown = ranked[:MAX_RULES]
        rows = [
            '<div class="rules"><div class="head"><span>Level</span><span>Rule</span>'
            '<span class="n">Detections</span><span class="n">Hosts</span><span>First</span>'
            "<span>Last</span><span>Tactics</span></div>"
        ]
        for group in shown:
            hosts = len(group.hosts) + (1 if group.other_hosts else 0)
            rows.append(
                '<details class="grp rules"><summary>'
                f"{_level(group.level)}{_cell(group.title)}"
                f'<span class="c n">{group.span.count:,}</span>'
                f'<span class="c n">{hosts:,}{"+" if group.other_hosts else ""}</span>'
                f"{_cell(_time(group.span.first))}{_cell(_time(group.span.last))}"
                f"{_cell(group.tactics)}</summary>{_rule_body(group)}</details>"
            )
        rows.append("</div>")
        left = len(ranked) - len(shown)
        note = ""
        if left:
            hidden = sum(g.span.count for g in ranked[MAX_RULES:])
            note = (
                f'<p class="note">And {left:,} more rules with {hidden:,} detections, the '
                f"least severe and least frequent: see {self._full_list()}.</p>"
            )
        return (
            f"<section><h2>Detections by rule ({len(ranked):,} rules, "
            f"{summary.detections:,} detections)</h2>"
            '<p class="muted">Most severe first. Open a rule for its hosts and examples.</p>'
            f"{''.join(rows)}{note}</section>"
        )

    def _hosts_section(self) -> str:
        ranked = sorted(self._hosts.items(), key=lambda kv: (-kv[1].span.count, kv[0]))
        shown = ranked[:MAX_HOSTS]
        rows = [
            '<div class="hosts"><div class="head"><span>Computer</span>'
            '<span class="n">Detections</span><span>Levels</span><span>First</span>'
            "<span>Last</span></div>"
        ]
        for host, group in shown:
            levels = ", ".join(
                f"{group.levels[lv]:,} {level_short(lv)}"
                for lv in reversed(LEVELS)
                if group.levels[lv]
            )
            rules = "".join(
                f'<tr><td class="n">{n:,}</td><td title="{_esc(_cut(t, 300))}">'
                f"{_esc(_cut(t, 300))}</td></tr>"
                for t, n in group.rules.most_common(RULES_PER_HOST)
            )
            more = len(group.rules) - min(len(group.rules), RULES_PER_HOST)
            more_row = f'<p class="muted">and {more:,} more rules</p>' if more else ""
            rows.append(
                '<details class="grp hosts"><summary>'
                f"{_cell(host or '(no computer name)')}"
                f'<span class="c n">{group.span.count:,}</span>{_cell(levels)}'
                f"{_cell(_time(group.span.first))}{_cell(_time(group.span.last))}</summary>"
                '<div class="open"><table><colgroup><col style="width:7em"><col></colgroup>'
                f"<tr><th>Detections</th><th>Rule</th></tr>{rules}</table>{more_row}</div>"
                "</details>"
            )
        rows.append("</div>")
        left = len(ranked) - len(shown)
        others = self._other_hosts.span.count
        note = ""
        if left or others:
            hidden = sum(g.span.count for _, g in ranked[MAX_HOSTS:]) + others
            count = f"{left:,}" if not others else f"{left:,} or more"
            note = (
                f'<p class="note">And {count} more hosts with {hidden:,} detections: see '
                f"{self._full_list()}.</p>"
            )
        return (
            f"<section><h2>Detections by host ({len(ranked):,} hosts)</h2>"
            '<p class="muted">Most detections first. Open a host for its rules.</p>'
            f"{''.join(rows)}{note}</section>"
        )

    def _foot(self, summary: HuntSummary) -> str:
        left = ""
        if self._examples_left_out:
            left = f" ({self._examples_left_out:,} more left out for size)"
        return (
            '<section><p class="muted">This report groups the detections; it lists at most '
            f"{MAX_RULES} rules, {MAX_HOSTS} hosts and {EXAMPLES_PER_RULE} examples per "
            f"rule{left}. Every one of the {summary.detections:,} detections, with every field "
            f"of its event, is in {self._full_list()}.</p></section>"
        )


def _example_row(det: Detection) -> str:
    ev = first_event(det)
    where = f"{event_field(det, 'Channel')} {event_field(det, 'EventID')}".strip()
    source = ev.ref if ev is not None else ""
    return (
        f"<tr><td>{_esc(utc_text(det.timestamp))}</td>"
        f'<td title="{_esc(_cut(computer(det), 300))}">{_esc(_cut(computer(det), 300))}</td>'
        f'<td title="{_esc(_cut(where, 300))}">{_esc(_cut(where, 300))}</td>'
        f'<td title="{_esc(_cut(source, 300))}">{_esc(_cut(source, 300))}</td></tr>'
        f'<tr><td class="ex" colspan="4"><pre class="detail">{_esc(details(det, limit=MAX_TEXT))}'
        "</pre></td></tr>"
    )


def _rule_body(group: _RuleGroup) -> str:
    hosts = "".join(
        f'<tr><td class="n">{n:,}</td><td title="{_esc(_cut(h, 300))}">'
        f"{_esc(_cut(h or '(no computer name)', 300))}</td></tr>"
        for h, n in group.hosts.most_common(HOSTS_PER_RULE)
    )
    more = len(group.hosts) - min(len(group.hosts), HOSTS_PER_RULE)
    more += 1 if group.other_hosts else 0
    more_row = f'<p class="muted">and {more:,} more hosts</p>' if more else ""
    examples = "".join(group.examples)
    example_table = (
        '<table><colgroup><col style="width:12em"><col style="width:14em">'
        '<col style="width:14em"><col></colgroup>'
        "<tr><th>Time (UTC)</th><th>Computer</th><th>Channel / EventID</th><th>Source</th></tr>"
        f"{examples}</table>"
        if examples
        else '<p class="muted">No example kept (size budget spent).</p>'
    )
    return (
        '<div class="open"><table><colgroup><col style="width:7em"><col></colgroup>'
        f"<tr><th>Detections</th><th>Computer</th></tr>{hosts}</table>{more_row}"
        f"<p><b>First {len(group.examples)} detections</b></p>{example_table}</div>"
    )


def _summary_section(s: HuntSummary) -> str:
    levels = ", ".join(f"{s.by_level[lv]:,} {lv}" for lv in reversed(LEVELS) if s.by_level[lv])
    failed = f" ({s.files_failed} unreadable)" if s.files_failed else ""
    items = [
        ("Files read", f"{s.files:,}{failed}"),
        ("Events read", f"{s.events:,}"),
        ("Events without a timestamp", f"{s.events_without_time:,}"),
        ("Read errors", f"{s.read_issues:,}"),
        ("Rules", f"{s.rules_loaded:,} loaded, {len(s.rule_errors):,} errors"),
        ("Detections", f"{s.detections:,}" + (f" ({levels})" if levels else "")),
        ("First detection", utc_text(s.first)),
        ("Last detection", utc_text(s.last)),
        ("Hunt time", f"{s.seconds:.2f} s"),
    ]
    body = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in items)
    issues = "".join(f"<li>{_esc(_cut(str(i)))}</li>" for i in s.issue_samples[:50])
    errors = "".join(f"<li>{_esc(_cut(e))}</li>" for e in s.rule_errors[:50])
    extra = ""
    if issues:
        extra += f"<h2>Read errors (first {min(50, len(s.issue_samples))})</h2><ul>{issues}</ul>"
    if errors:
        extra += f"<h2>Rule errors (first {min(50, len(s.rule_errors))})</h2><ul>{errors}</ul>"
    return f"<section><h2>Summary</h2><dl>{body}</dl>{extra}</section>"


def _tactics_section(s: HuntSummary) -> str:
    chips = []
    for tactic in sorted(TACTICS.values(), key=lambda t: t.order):
        count = s.by_tactic.get(tactic.name, 0)
        cls = "tactic hit" if count else "tactic muted"
        chips.append(f'<span class="{cls}">{_esc(tactic.name)}: {count:,}</span>')
    return f"<section><h2>ATT&amp;CK tactics touched</h2>{''.join(chips)}</section>"


# The demo report draws the same chart with the same styles.
_chart_section = chart_section
