"""``sentinelle events PATH...``: print normalised events, so a user sees the exact field names
that rules match against.

``--format jsonl`` (default) writes one JSON object per event (sorted keys: timestamp, source as
``path#record``, fields, flags); ``--format table`` draws a table. Read problems go to stderr as
``warning: location: reason [kind]`` with a count at the end; they never stop the listing.

Exit status, one rule for every format (docs/ARCHITECTURE.md, Readers): 1 when part of the input
was not read, a whole file (unreadable, skipped, empty) or a region of one (an EVTX chunk, the
rest of a damaged stream, a refused archive member); 0 when every file was read, even if single
records were skipped or repaired (each one reported).

Text from the input (field names and values, file and member names, issue reasons) reaches a
terminal only through ``sentinelle.terminal``: escape sequences in a log are shown, never run.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import orjson
import typer

from sentinelle.cli.inputs import FOLLOW_SYMLINKS_HELP, READ_LIMIT_HELP, reader_limits
from sentinelle.events import Event, ReadIssue
from sentinelle.terminal import printable, printable_json


class OutputFormat(StrEnum):
    jsonl = "jsonl"
    table = "table"


_PATHS = typer.Argument(
    ..., help="Log files or directories (archives are opened); - reads standard input."
)
_FORMAT = typer.Option(OutputFormat.jsonl, "--format", "-f", help="Output format.")
_LIMIT = typer.Option(None, "--limit", "-n", min=0, help="Stop after this many events.")
_FOLLOW = typer.Option(False, "--follow-symlinks", help=FOLLOW_SYMLINKS_HELP)
_READ_LIMITS = typer.Option([], "--read-limit", metavar="NAME=VALUE", help=READ_LIMIT_HELP)
# Longest value shown in a table cell; the JSON output is never shortened.
_CELL = 120
_PIPE_WIDTH = 200


# Issue kinds that mean part of the input was not read (see the module's exit status).
LOST_KINDS = frozenset(("file", "chunk"))
_EPILOG = (
    "Exit status: 0 when every file was read (single records skipped or repaired are reported"
    " on stderr), 1 when a file or part of one (an EVTX chunk, a refused archive member) was"
    " not read, 2 for usage errors."
)


def register(app: typer.Typer) -> None:
    app.command("events", epilog=_EPILOG)(events)


def events(
    paths: list[Path] = _PATHS,
    output: OutputFormat = _FORMAT,
    limit: int | None = _LIMIT,
    follow_symlinks: bool = _FOLLOW,
    read_limits: list[str] = _READ_LIMITS,
) -> None:
    """Print the normalised events of log files: the field names rules match against."""
    from sentinelle.readers import read_paths

    limits = reader_limits(read_limits)

    shown = 0
    issues = 0
    unreadable = 0
    rows: list[Event] = []
    tty = sys.stdout.isatty()
    batches = read_paths(paths, batch_size=512, limits=limits, follow_symlinks=follow_symlinks)
    try:
        for batch in batches:
            for issue in batch.issues:
                issues += 1
                unreadable += issue.kind in LOST_KINDS
                _warn(issue)
            for event in batch.events:
                if limit is not None and shown >= limit:
                    break
                shown += 1
                if output is OutputFormat.jsonl:
                    line = json_line(event)
                    sys.stdout.write(printable_json(line) if tty else line)
                else:
                    rows.append(event)
            if limit is not None and shown >= limit:
                break
    finally:
        # Stops the EVTX worker at once when --limit cut the reading short.
        close = getattr(batches, "close", None)
        if close is not None:
            close()
    if output is OutputFormat.table:
        _print_table(rows)
    sys.stdout.flush()
    if issues:
        print(f"sentinelle: {issues} read problem(s) reported above", file=sys.stderr)
    if unreadable:
        raise typer.Exit(1)


def _warn(issue: ReadIssue) -> None:
    text = f"warning: {printable(issue.location)}: {printable(issue.reason)} [{issue.kind}]"
    print(text, file=sys.stderr)


def json_line(event: Event) -> str:
    """One event as the JSON line `sentinelle events` writes (sorted keys)."""
    data = orjson.dumps(event.to_dict(), option=orjson.OPT_SORT_KEYS, default=str)
    return data.decode() + "\n"


def _print_table(rows: list[Event]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(show_lines=True)
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("source", overflow="fold")
    table.add_column("fields", overflow="fold")
    for event in rows:
        fields = "\n".join(
            f"{printable(name)} = {_cell(value)}" for name, value in sorted(event.fields.items())
        )
        time = event.iso_time() or f"({', '.join(event.flags) or 'no time'})"
        # Text objects: rich would read "[red]" in a log as markup.
        table.add_row(time, Text(printable(event.ref)), Text(fields))
    # Piped output has no terminal width to follow: use a wide one rather than rich's 80 columns.
    console = Console(soft_wrap=False, width=None if sys.stdout.isatty() else _PIPE_WIDTH)
    console.print(table)


def _cell(value: object) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    text = printable(text.replace("\n", "\\n").replace("\r", "\\r"))
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"
