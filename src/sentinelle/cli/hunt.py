"""``sentinelle hunt`` and ``sentinelle rules update``."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from sentinelle.detections import LEVELS, level_rank
from sentinelle.errors import Location, RuleError
from sentinelle.hunt.outputs import TimelineWriter, open_writer
from sentinelle.hunt.summary import HuntSummary
from sentinelle.terminal import printable

_LEVEL_HELP = "one of " + ", ".join(LEVELS)


class Format(StrEnum):
    table = "table"
    csv = "csv"
    jsonl = "jsonl"
    timesketch = "timesketch"


class Profile(StrEnum):
    minimal = "minimal"
    standard = "standard"
    verbose = "verbose"


_SUFFIX_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "table"}
_EPOCH = re.compile(r"^\d+(\.\d+)?$")


def parse_time(value: str, option: str) -> float:
    """``--since``/``--until``: ISO 8601 date or date-time (UTC unless it says otherwise), or
    epoch seconds."""
    text = value.strip()
    if _EPOCH.match(text):
        return float(text)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date, an ISO 8601 date-time or epoch seconds",
            param_hint=option,
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _level(value: str | None, option: str) -> str | None:
    if value is None:
        return None
    lowered = value.lower()
    if lowered not in LEVELS:
        raise typer.BadParameter(
            f"{value!r} is not a Sigma level ({_LEVEL_HELP})", param_hint=option
        )
    return lowered


class _RichProgress:
    """The hunt's progress on stderr: files done, events read, events per second."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("hunting"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files"),
            TextColumn("{task.fields[events]:,} events"),
            TextColumn("{task.fields[rate]:,.0f} events/s"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task: TaskID | None = None
        self._events = 0

    def start(self, files: int) -> None:
        self._progress.start()
        self._task = self._progress.add_task("hunt", total=files, events=0, rate=0.0)

    def advance(self, events: int) -> None:
        self._events += events
        self._update(0)

    def file_done(self) -> None:
        self._update(1)

    def _update(self, files: int) -> None:
        if self._task is None:
            return
        elapsed = self._progress.tasks[0].elapsed or 0.0
        rate = self._events / elapsed if elapsed > 0 else 0.0
        self._progress.update(self._task, advance=files, events=self._events, rate=rate)

    def stop(self) -> None:
        self._progress.stop()


@contextmanager
def _output_stream(path: Path | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    with path.open("w", encoding="utf-8", newline="") as fh:
        yield fh


def _print_rule_errors(console: Console, errors: list[RuleError]) -> None:
    for err in errors[:10]:
        console.print(Text(printable(f"rule error: {err}"), style="red"))
    if len(errors) > 10:
        console.print(Text(f"... and {len(errors) - 10} more rule errors"))


def hunt(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Log files or directories to hunt through; - reads standard input."),
    ],
    rules: Annotated[
        list[str] | None,
        typer.Option(
            "--rules",
            "-r",
            help="Rule file or directory (repeatable); `sigmahq` names the set `rules update` "
            "downloaded. Default: the shipped rules, the user's configured rule directories and "
            "the downloaded SigmaHQ set.",
        ),
    ] = None,
    min_level: Annotated[
        str | None, typer.Option("--min-level", help=f"Lowest level shown: {_LEVEL_HELP}.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only events at or after this time (ISO 8601, UTC)."),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Only events at or before this time.")
    ] = None,
    tags: Annotated[
        list[str] | None,
        typer.Option("--tags", help="Only detections with this tag or a sub-tag (t1059...)."),
    ] = None,
    fmt: Annotated[
        Format | None,
        typer.Option(
            "--format", "-f", help="Timeline format (default: table on a terminal, else jsonl)."
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the timeline here.")
    ] = None,
    profile: Annotated[
        Profile, typer.Option("--profile", help="Columns of the csv and table timelines.")
    ] = Profile.standard,
    attack_layer: Annotated[
        Path | None, typer.Option("--attack-layer", help="Write an ATT&CK Navigator layer.")
    ] = None,
    html_report: Annotated[
        Path | None, typer.Option("--html", help="Write a self-contained HTML report.")
    ] = None,
    jobs: Annotated[
        int,
        typer.Option("--jobs", "-j", help="Worker processes (0: all cores the input keeps busy)."),
    ] = 0,
    fail_on: Annotated[
        str | None,
        typer.Option("--fail-on", help="Exit 1 if a detection at or above this level is shown."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Nothing on stderr.")] = False,
) -> None:
    """Hunt through logs with Sigma rules and print the timeline of what they found.

    Exit status: 0 when the hunt ran, 1 when --fail-on matched, 2 for usage or rule errors.
    """
    from sentinelle.engine import load_compiled
    from sentinelle.hunt.rulesets import default_rule_paths, resolve_rule_args
    from sentinelle.hunt.run import Selection, auto_jobs, run_hunt
    from sentinelle.readers import STDIN_PATH, expand_paths, read_file

    min_rank_level = _level(min_level, "--min-level")
    fail_level = _level(fail_on, "--fail-on")
    selection = Selection(
        min_level=min_rank_level,
        since=parse_time(since, "--since") if since else None,
        until=parse_time(until, "--until") if until else None,
        tags=tuple(tags or ()),
    )
    if jobs < 0:
        raise typer.BadParameter("must be 0 (all cores) or more", param_hint="--jobs")
    err = Console(stderr=True, highlight=False, emoji=False, quiet=quiet)

    rule_paths = resolve_rule_args(rules) if rules else default_rule_paths()
    if not rule_paths:
        raise RuleError(
            "no rules to hunt with: pass --rules, list rule directories under `rules:` in "
            "config.yml, or run `sentinelle rules update`",
            Location("--rules"),
        )
    compiled = load_compiled(rule_paths)
    rule_errors = compiled.rejections()
    _print_rule_errors(err, rule_errors)
    if not compiled.rules:
        raise RuleError("no rule could be loaded", Location(", ".join(map(str, rule_paths))))

    missing = [p for p in paths if str(p) != STDIN_PATH and not p.exists()]
    if missing:
        raise typer.BadParameter(f"no such file or directory: {missing[0]}", param_hint="PATH")
    files = expand_paths(paths)
    if not files:
        raise typer.BadParameter("no log file found", param_hint="PATH")

    workers = jobs or auto_jobs(files)
    chosen = fmt.value if fmt is not None else None
    if chosen is None:
        if output is not None:
            chosen = _SUFFIX_FORMATS.get(output.suffix.lower(), "jsonl")
        else:
            chosen = "table" if sys.stdout.isatty() else "jsonl"

    summary = HuntSummary(
        rules_loaded=len(compiled.rules), rule_errors=[str(e) for e in rule_errors]
    )
    rule_files = {r.id: r.path for r in compiled.rules}
    try:
        with ExitStack() as stack:
            stream = stack.enter_context(_output_stream(output))
            width = None if stream.isatty() else 160
            writers: list[TimelineWriter] = [
                open_writer(chosen, stream, profile.value, rule_files, width)
            ]
            if html_report is not None:
                from sentinelle.hunt.outputs.html import HtmlWriter

                writers.append(HtmlWriter(html_report))
            progress = _RichProgress(err) if not quiet and err.is_terminal else None
            run_hunt(
                files,
                compiled,
                read_file,
                writers,
                summary,
                selection=selection,
                jobs=workers,
                progress=progress,
            )
    except BrokenPipeError:
        # Whoever read the timeline went away (`| head`): stop quietly, with the status a shell
        # gives a process killed by SIGPIPE, distinct from 0, 1 and 2.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(141) from None
    if attack_layer is not None:
        from sentinelle.hunt.outputs.attack import write_attack_layer

        write_attack_layer(attack_layer, summary)
    if chosen != "table" or output is not None:
        from sentinelle.hunt.outputs.table import print_summary

        print_summary(err, summary)

    if rule_errors:
        raise typer.Exit(2)
    highest = summary.highest_level
    if (
        fail_level is not None
        and highest is not None
        and level_rank(highest) >= level_rank(fail_level)
    ):
        raise typer.Exit(1)


def rules_update(
    url: Annotated[
        str | None,
        typer.Option("--url", help="Package URL (default: $SENTINELLE_SIGMA_URL, else SigmaHQ's)."),
    ] = None,
    sha256: Annotated[
        str | None, typer.Option("--sha256", help="Expected SHA-256 of the package.")
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Network timeout, seconds.")] = 60.0,
) -> None:
    """Download the SigmaHQ rule package, verify it, and switch `--rules sigmahq` to it."""
    from sentinelle.hunt.update import resolve_url, update_rules

    out = Console(highlight=False, emoji=False)
    target = resolve_url(url)
    out.print(Text(f"Downloading {printable(target)}"))
    report = update_rules(target, sha256=sha256, timeout=timeout)
    out.print(Text(f"sha256 {report.sha256}"))
    out.print(
        Text(
            f"{report.rules} rules, {report.correlations} correlations, {report.filters} filters "
            f"loaded; {len(report.errors)} could not be loaded"
        )
    )
    _print_rule_errors(out, report.errors)
    if report.previous is None:
        out.print(Text("First SigmaHQ set installed."))
    else:
        out.print(
            Text(
                f"Changes since the previous set: {len(report.added)} added, "
                f"{len(report.removed)} removed, {len(report.changed)} changed"
            )
        )
        for label, items in (
            ("added", report.added),
            ("removed", report.removed),
            ("changed", report.changed),
        ):
            for change in items[:20]:
                out.print(Text(printable(f"  {label}: {change.title} ({change.path})")))
            if len(items) > 20:
                out.print(Text(f"  ... and {len(items) - 20} more {label}"))
    out.print(Text(f"Installed in {report.directory}; use it with --rules sigmahq"))


def register(app: typer.Typer) -> None:
    app.command("hunt")(hunt)
    from sentinelle.cli.rules import rules_app

    rules_app.command("update")(rules_update)
