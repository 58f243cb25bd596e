"""``sentinelle logons PATH...``: successful and failed Windows logons (Security 4624, 4625)
per account, computer, logon type and source, as Hayabusa's logon summary lists them."""

from __future__ import annotations

import csv
import sys
from enum import StrEnum
from typing import Annotated, Any

import orjson
import typer

from sentinelle.cli.inputs import LogPaths, Since, Top, Until, event_source
from sentinelle.events import format_timestamp
from sentinelle.triage.logons import LogonKey, LogonRow, LogonSummary

COLUMNS = (
    "Count",
    "Account",
    "Computer",
    "LogonType",
    "SourceWorkstation",
    "SourceIp",
    "FailureReason",
    "First",
    "Last",
)


class LogonsFormat(StrEnum):
    table = "table"
    csv = "csv"
    jsonl = "jsonl"


def register(app: typer.Typer) -> None:
    app.command("logons")(logons)


def logons(
    paths: LogPaths,
    fmt: Annotated[
        LogonsFormat, typer.Option("--format", "-f", help="Output format.")
    ] = LogonsFormat.table,
    top: Top = 25,
    since: Since = None,
    until: Until = None,
) -> None:
    """Summarise successful and failed logons per account, computer, type and source.

    Examples:

        sentinelle logons /cases/chu/logs

        sentinelle logons logs/ --format csv > logons.csv

    Exit status: 0 when every file was read, 1 when part of the input could not be read,
    2 for usage errors.
    """
    source = event_source(paths, since, until)
    summary = LogonSummary()
    for event in source:
        summary.add(event)
    if fmt is LogonsFormat.table:
        _print(summary, top)
    elif fmt is LogonsFormat.csv:
        _write_csv(summary)
    else:
        for result in ("success", "failure"):
            for key, row in summary.sorted_rows(result):
                record = {"result": result, **_cells(key, row)}
                sys.stdout.write(orjson.dumps(record, option=orjson.OPT_SORT_KEYS).decode() + "\n")
    if summary.overflow:
        print(
            f"note: {summary.overflow:,} logons of groups past the table's limit are counted only",
            file=sys.stderr,
        )
    source.finish()


def _cells(key: LogonKey, row: LogonRow) -> dict[str, Any]:
    return {
        "Count": row.count,
        "Account": key.account,
        "Computer": key.computer,
        "LogonType": key.logon_type,
        "SourceWorkstation": key.workstation,
        "SourceIp": key.address,
        "FailureReason": key.reason or "-",
        "First": format_timestamp(row.first),
        "Last": format_timestamp(row.last),
    }


def _write_csv(summary: LogonSummary) -> None:
    from sentinelle.hunt.outputs.csv import defuse

    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(("Result", *COLUMNS))
    for result in ("success", "failure"):
        for key, row in summary.sorted_rows(result):
            cells = _cells(key, row)
            out.writerow([result, *(defuse(str(cells[c] or "")) for c in COLUMNS)])


def _print(summary: LogonSummary, top: int) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from sentinelle.terminal import printable

    console = Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else 200)
    console.print(Text(f"{summary.successes:,} successful and {summary.failures:,} failed logons"))
    for result, title in (("success", "Successful logons"), ("failure", "Failed logons")):
        rows = summary.sorted_rows(result)
        columns = (
            COLUMNS if result == "failure" else tuple(c for c in COLUMNS if c != "FailureReason")
        )
        table = Table(title=title, title_justify="left", box=None, header_style="bold")
        for name in columns:
            table.add_column(name, justify="right" if name == "Count" else "left")
        for key, row in rows[:top]:
            cells = _cells(key, row)
            table.add_row(*(Text(printable(str(cells[c] or "-"))) for c in columns))
        console.print(table)
        if len(rows) > top:
            console.print(Text(f"  ... and {len(rows) - top:,} more"))
