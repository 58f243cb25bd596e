"""Terminal timeline: a rich table printed as detections arrive, then the hunt's summary.

Rows are printed in chunks of fixed-width columns, so a hunt with a million detections never
holds them for layout. Every cell is a ``rich.text.Text`` built from sanitised strings: log
content can contain ``[bold]``-style markup or escape sequences, and neither may take effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TextIO

from rich.cells import cell_len, set_cell_size
from rich.console import Console
from rich.table import Table
from rich.text import Span, Text

from sentinelle.detections import LEVELS, Detection
from sentinelle.hunt.outputs.details import details
from sentinelle.hunt.outputs.fields import (
    computer,
    event_field,
    first_event,
    level_short,
    mitre_tactics,
    utc_text,
)
from sentinelle.hunt.summary import HuntSummary
from sentinelle.terminal import printable

LEVEL_STYLE = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "informational": "dim",
}

_CHUNK = 200
_TOP = 10


def _text(value: str, style: str = "") -> Text:
    return Text(printable(value), style=style, no_wrap=True, overflow="ellipsis")


@dataclass(frozen=True, slots=True)
class _Column:
    name: str
    least: int  # narrowest width that still says something
    fair: int  # width it gets before any column grows past its own fair width
    most: int  # widest it is worth (the rest goes to the columns after it)
    required: bool  # shown at every width; the others only when they fit


# In display order. Level, Computer, Channel, EventID and the rule title are shown at any
# terminal width (80 columns up); Details, Tactics and Source take what is left.
_COLUMNS = {
    "time": _Column("Timestamp (UTC)", 19, 19, 19, True),
    "level": _Column("Level", 5, 5, 5, True),
    "computer": _Column("Computer", 8, 14, 24, True),
    "channel": _Column("Channel", 8, 10, 20, True),
    "eid": _Column("EventID", 7, 7, 7, True),
    "tactics": _Column("Tactics", 10, 14, 24, False),
    "rule": _Column("Rule", 14, 32, 60, True),
    "details": _Column("Details", 12, 24, 10_000, False),
    "source": _Column("Source", 16, 30, 60, False),
}
_GROWTH = ("time", "level", "eid", "rule", "computer", "channel", "tactics", "source", "details")
_GAP = 1  # spaces between two columns
_VERBOSE = frozenset({"verbose", "all-field-info-verbose", "super-verbose", "timesketch-verbose"})


def table_layout(width: int, profile: str = "standard") -> list[tuple[str, int]]:
    """The columns shown at ``width`` terminal cells and the width of each, in display order.

    Every required column gets its least width first; Details joins when it fits, Tactics and
    Source only when every column can still have its fair width. What is left widens them,
    first each to its fair width (the rule title first, then computer, channel, tactics,
    source, Details), then each to its widest in the same order, Details taking the rest."""
    keys = [k for k in _COLUMNS if k != "tactics" or profile != "minimal"]
    if profile not in _VERBOSE:
        keys.remove("source")
    shown = [k for k in keys if _COLUMNS[k].required]

    def used(cols: list[str], limit: str = "least") -> int:
        total: int = sum(getattr(_COLUMNS[k], limit) for k in cols)
        return total + _GAP * (len(cols) - 1)

    if used([*shown, "details"]) <= width:
        shown.append("details")
    for optional in ("tactics", "source"):  # only when every column keeps its fair width
        if optional in keys and used([*shown, optional], "fair") <= width:
            shown.append(optional)
    shown.sort(key=keys.index)
    widths = {k: _COLUMNS[k].least for k in shown}
    room = width - used(shown)
    for limit in ("fair", "most"):
        for k in sorted(shown, key=_GROWTH.index):
            extra = min(max(room, 0), max(getattr(_COLUMNS[k], limit) - widths[k], 0))
            widths[k] += extra
            room -= extra
    return [(k, widths[k]) for k in shown]


_CHANNEL_PREFIX = "Microsoft-Windows-"
_CHANNEL_SUFFIX = "/Operational"


def short_channel(channel: str) -> str:
    """A Windows channel name without the parts every channel shares, for narrow columns."""
    if channel.startswith(_CHANNEL_PREFIX):
        channel = channel[len(_CHANNEL_PREFIX) :]
    if channel.endswith(_CHANNEL_SUFFIX):
        channel = channel[: -len(_CHANNEL_SUFFIX)]
    return channel


def _room(width: int) -> int:
    """Characters of a value worth escaping and measuring for a column ``width`` cells wide."""
    return 2 * width + 8


def short_computer(name: str, width: int) -> str:
    """A computer's name for a column ``width`` cells wide: whole when it fits, else its host
    name without the domain every machine of the collection shares (``fs-cen01`` rather than
    ``fs-cen0…``, which cannot tell fs-cen01 from fs-cen02). Addresses stay whole."""
    name = name[: _room(width)]  # a hostile megabyte of name costs what the column shows
    if cell_len(name) <= width or "." not in name or ":" in name:
        return name
    host = name.split(".", 1)[0]
    return name if not host or host.isdigit() else host


class TableWriter:
    def __init__(self, stream: TextIO, profile: str = "standard", width: int | None = None) -> None:
        self._console = Console(file=stream, width=width, highlight=False, emoji=False)
        self._profile = profile
        self._rows: list[Detection] = []
        self._printed_header = False
        self._columns: list[tuple[str, int]] | None = None

    def _layout(self) -> list[tuple[str, int]]:
        if self._columns is None:
            self._columns = table_layout(self._console.width, self._profile)
        return self._columns

    @staticmethod
    def _line(cells: list[tuple[str, int, str, str]], spans: list[Span], offset: int) -> str:
        """One row as plain text (each cell cut to its column with ``…`` and padded, EventID
        to the right), adding the styles of its cells to ``spans`` from ``offset`` on."""
        parts: list[str] = []
        at = offset
        last = len(cells) - 1
        for i, (key, width, value, style) in enumerate(cells):
            shown = value if cell_len(value) <= width else set_cell_size(value, width - 1) + "…"
            pad = " " * (width - cell_len(shown))
            if key == "eid":
                shown = pad + shown
            elif i < last:
                shown += pad
            if style:
                spans.append(Span(at, at + len(shown), style))
            if i < last:
                shown += " " * _GAP
            parts.append(shown)
            at += len(shown)
        return "".join(parts)

    @staticmethod
    def _value(key: str, det: Detection, width: int) -> tuple[str, str]:
        """The text of one cell of a column ``width`` cells wide (no more than ``_room(width)``
        characters of it) and its style."""
        if key == "time":
            return utc_text(det.timestamp), ""
        if key == "level":
            level = det.level.lower()
            return level_short(level), LEVEL_STYLE.get(level, "")
        if key == "computer":
            return short_computer(computer(det), width), ""
        if key == "channel":
            return short_channel(event_field(det, "Channel")), ""
        if key == "eid":
            return event_field(det, "EventID"), ""
        if key == "tactics":
            return mitre_tactics(det), ""
        if key == "rule":
            return det.rule_title, ""
        if key == "details":
            return details(det, limit=_room(width)), ""
        ev = first_event(det)
        return (ev.ref if ev is not None else ""), ""

    def _cells(
        self, det: Detection, layout: list[tuple[str, int]]
    ) -> list[tuple[str, int, str, str]]:
        cells = []
        for key, width in layout:
            # A column shows ``width`` cells: cut long values before escaping and measuring
            # them (a 1 MB command line costs its first few dozen characters, not a megabyte).
            room = _room(width)
            value, style = self._value(key, det, width)
            cells.append((key, width, printable(value[:room])[:room], style))
        return cells

    def _flush(self) -> None:
        """Print the rows held: plain lines laid out once for the terminal by ``table_layout``,
        styled by spans (a rich ``Table`` measured every chunk again: 1.7 ms a row)."""
        if not self._rows:
            return
        layout = self._layout()
        spans: list[Span] = []
        lines: list[str] = []
        at = 0
        if not self._printed_header:
            header = [(k, w, _COLUMNS[k].name, "bold") for k, w in layout]
            lines.append(self._line(header, spans, at))
            at += len(lines[-1]) + 1
        for det in self._rows:
            lines.append(self._line(self._cells(det, layout), spans, at))
            at += len(lines[-1]) + 1
        text = Text("\n".join(lines), spans=spans, no_wrap=True, overflow="crop")
        self._console.print(text, crop=False, soft_wrap=True)
        self._printed_header = True
        self._rows.clear()

    def write(self, det: Detection) -> None:
        self._rows.append(det)
        if len(self._rows) >= _CHUNK:
            self._flush()

    def close(self, summary: HuntSummary) -> None:
        self._flush()
        if not self._printed_header:
            self._console.print(Text("No detections."))
        self._console.print()
        print_summary(self._console, summary)
        self._console.file.flush()


def print_summary(console: Console, summary: HuntSummary) -> None:
    """The end-of-hunt summary: what was read, what was found, where and when."""
    overview = Table.grid(padding=(0, 2))
    overview.add_column(style="bold")
    overview.add_column()
    failed = f" ({summary.files_failed} unreadable)" if summary.files_failed else ""
    no_time = (
        f" ({summary.events_without_time} without a timestamp)"
        if summary.events_without_time
        else ""
    )
    overview.add_row("Files read", f"{summary.files}{failed}")
    overview.add_row("Events read", f"{summary.events:,}{no_time}")
    overview.add_row("Read errors", f"{summary.read_issues:,}")
    how = "compiled" if summary.rules_compiled else "from the cache"
    overview.add_row(
        "Rules",
        f"{summary.rules_loaded:,} loaded, {len(summary.rule_errors)} errors "
        f"({how} in {summary.rules_seconds:.2f} s)",
    )
    levels = ", ".join(
        f"{summary.by_level[lv]} {lv}" for lv in reversed(LEVELS) if summary.by_level[lv]
    )
    overview.add_row("Detections", f"{summary.detections:,}" + (f" ({levels})" if levels else ""))
    overview.add_row("First detection", utc_text(summary.first) if summary.first else "-")
    overview.add_row("Last detection", utc_text(summary.last) if summary.last else "-")
    stages = summary.stages or {"rules": summary.rules_seconds, "hunt": summary.seconds}
    overview.add_row(
        "Elapsed",
        f"{sum(stages.values()):.2f} s ("
        + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in stages.items())
        + ")",
    )
    console.print(Text("Summary", style="bold underline"))
    console.print(overview)

    for issue in summary.issue_samples[:_TOP]:
        console.print(_text(f"  read error: {issue}", "red"))
    if summary.read_issues > _TOP:
        console.print(Text(f"  ... and {summary.read_issues - _TOP} more read errors"))
    for error in summary.rule_errors[:_TOP]:
        console.print(_text(f"  rule error: {error}", "red"))
    if len(summary.rule_errors) > _TOP:
        console.print(Text(f"  ... and {len(summary.rule_errors) - _TOP} more rule errors"))
    for lost in summary.state_evictions:  # a correlation's state cap was reached: say what
        when = f" from {utc_text(lost['first'])} to {utc_text(lost['last'])}"
        text = (
            f"  correlation state full: {lost['title']}: {lost['groups']:,} groups evicted, "
            f"{lost['entries']:,} entries dropped, {lost['events']:,} events not kept"
        )
        console.print(_text(text + (when if lost["first"] is not None else ""), "yellow"))

    if summary.by_rule:
        rules = Table(title="Top rules", title_justify="left", box=None, header_style="bold")
        rules.add_column("Count", justify="right")
        rules.add_column("Level")
        rules.add_column("Rule", no_wrap=True, overflow="ellipsis")
        for key, count in summary.by_rule.most_common(_TOP):
            style = LEVEL_STYLE.get(key.level, "")
            rules.add_row(str(count), _text(level_short(key.level), style), _text(key.title))
        console.print(rules)
    if summary.by_host:
        hosts = Table(title="Top hosts", title_justify="left", box=None, header_style="bold")
        hosts.add_column("Count", justify="right")
        hosts.add_column("Computer", no_wrap=True, overflow="ellipsis")
        for host, count in summary.by_host.most_common(_TOP):
            hosts.add_row(str(count), _text(host))
        console.print(hosts)
    if summary.by_tactic:
        tactics = Table(title="ATT&CK tactics", title_justify="left", box=None, header_style="bold")
        tactics.add_column("Count", justify="right")
        tactics.add_column("Tactic")
        for tactic, count in summary.by_tactic.most_common():
            tactics.add_row(str(count), _text(tactic))
        console.print(tactics)
    if summary.hospital is not None:
        from sentinelle.hunt.outputs.hospital import print_hospital

        print_hospital(console, summary.hospital)
