"""The timeline chart of the HTML reports: detections per hour (or wider bins) by level.

Inline SVG, no script: the report it sits in forbids loading or running anything. Bins widen
(hours, days, weeks...) so a hunt over years still draws at most ``_MAX_BINS`` bars, and tick
labels are spaced so they never overlap.
"""

from __future__ import annotations

import html
import math
from collections import Counter

from sentinelle.detections import LEVELS
from sentinelle.hunt.outputs.fields import utc_text
from sentinelle.hunt.summary import HuntSummary
from sentinelle.terminal import printable

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


def _esc(value: object) -> str:
    return html.escape(printable(str(value)), quote=True)


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


def chart_section(s: HuntSummary) -> str:
    """The section with the chart of detections over time, stacked by level (inline SVG)."""
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
