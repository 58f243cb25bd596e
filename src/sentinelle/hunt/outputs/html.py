"""One self-contained HTML report: summary, hourly timeline chart, ATT&CK tactics, detections.

The file needs no network when viewed: styles are inline, the chart is inline SVG, there is no
script at all, and a Content-Security-Policy forbids loading anything, so even a mistake in
escaping could not make the report fetch or run something. Every value taken from a rule or an
event goes through ``_esc``: the events were written by whoever attacked the machine.

Rows are spooled to a temporary file as detections stream in, since the summary at the top is
known only at the end.
"""

from __future__ import annotations

import html
import math
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from sentinelle import __version__
from sentinelle.detections import LEVELS, Detection
from sentinelle.hunt.attack import TACTICS
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

# Browsers struggle past this many table rows; the rest is counted and left to CSV/JSONL.
MAX_ROWS = 100_000

LEVEL_COLOURS = {
    "critical": "#b2182b",
    "high": "#ef6548",
    "medium": "#fdae6b",
    "low": "#6baed6",
    "informational": "#bdbdbd",
}

# Bin widths for the chart, in hours: hourly unless that would draw too many bars.
_BIN_HOURS = (1, 2, 3, 6, 12, 24, 48, 168, 720, 8760)
_MAX_BINS = 400

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left;vertical-align:top}
table.det td{border-top:1px solid #eee;max-width:40em;overflow-wrap:anywhere}
table.det th{position:sticky;top:0;background:#f5f5f5}
.lv{font-weight:bold;padding:0 4px;border-radius:3px}
.critical{background:#b2182b;color:#fff}.high{background:#ef6548;color:#fff}
.medium{background:#fdae6b}.low{background:#c6dbef}.informational{background:#eee}
.tactic{display:inline-block;margin:2px;padding:4px 8px;border:1px solid #ccc;border-radius:4px}
.tactic.hit{background:#fee0d2;border-color:#ef6548}.muted{color:#888}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 16px}dt{font-weight:bold}
"""


def _esc(value: object) -> str:
    return html.escape(printable(str(value)), quote=True)


class HtmlWriter:
    """Collects rows while the hunt streams, writes the report on ``close``."""

    def __init__(self, path: Path, title: str = "Sentinelle hunt") -> None:
        self._path = path
        self._title = title
        self._rows: TextIO = tempfile.TemporaryFile(  # noqa: SIM115 (closed in close())
            mode="w+", encoding="utf-8", prefix="sentinelle-html-"
        )
        self._count = 0

    def write(self, det: Detection) -> None:
        self._count += 1
        if self._count > MAX_ROWS:
            return
        level = det.level.lower()
        ev = first_event(det)
        cells = (
            _esc(utc_text(det.timestamp)),
            f'<span class="lv {level if level in LEVELS else "informational"}">'
            f"{_esc(level_short(level))}</span>",
            _esc(computer(det)),
            _esc(event_field(det, "Channel")),
            _esc(event_field(det, "EventID")),
            _esc(det.rule_title),
            _esc(mitre_tactics(det)),
            _esc(details(det, limit=1000)),
            _esc(ev.ref if ev is not None else ""),
        )
        self._rows.write("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>\n")

    def close(self, summary: HuntSummary) -> None:
        tmp = self._path.with_name(self._path.name + ".tmp")
        try:
            with tmp.open("w", encoding="utf-8") as out:
                out.write(self._head())
                out.write(_summary_section(summary))
                out.write(hospital_html(summary.hospital))
                out.write(_chart_section(summary))
                out.write(_tactics_section(summary))
                out.write(_tops_section(summary))
                out.write(self._table_start(summary))
                self._rows.seek(0)
                while chunk := self._rows.read(1 << 16):
                    out.write(chunk)
                out.write("</tbody></table></section></body></html>\n")
            tmp.replace(self._path)
        finally:
            self._rows.close()
            tmp.unlink(missing_ok=True)

    def _head(self) -> str:
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta http-equiv="Content-Security-Policy" '
            "content=\"default-src 'none'; style-src 'unsafe-inline'\">"
            f"<title>{_esc(self._title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{_esc(self._title)}</h1>"
            f'<p class="muted">Sentinelle {_esc(__version__)}, report written '
            f"{_esc(datetime.now(tz=UTC).strftime('%Y-%m-%d %H:%M UTC'))}</p>"
        )

    def _table_start(self, summary: HuntSummary) -> str:
        note = ""
        if self._count > MAX_ROWS:
            note = (
                f'<p class="muted">The first {MAX_ROWS:,} of {self._count:,} detections; '
                "the CSV or JSONL output holds them all.</p>"
            )
        head = "".join(
            f"<th>{h}</th>"
            for h in (
                "Time (UTC)",
                "Level",
                "Computer",
                "Channel",
                "EventID",
                "Rule",
                "Tactics",
                "Details",
                "Source",
            )
        )
        return (
            f"<section><h2>Detections ({summary.detections:,})</h2>{note}"
            f'<table class="det"><thead><tr>{head}</tr></thead><tbody>\n'
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
    issues = "".join(f"<li>{_esc(i)}</li>" for i in s.issue_samples[:50])
    errors = "".join(f"<li>{_esc(e)}</li>" for e in s.rule_errors[:50])
    extra = ""
    if issues:
        extra += f"<h2>Read errors (first {min(50, len(s.issue_samples))})</h2><ul>{issues}</ul>"
    if errors:
        extra += f"<h2>Rule errors (first {min(50, len(s.rule_errors))})</h2><ul>{errors}</ul>"
    return f"<section><h2>Summary</h2><dl>{body}</dl>{extra}</section>"


def chart_bins(per_hour: dict[int, Counter[str]]) -> tuple[int, dict[int, Counter[str]]]:
    """Group hourly counts into bins: the bin width in hours and the counts per bin start."""
    if not per_hour:
        return 1, {}
    span = max(per_hour) - min(per_hour) + 1
    width = next((w for w in _BIN_HOURS if span / w <= _MAX_BINS), None)
    if width is None:
        width = _BIN_HOURS[-1] * math.ceil(span / (_BIN_HOURS[-1] * _MAX_BINS))
    bins: dict[int, Counter[str]] = {}
    for hour, counts in per_hour.items():
        start = hour - hour % width
        bins.setdefault(start, Counter()).update(counts)
    return width, bins


def _chart_section(s: HuntSummary) -> str:
    width_h, bins = chart_bins(s.per_hour)
    if not bins:
        return "<section><h2>Timeline</h2><p>No timestamped detections.</p></section>"
    first, last = min(bins), max(bins)
    n = (last - first) // width_h + 1
    bar = max(2.0, min(24.0, 960.0 / n))
    left, top, plot_h = 48.0, 10.0, 180.0
    # Room for the last tick label (about 110 px at 11 px type) and the whole legend.
    svg_w = max(left + bar * n + 110, left + 100 * len(LEVELS) + 10)
    peak = max(sum(c.values()) for c in bins.values())
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{svg_w:.0f}" height="{plot_h + 60:.0f}" '
        'role="img" aria-label="Detections over time by level">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{svg_w - 5:.1f}" y2="{top + plot_h}" '
        'stroke="#888"/>',
        f'<text x="{left - 4}" y="{top + 10}" text-anchor="end" font-size="11">{peak}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" font-size="11">0</text>',
    ]
    for start, counts in sorted(bins.items()):
        x = left + (start - first) // width_h * bar
        y = top + plot_h
        label = utc_text(start * 3600.0, "%Y-%m-%d %H:00")
        for level in LEVELS:  # informational at the bottom, critical on top
            count = counts.get(level, 0)
            if not count:
                continue
            h = plot_h * count / peak
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(bar - 1, 1):.1f}" height="{h:.1f}" '
                f'fill="{LEVEL_COLOURS[level]}"><title>{_esc(label)}: {count} {level}'
                "</title></rect>"
            )
    ticks = max(1, min(n, 6, int(bar * n // 110) + 1))  # labels never overlap
    for i in range(ticks):
        idx = round(i * (n - 1) / max(ticks - 1, 1))
        x = left + idx * bar
        label = utc_text((first + idx * width_h) * 3600.0, "%Y-%m-%d %H:00")
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 16}" font-size="11">{_esc(label)}</text>'
        )
    legend_x = left
    for level in reversed(LEVELS):
        parts.append(
            f'<rect x="{legend_x}" y="{top + plot_h + 30}" width="10" height="10" '
            f'fill="{LEVEL_COLOURS[level]}"/><text x="{legend_x + 14}" y="{top + plot_h + 39}" '
            f'font-size="11">{level}</text>'
        )
        legend_x += 100
    parts.append("</svg>")
    unit = "hour" if width_h == 1 else f"{width_h} hours"
    return f"<section><h2>Timeline (detections per {unit}, by level)</h2>{''.join(parts)}</section>"


def _tactics_section(s: HuntSummary) -> str:
    chips = []
    for tactic in sorted(TACTICS.values(), key=lambda t: t.order):
        count = s.by_tactic.get(tactic.name, 0)
        cls = "tactic hit" if count else "tactic muted"
        chips.append(f'<span class="{cls}">{_esc(tactic.name)}: {count:,}</span>')
    return f"<section><h2>ATT&amp;CK tactics touched</h2>{''.join(chips)}</section>"


def _tops_section(s: HuntSummary) -> str:
    rules = "".join(
        f'<tr><td>{n:,}</td><td><span class="lv {k.level}">{_esc(level_short(k.level))}</span>'
        f"</td><td>{_esc(k.title)}</td><td class=muted>{_esc(k.rule_id)}</td></tr>"
        for k, n in s.by_rule.most_common(15)
    )
    hosts = "".join(
        f"<tr><td>{n:,}</td><td>{_esc(h)}</td></tr>" for h, n in s.by_host.most_common(15)
    )
    return (
        "<section><h2>Top rules</h2><table>"
        f"<tr><th>Count</th><th>Level</th><th>Rule</th><th>Id</th></tr>{rules}</table>"
        "<h2>Top hosts</h2><table>"
        f"<tr><th>Count</th><th>Computer</th></tr>{hosts}</table></section>"
    )
