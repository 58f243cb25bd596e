"""Terminal timeline: a rich table printed as detections arrive, then the hunt's summary.

Rows are printed in chunks of fixed-width columns, so a hunt with a million detections never
holds them for layout. Every cell is a ``rich.text.Text`` built from sanitised strings: log
content can contain ``[bold]``-style markup or escape sequences, and neither may take effect.
"""

from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from sentinelle.detections import LEVELS, Detection
from sentinelle.hunt.outputs.fields import (
    computer,
    details,
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


class TableWriter:
    def __init__(self, stream: TextIO, profile: str = "standard", width: int | None = None) -> None:
        self._console = Console(file=stream, width=width, highlight=False, emoji=False)
        self._profile = profile
        self._rows: list[Detection] = []
        self._printed_header = False

    def _new_table(self) -> Table:
        table = Table(show_header=not self._printed_header, header_style="bold", box=None)
        table.add_column("Timestamp (UTC)", no_wrap=True, min_width=19)
        table.add_column("Computer", no_wrap=True, max_width=20)
        table.add_column("Channel", no_wrap=True, max_width=18)
        table.add_column("EventID", no_wrap=True, justify="right", min_width=7)
        table.add_column("Level", no_wrap=True, min_width=5)
        if self._profile != "minimal":
            table.add_column("Tactics", no_wrap=True, max_width=22)
        table.add_column("Rule", no_wrap=True, ratio=2, max_width=60)
        table.add_column("Details", no_wrap=True, ratio=3)
        if self._profile == "verbose":
            table.add_column("Source", no_wrap=True, max_width=50)
        return table

    def _flush(self) -> None:
        if not self._rows:
            return
        table = self._new_table()
        for det in self._rows:
            level = det.level.lower()
            cells = [
                _text(utc_text(det.timestamp)),
                _text(computer(det)),
                _text(event_field(det, "Channel")),
                _text(event_field(det, "EventID")),
                _text(level_short(level), LEVEL_STYLE.get(level, "")),
            ]
            if self._profile != "minimal":
                cells.append(_text(mitre_tactics(det)))
            cells.append(_text(det.rule_title))
            cells.append(_text(details(det, limit=400)))
            if self._profile == "verbose":
                ev = first_event(det)
                cells.append(_text(ev.ref if ev is not None else ""))
            table.add_row(*cells)
        self._console.print(table)
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
    total = summary.rules_seconds + summary.seconds
    overview.add_row(
        "Elapsed",
        f"{total:.2f} s (rules {summary.rules_seconds:.2f} s, hunt {summary.seconds:.2f} s)",
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
