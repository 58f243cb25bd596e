"""``sentinelle metrics PATH...``: what a collection of logs holds, before hunting it.

Events per channel, per (channel, event id) and per computer, files read, and the time span,
as Hayabusa's ``eid-metrics`` and ``computer-metrics`` show them; a table on the terminal, or
one JSON object (``--format json``).
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated, Any

import orjson
import typer

from sentinelle.cli.inputs import LogPaths, Since, Top, Until, event_source
from sentinelle.events import format_timestamp
from sentinelle.triage.metrics import EventMetrics


class MetricsFormat(StrEnum):
    table = "table"
    json = "json"


def register(app: typer.Typer) -> None:
    app.command("metrics")(metrics)


def metrics(
    paths: LogPaths,
    fmt: Annotated[
        MetricsFormat, typer.Option("--format", "-f", help="Output format.")
    ] = MetricsFormat.table,
    top: Top = 25,
    since: Since = None,
    until: Until = None,
) -> None:
    """Count the events of logs per channel, event id and computer, and give their time span.

    Examples:

        sentinelle metrics /cases/chu/logs

        sentinelle metrics logs/ --format json > metrics.json

    Exit status: 0 when every file was read, 1 when part of the input could not be read,
    2 for usage errors.
    """
    source = event_source(paths, since, until)
    counts = EventMetrics()
    for event in source:
        counts.add(event)
    if fmt is MetricsFormat.json:
        sys.stdout.write(
            orjson.dumps(
                metrics_record(counts, len(source.files)), option=orjson.OPT_SORT_KEYS
            ).decode()
            + "\n"
        )
    else:
        _print(counts, len(source.files), top)
    source.finish()


def metrics_record(m: EventMetrics, files: int) -> dict[str, Any]:
    total = m.events or 1
    return {
        "files": files,
        "events": m.events,
        "events_without_time": m.without_time,
        "first": format_timestamp(m.first),
        "last": format_timestamp(m.last),
        "span_seconds": m.span_seconds,
        "folded": m.folded,
        "channels": [
            {"channel": k, "events": n, "percent": round(100 * n / total, 2)}
            for k, n in m.by_channel.most_common()
        ],
        "event_ids": [
            {"channel": k[0], "event_id": k[1], "events": n, "percent": round(100 * n / total, 2)}
            for k, n in m.by_event.most_common()
        ],
        "computers": [{"computer": k, "events": n} for k, n in m.by_computer.most_common()],
        "sources": [{"source": k, "events": n} for k, n in m.by_source.most_common()],
    }


def _print(m: EventMetrics, files: int, top: int) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from sentinelle.terminal import printable

    console = Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else 160)
    span = m.span_seconds
    console.print(
        Text(
            f"{m.events:,} events in {files:,} files"
            + (f", {m.without_time:,} without a time" if m.without_time else "")
            + (
                f"; from {format_timestamp(m.first)} to {format_timestamp(m.last)} ({_span(span)})"
                if span is not None
                else ""
            )
        )
    )
    total = m.events or 1

    def table(title: str, heads: tuple[str, ...], rows: list[tuple[Any, ...]], more: int) -> None:
        t = Table(title=title, title_justify="left", box=None, header_style="bold")
        for head in heads:
            t.add_column(head, justify="right" if head in ("Events", "%") else "left")
        for row in rows:
            t.add_row(*(Text(printable(str(c))) for c in row))
        console.print(t)
        if more > 0:
            console.print(Text(f"  ... and {more:,} more"))

    table(
        "Channels",
        ("Events", "%", "Channel"),
        [(f"{n:,}", f"{100 * n / total:.1f}", k) for k, n in m.by_channel.most_common(top)],
        len(m.by_channel) - top,
    )
    table(
        "Event ids",
        ("Events", "%", "Channel", "EventID"),
        [(f"{n:,}", f"{100 * n / total:.1f}", k[0], k[1]) for k, n in m.by_event.most_common(top)],
        len(m.by_event) - top,
    )
    table(
        "Computers",
        ("Events", "%", "Computer"),
        [(f"{n:,}", f"{100 * n / total:.1f}", k) for k, n in m.by_computer.most_common(top)],
        len(m.by_computer) - top,
    )
    if m.folded:
        console.print(Text(f"{m.folded:,} events counted under (other): too many distinct keys"))


def _span(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h {minutes} min"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s"
