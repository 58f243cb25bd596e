"""``sentinelle hunt``."""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer
from rich.console import Console
from rich.text import Text

from sentinelle import STARTED
from sentinelle.cli import ending
from sentinelle.cli.inputs import FOLLOW_SYMLINKS_HELP, READ_LIMIT_HELP
from sentinelle.cli.rules import print_rule_errors
from sentinelle.detections import level_rank
from sentinelle.errors import Location, RuleError
from sentinelle.gcpause import fewer_collections
from sentinelle.hunt.outputs import TimelineWriter, open_writer, writer_notes
from sentinelle.hunt.summary import HuntSummary
from sentinelle.terminal import printable

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from sentinelle.engine import CompiledRules
    from sentinelle.hunt.run import FileReader


class Format(StrEnum):
    table = "table"
    csv = "csv"
    jsonl = "jsonl"
    timesketch = "timesketch"


class Profile(StrEnum):
    """Hayabusa's output profiles (``sentinelle.hunt.outputs.PROFILES``)."""

    minimal = "minimal"
    standard = "standard"
    verbose = "verbose"
    all_field_info = "all-field-info"
    all_field_info_verbose = "all-field-info-verbose"
    super_verbose = "super-verbose"
    timesketch_minimal = "timesketch-minimal"
    timesketch_verbose = "timesketch-verbose"


class Level(StrEnum):
    informational = "informational"
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


_SUFFIX_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "table"}
_OFFLINE_HINT = (
    "offline, download sigma_all_rules.zip from https://github.com/SigmaHQ/sigma/releases and "
    "run `sentinelle rules update --url file:///path/to/sigma_all_rules.zip`"
)


def output_format(output: Path | None, fmt: Format | None, stdout_is_terminal: bool) -> str:
    """The timeline's format: ``-f``, else the suffix of ``-o``, else table on a terminal and
    JSON lines otherwise. A suffix that names no timeline format is refused, never guessed."""
    if fmt is not None:
        return fmt.value
    if output is None:
        return "table" if stdout_is_terminal else "jsonl"
    chosen = _SUFFIX_FORMATS.get(output.suffix.lower())
    if chosen is None:
        known = ", ".join(_SUFFIX_FORMATS)
        extra = (
            " (an HTML report is written by --html)"
            if output.suffix.lower()
            in (
                ".html",
                ".htm",
            )
            else ""
        )
        raise typer.BadParameter(
            f"cannot tell the timeline format from {printable(output.name)!r}{extra}: name the "
            f"file {known}, or give -f/--format",
            param_hint="--output",
        )
    return chosen


class _CompileProgress:
    """A cold rule set's compile on stderr: a bar per stage on a terminal, else one line."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self.compiled = False  # the cache did not answer: the rules were compiled now

    def stage(self, name: str, total: int) -> None:
        if not self.compiled:
            self.compiled = True
            if self._console.is_terminal:
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    SpinnerColumn,
                    TextColumn,
                    TimeElapsedColumn,
                )

                self._progress = Progress(
                    SpinnerColumn(),
                    TextColumn("{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=self._console,
                    transient=True,
                )
                self._progress.start()
            else:
                self._console.print(
                    Text("compiling the rules (first hunt with these rules; cached for the next)")
                )
        if self._progress is not None:
            if self._task is not None:
                self._progress.remove_task(self._task)
            self._task = self._progress.add_task(name, total=total or None)

    def advance(self, count: int = 1) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, count)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class _RichProgress:
    """The hunt's progress on stderr: files done, events read, events per second."""

    def __init__(self, console: Console) -> None:
        # Imported only here: a hunt without a terminal draws no bar (rich.progress is a
        # tenth of the imports of a hunt from the cache).
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

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


_OUTPUT_BUFFER = 1 << 20


@contextmanager
def _output_stream(path: Path | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    # A timeline is written at the end, all at once, often tens of MB: 1 MiB writes instead of
    # 8 KiB ones (the mitre corpus x10's 27 MB of JSON lines: 42 ms -> 25 ms).
    with path.open("w", encoding="utf-8", newline="", buffering=_OUTPUT_BUFFER) as fh:
        yield fh


def hunt(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Log files or folders to hunt through (EVTX, JSON lines, syslog, Zeek, CSV, "
            "archives); - reads standard input. A file named twice is read once.",
            metavar="PATH...",
            show_default=False,
        ),
    ] = None,
    journal: Annotated[
        Path | None,
        typer.Option(
            "--journal",
            help="Hunt through the journal of `sentinelle serve` (DATA/journal) instead of "
            "files: a retro-hunt of what the service accepted, read as live detection read it.",
            metavar="DIR",
        ),
    ] = None,
    rules: Annotated[
        list[str] | None,
        typer.Option(
            "--rules",
            "-r",
            help="Rule file or folder (repeatable); `sigmahq` names the set `rules update` "
            "downloaded. Default: the shipped rules, the user's configured rule folders and "
            "the downloaded SigmaHQ set.",
            metavar="PATH",
        ),
    ] = None,
    min_level: Annotated[
        Level | None,
        typer.Option("--min-level", help="Lowest level shown.", case_sensitive=False),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only events at or after this time: ISO 8601 (UTC unless it says otherwise), "
            "or epoch seconds.",
            metavar="TIME",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="Only events at or before this time.", metavar="TIME"),
    ] = None,
    tags: Annotated[
        list[str] | None,
        typer.Option(
            "--tags",
            help="Only detections with this tag or a sub-tag (repeatable): t1059, "
            "attack.execution...",
            metavar="TAG",
        ),
    ] = None,
    fmt: Annotated[
        Format | None,
        typer.Option(
            "--format",
            "-f",
            help="Timeline format (default: from the suffix of --output, else table on a "
            "terminal and jsonl otherwise).",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write the timeline to this file; .csv, .jsonl/.ndjson and .txt (table) pick "
            "the format.",
            metavar="FILE",
        ),
    ] = None,
    profile: Annotated[
        Profile, typer.Option("--profile", help="Columns of the csv and table timelines.")
    ] = Profile.standard,
    attack_layer: Annotated[
        Path | None,
        typer.Option("--attack-layer", help="Write an ATT&CK Navigator layer.", metavar="FILE"),
    ] = None,
    html_report: Annotated[
        Path | None,
        typer.Option("--html", help="Write a self-contained HTML report.", metavar="FILE"),
    ] = None,
    jobs: Annotated[
        int,
        typer.Option("--jobs", "-j", help="Worker processes (0: all cores the input keeps busy)."),
    ] = 0,
    fail_on: Annotated[
        Level | None,
        typer.Option(
            "--fail-on",
            help="Exit 1 if a detection at or above this level is shown.",
            case_sensitive=False,
        ),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="Hospital model: each detection gets its site, asset and the services that "
            "depend on it, and the summary, table, HTML and JSON lines the incidents and their "
            "impact on services. Default: the worked example, when most machines with "
            "detections are its machines.",
            metavar="FILE",
        ),
    ] = None,
    no_model: Annotated[
        bool, typer.Option("--no-model", help="Place the detections in no hospital model.")
    ] = False,
    raise_vital: Annotated[
        bool,
        typer.Option(
            "--raise-vital",
            help="Raise by one level the detections on machines a vital service of the model "
            "depends on.",
        ),
    ] = False,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            help="Only rules of these statuses, comma-separated: stable, test, experimental, "
            "deprecated, unsupported (a rule without one counts as experimental).",
            metavar="LIST",
        ),
    ] = None,
    exclude_rules: Annotated[
        list[Path] | None,
        typer.Option(
            "--exclude-rules",
            help="File of rules to leave out, one rule id or rule file name per line, # for "
            "comments (Hayabusa's exclude_rules.txt); repeatable.",
            metavar="FILE",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Nothing on stderr.")] = False,
    stats: Annotated[
        Path | None,
        typer.Option("--stats", help="Write the hunt's counters and losses here as JSON."),
    ] = None,
    follow_symlinks: Annotated[
        bool, typer.Option("--follow-symlinks", help=FOLLOW_SYMLINKS_HELP)
    ] = False,
    read_limits: Annotated[
        list[str] | None,
        typer.Option("--read-limit", metavar="NAME=VALUE", help=READ_LIMIT_HELP),
    ] = None,
    max_correlation_groups: Annotated[
        int,
        typer.Option(
            "--max-correlation-groups",
            min=1,
            help="Open groups each correlation rule keeps; past it, those furthest from "
            "their threshold are evicted (and reported).",
        ),
    ] = 100_000,
) -> None:
    """Hunt through logs with Sigma rules and print the timeline of what they found.

    Examples:

        sentinelle rules update                  # fetch the SigmaHQ rules once

        sentinelle hunt /cases/chu/logs          # table on the terminal, summary at the end

        sentinelle hunt logs/ --min-level high --since 2026-11-27T22:00

        sentinelle hunt logs/ -o timeline.csv --profile verbose   # Hayabusa CSV

        sentinelle hunt logs/ -o timeline.jsonl --html report.html --attack-layer layer.json

        sentinelle hunt logs/ --rules sigmahq --rules ./our-rules --tags t1059 --fail-on high

        sentinelle hunt --journal /var/lib/sentinelle/journal -r new.yml --since 2026-11-20

    Exit status: 0 when the hunt ran, 1 when --fail-on matched, 2 for usage or rule errors.
    """
    from sentinelle.cli.inputs import check_output, input_files, parse_time, reader_limits
    from sentinelle.engine import load_compiled
    from sentinelle.hunt.rulesets import (
        default_rule_paths,
        kept_rule_ids,
        parse_statuses,
        read_exclusions,
        resolve_rule_args,
    )
    from sentinelle.hunt.run import ReadOptions, Selection, auto_jobs, run_hunt
    from sentinelle.readers import prestart_worker, read_file

    entered, entered_cpu = time.perf_counter(), time.process_time()
    since_time = parse_time(since, "--since") if since else None
    until_time = parse_time(until, "--until") if until else None
    if jobs < 0:
        raise typer.BadParameter("must be 0 (all cores) or more", param_hint="--jobs")
    read = ReadOptions(
        reader_limits(read_limits) if read_limits else None, follow_symlinks=follow_symlinks
    )
    if model is not None and no_model:
        raise typer.BadParameter("--model and --no-model exclude each other", param_hint="--model")
    if model is not None and not model.is_file():
        raise typer.BadParameter(f"no such file: {printable(str(model))}", param_hint="--model")
    statuses = parse_statuses(status or [])
    exclusions = [e for path in exclude_rules or [] for e in read_exclusions(path)]
    err = Console(stderr=True, highlight=False, emoji=False, quiet=quiet)
    # Everything that can be refused is refused before the rules compile and the logs are read.
    for target, option in (
        (output, "--output"),
        (html_report, "--html"),
        (attack_layer, "--attack-layer"),
    ):
        if target is not None:
            check_output(target, option)
    chosen = output_format(output, fmt, sys.stdout.isatty())
    reader: FileReader = read_file
    sizes: dict[Path, int] = {}  # of the input files, from the stat that tells them apart
    if journal is not None:
        from sentinelle.service.normalise import read_journal

        files, reader, jobs = _journal_input(journal, paths), read_journal, 1
    else:
        if not paths:
            raise typer.BadParameter("give files or folders, or --journal DIR", param_hint="PATH")
        files, repeated = input_files(paths, follow_symlinks=follow_symlinks, sizes=sizes)
        if repeated:
            err.print(Text(f"note: {repeated} file(s) named more than once are read once"))
    workers = jobs or auto_jobs(files, sizes=sizes)
    if workers == 1 and any(p.suffix.lower() == ".evtx" for p in files):
        prestart_worker()  # the EVTX parser boots while the rules load

    rule_paths = resolve_rule_args(rules) if rules else default_rule_paths()
    if not rule_paths:
        raise RuleError(
            "no rules to hunt with: pass --rules, list rule directories under `rules:` in "
            "config.yml, or run `sentinelle rules update`",
            Location("--rules"),
        )
    if not rules and _sigmahq_missing():
        err.print(
            Text(
                "note: the SigmaHQ rules are not downloaded, so this hunt uses only the rules "
                "shipped with Sentinelle (and the folders of your config.yml). Get SigmaHQ's "
                f"rules with `sentinelle rules update`, or {_OFFLINE_HINT}.",
                style="yellow",
            )
        )
    started, started_cpu = time.perf_counter(), time.process_time()
    compiling = _CompileProgress(err)
    try:
        compiled = load_compiled(rule_paths, progress=compiling)
    finally:
        compiling.stop()
    # The modules, the rules and their buckets live as long as the hunt: out of the cyclic
    # collector's passes, which would otherwise walk them again and again (a full pass over
    # the set right after it loads, and others later).
    gc.freeze()
    rules_seconds = time.perf_counter() - started
    if compiled.correlations:
        from sentinelle.engine.correlation import CorrelationLimits

        compiled.correlation_limits = CorrelationLimits(max_groups=max_correlation_groups)
    rule_errors = compiled.rejections()
    print_rule_errors(err, rule_errors)
    if not compiled.rules:
        raise RuleError("no rule could be loaded", Location(", ".join(map(str, rule_paths))))

    kept: frozenset[str] | None = None
    if statuses or exclusions:
        kept, unused = kept_rule_ids(_rule_facts(compiled), statuses, exclusions)
        for entry in unused[:10]:
            err.print(Text(printable(f"note: {entry.location}: {entry.text} names no rule")))
        if len(unused) > 10:
            err.print(Text(f"note: ... and {len(unused) - 10} more exclusions name no rule"))
    selection = Selection(
        min_level=min_level.value if min_level is not None else None,
        since=since_time,
        until=until_time,
        tags=tuple(tags or ()),
        rules=kept,
    )
    hospital = None
    if not no_model:
        from sentinelle.hunt.hospital import HospitalView

        hospital = HospitalView(model, raise_vital=raise_vital)
    summary = HuntSummary(
        rules_loaded=len(compiled.rules),
        rule_errors=[str(e) for e in rule_errors],
        rules_seconds=rules_seconds,
        rules_compiled=compiling.compiled,
    )
    summary.stages["start-up"] = entered - STARTED
    summary.stages["inputs"] = started - entered
    summary.stages["rules"] = time.perf_counter() - started
    # CPU from the process's start: the interpreter's own start counts as start-up.
    summary.stage_cpu["start-up"] = entered_cpu
    summary.stage_cpu["inputs"] = started_cpu - entered_cpu
    summary.stage_cpu["rules"] = time.process_time() - started_cpu
    rule_files = {r.id: r.path for r in compiled.rules}
    try:
        with ExitStack() as stack:
            # Young passes made rarer while the events stream (see sentinelle.gcpause).
            stack.enter_context(fewer_collections())
            stream = stack.enter_context(_output_stream(output))
            width = None if stream.isatty() else 160
            writers: list[TimelineWriter] = [
                open_writer(
                    chosen, stream, profile.value, rule_files, width, terminal=stream.isatty()
                )
            ]
            if html_report is not None:
                from sentinelle.hunt.outputs.html import HtmlWriter

                writers.append(HtmlWriter(html_report, timeline=output))
            progress = _RichProgress(err) if not quiet and err.is_terminal else None
            run_hunt(
                files,
                compiled,
                reader,
                writers,
                summary,
                selection=selection,
                jobs=workers,
                progress=progress,
                hospital=hospital,
                read=read,
            )
    except BrokenPipeError:
        # Whoever read the timeline went away (`| head`): stop quietly, with the status a shell
        # gives a process killed by SIGPIPE, distinct from 0, 1 and 2.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(141) from None
    notes = [note for writer in writers for note in writer_notes(writer)]
    for note in notes:
        err.print(Text(note))
    if attack_layer is not None:
        from sentinelle.hunt.outputs.attack import write_attack_layer

        # Named as the analyst gave the inputs (a folder), not as the files found under them.
        named = [str(journal)] if journal is not None else [str(p) for p in paths or ()]
        write_attack_layer(attack_layer, summary, named)
    if chosen != "table" or output is not None:
        from sentinelle.hunt.outputs.table import print_summary

        print_summary(err, summary)
    if stats is not None:
        _write_stats(stats, summary, notes)
    # The rule set is the largest thing a hunt made: the process ends without freeing it.
    ending.leave_at_exit(compiled, summary, files)

    if rule_errors:
        raise typer.Exit(2)
    highest = summary.highest_level
    if (
        fail_on is not None
        and highest is not None
        and level_rank(highest) >= level_rank(fail_on.value)
    ):
        raise typer.Exit(1)


def _write_stats(path: Path, summary: HuntSummary, notes: list[str]) -> None:
    """``--stats``: what was read, found and lost, for scripts: every loss the summary names,
    by name (the read issues it keeps verbatim, with where and why; the rejected rules; what
    an output left out), not only counted."""
    import json

    counters = {
        "files": summary.files,
        "files_failed": summary.files_failed,
        "events": summary.events,
        "events_without_time": summary.events_without_time,
        "read_issues": summary.read_issues,
        "read_issues_listed": [
            {"location": i.location, "reason": i.reason, "kind": i.kind}
            for i in summary.issue_samples
        ],
        "rules_loaded": summary.rules_loaded,
        "rule_errors": len(summary.rule_errors),
        "rule_errors_listed": list(summary.rule_errors),
        "detections": summary.detections,
        "state_evictions": summary.state_evictions,
        # Where the time went: wall-clock and this process's CPU seconds per stage, and its CPU
        # in all so far (the worker processes and the EVTX parser process not included).
        "stages": {
            name: {"seconds": seconds, "cpu_seconds": summary.stage_cpu.get(name)}
            for name, seconds in summary.stages.items()
        },
        "cpu_seconds": time.process_time(),
        "output_notes": notes,
    }
    path.write_text(json.dumps(counters, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _journal_input(journal: Path, paths: list[Path] | None) -> list[Path]:
    """``--journal DIR`` as the hunt's one input, refused at once if it holds no journal."""
    from sentinelle.service.journal import list_segments

    if paths:
        raise typer.BadParameter("hunts the journal alone: give no PATH", param_hint="--journal")
    if not journal.is_dir():
        raise typer.BadParameter(
            f"no such folder: {printable(str(journal))}", param_hint="--journal"
        )
    if not list_segments(journal):
        raise typer.BadParameter(
            f"{printable(str(journal))} holds no journal segment (*.journal)",
            param_hint="--journal",
        )
    return [journal]


def _sigmahq_missing() -> bool:
    """Whether ``rules update`` never installed the SigmaHQ set (the download code is imported
    only to answer that: a hunt with ``--rules`` needs none of it)."""
    from sentinelle.hunt.update import current_sigmahq

    return current_sigmahq() is None


def _rule_facts(compiled: CompiledRules) -> list[tuple[str, str, str | None]]:
    """(id, file, status) of every rule and correlation of the set, for ``--status`` and
    ``--exclude-rules``."""
    from sentinelle.engine.correlation.model import correlation_rule_id

    facts = [(r.id, r.path, r.status) for r in compiled.rules]
    for index, rule in enumerate(compiled.correlations):
        rule_status = getattr(rule, "status", None)
        source = getattr(getattr(rule, "source", None), "path", None)
        facts.append(
            (
                correlation_rule_id(rule, index),
                str(source or ""),
                rule_status.name.lower() if rule_status is not None else None,
            )
        )
    return facts


def register(app: typer.Typer) -> None:
    app.command("hunt")(hunt)
