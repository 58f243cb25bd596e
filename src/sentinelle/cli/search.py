"""``sentinelle search PATH... (--keyword WORD | --regex RE | --field NAME=VALUE)...``: the
events of any log that name a word, match a pattern or hold a field value, without rules.

The events are those of ``sentinelle events`` (the normalised fields rules see) and are
written the same way: JSON lines, a table on a terminal, or Hayabusa's search CSV columns.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sentinelle.cli.inputs import LogPaths, Since, Until, check_output, event_source

_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".txt": "table"}


class SearchFormat(StrEnum):
    jsonl = "jsonl"
    table = "table"
    csv = "csv"


def register(app: typer.Typer) -> None:
    app.command("search")(search)


def search(
    paths: LogPaths,
    keyword: Annotated[
        list[str] | None,
        typer.Option(
            "--keyword", "-k", help="A word in any value, any case (repeatable).", metavar="WORD"
        ),
    ] = None,
    regex: Annotated[
        list[str] | None,
        typer.Option(
            "--regex",
            "-r",
            help="An RE2 regular expression found in any value (repeatable; case-sensitive "
            "unless -i).",
            metavar="RE",
        ),
    ] = None,
    field: Annotated[
        list[str] | None,
        typer.Option(
            "--field",
            "-F",
            help="NAME=VALUE: the field has this value, any case, * and ? as wildcards "
            "(repeatable; all must hold).",
            metavar="NAME=VALUE",
        ),
    ] = None,
    all_terms: Annotated[
        bool,
        typer.Option("--all", "-a", help="Every keyword and regex must hold (default: any)."),
    ] = False,
    ignore_case: Annotated[
        bool, typer.Option("--ignore-case", "-i", help="Regexes ignore case.")
    ] = False,
    since: Since = None,
    until: Until = None,
    fmt: Annotated[
        SearchFormat | None,
        typer.Option(
            "--format",
            "-f",
            help="Output format (default: from the suffix of --output, else table on a "
            "terminal and jsonl otherwise).",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the events here.", metavar="FILE")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=0, help="Stop after this many events.")
    ] = None,
) -> None:
    """Search logs for words, patterns and field values, and print the events found.

    Examples:

        sentinelle search logs/ -k mimikatz -k "sekurlsa::"

        sentinelle search logs/ -r '(?i)\\\\temp\\\\[^\\\\]+\\.exe' -F Channel=Security

        sentinelle search logs/ -F EventID=4625 -F TargetUserName=adm-* -o failed.csv

    Exit status: 0 when every file was read, 1 when part of the input could not be read,
    2 for usage errors.
    """
    from sentinelle.cli.eventtable import open_event_writer
    from sentinelle.errors import ConfigError
    from sentinelle.triage.search import build_query

    try:
        query = build_query(
            keyword or [], regex or [], field or [], all_terms=all_terms, ignore_case=ignore_case
        )
    except ConfigError as exc:
        raise typer.BadParameter(exc.message, param_hint=str(exc.location)) from None
    chosen = _format(fmt, output)
    source = event_source(paths, since, until)
    found = 0
    with ExitStack() as stack:
        stream = (
            stack.enter_context(output.open("w", encoding="utf-8", newline=""))
            if output is not None
            else sys.stdout
        )
        writer = open_event_writer(chosen, stream)
        for event in source:
            if limit is not None and found >= limit:
                break
            if query.matches(event):
                writer.write(event)
                found += 1
        writer.close()
    print(f"{found:,} of {source.read:,} events found", file=sys.stderr)
    source.finish()


def _format(fmt: SearchFormat | None, output: Path | None) -> str:
    if output is not None:
        check_output(output, "--output")
    if fmt is not None:
        return fmt.value
    if output is None:
        return "table" if sys.stdout.isatty() else "jsonl"
    chosen = _SUFFIXES.get(output.suffix.lower())
    if chosen is None:
        raise typer.BadParameter(
            f"cannot tell the format from {output.name!r}: name the file "
            f"{', '.join(_SUFFIXES)}, or give -f/--format",
            param_hint="--output",
        )
    return chosen
