"""``sentinelle coverage``: which rules can fire on what the hospital sends, and what is missing.

From the service's store (the fields seen per channel and event id, as the detector counted
them) or, offline, from a folder of logs read with the readers. Prints what the hospital can
see, what it is blind to, and which missing sources would light up the most rules; writes the
ATT&CK Navigator layer with ``--layer``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from sentinelle.errors import SentinelleError
from sentinelle.terminal import printable


def register(app: typer.Typer) -> None:
    app.command("coverage")(coverage_command)


def coverage_command(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Logs to take as what is received (offline). Default: the service's store.",
            show_default=False,
        ),
    ] = None,
    rules: Annotated[
        list[str] | None,
        typer.Option(
            "--rules",
            "-r",
            metavar="PATH",
            help="Rule file or folder (repeatable), as for hunt. Default: the hunt's.",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only sources seen since then (ISO date-time or epoch)."),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="The service's data folder (default: as serve)."),
    ] = None,
    layer: Annotated[
        Path | None,
        typer.Option("--layer", help="Write the ATT&CK Navigator layer (4.5) to this file."),
    ] = None,
    output: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Which rules can fire on the sources received, per ATT&CK technique, and what is missing."""
    from sentinelle.cli.inputs import check_output, input_files, parse_time
    from sentinelle.engine import load_compiled
    from sentinelle.hunt.rulesets import default_rule_paths, resolve_rule_args
    from sentinelle.watch.coverage import assess_coverage, coverage_layer

    if output not in ("table", "json"):
        raise typer.BadParameter("use table or json", param_hint="--format")
    if layer is not None:
        check_output(layer, "--layer")
    since_time = parse_time(since, "--since") if since else None
    if paths:
        if since_time is not None:
            raise typer.BadParameter("--since applies to the service's store, not to files")
        files, _repeated = input_files(paths)
        census, events = _census_of_files(files)
        source = ", ".join(str(p) for p in paths[:3]) + (" ..." if len(paths) > 3 else "")
        described = f"{events:,} events of {len(files)} files"
    else:
        census, described = _census_of_store(data_dir, since_time)
        source = "the events the service received"
    if not census:
        raise SentinelleError(f"nothing to judge coverage from: no events ({described})")
    rule_paths = resolve_rule_args(rules) if rules else default_rule_paths()
    compiled = load_compiled(rule_paths)
    coverage = assess_coverage(compiled.plan, census)
    if layer is not None:
        document = coverage_layer(coverage, source)
        layer.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    if output == "json":
        _print_json(coverage, described)
    else:
        _print_tables(coverage, described, len(compiled.errors))


def _census_of_files(files: list[Path]) -> tuple[dict[tuple[str, int], set[str]], int]:
    from sentinelle.readers import read_paths
    from sentinelle.watch.coverage import census_of_batches

    return census_of_batches(read_paths(files))


def _census_of_store(
    data_dir: Path | None, since: float | None
) -> tuple[dict[tuple[str, int], set[str]], str]:
    from sentinelle.service.config import ServeConfig
    from sentinelle.web import configure

    folder = data_dir if data_dir is not None else ServeConfig().data_path()
    if not (folder / "sentinelle.db").exists() and not _has_database_url():
        raise SentinelleError(f"no service data in {folder} (give --data-dir, or log files)")
    configure(folder)
    from sentinelle.service.store import when
    from sentinelle.web.watch.models import SeenFields

    rows = SeenFields.objects.all()
    moment = when(since) if since is not None else None
    if moment is not None:
        rows = rows.filter(last_seen__gte=moment)
    census = {(r.channel, r.event_id): set(r.fields) for r in rows}
    events = sum(r.events for r in rows)
    return census, f"{events:,} events received in {len(census)} kinds"


def _has_database_url() -> bool:
    import os

    return bool(os.environ.get("SENTINELLE_DATABASE_URL"))


def _print_json(coverage: Any, described: str) -> None:
    record = {
        "input": described,
        "rules": len(coverage.rules),
        "can_fire": len(coverage.firing),
        "unmapped": [r.id for r in coverage.unmapped],
        "techniques": [
            {"technique": t.technique, "rules": t.rules, "can_fire": t.firing}
            for t in coverage.techniques()
        ],
        "missing": [{"source": label, "rules": n} for label, n in coverage.suggestions(50)],
        "blind_rules": [
            {"id": r.rule.id, "title": r.rule.title, "needs": sorted({n.label for n in r.needs})}
            for r in coverage.blind
        ],
    }
    sys.stdout.write(orjson.dumps(record).decode() + "\n")


def _print_tables(coverage: Any, described: str, rule_errors: int) -> None:
    console = Console()
    total = len(coverage.rules)
    fire = len(coverage.firing)
    console.print(
        f"{fire} of {total} rules can fire on {printable(described)}"
        + (
            f"; {len(coverage.unmapped)} rules have a logsource no source maps to"
            if coverage.unmapped
            else ""
        )
        + (f"; {rule_errors} rules could not be loaded" if rule_errors else "")
    )
    techniques = coverage.techniques()
    seen = sorted((t for t in techniques if t.firing), key=lambda t: (-t.firing, t.technique))
    blind = [t for t in techniques if not t.firing]
    can = Table(title=f"What the hospital can see ({len(seen)} techniques)")
    for column in ("technique", "rules that can fire", "rules"):
        can.add_column(column)
    for t in seen[:25]:
        can.add_row(t.technique, str(t.firing), str(t.rules))
    cannot = Table(title=f"What it is blind to ({len(blind)} techniques)")
    for column in ("technique", "rules", "for example"):
        cannot.add_column(column)
    for t in sorted(blind, key=lambda t: -t.rules)[:25]:
        cannot.add_row(t.technique, str(t.rules), printable(t.blind_titles[0])[:70])
    missing = Table(title="Sources that would light up the most rules")
    missing.add_column("missing source or fields")
    missing.add_column("rules")
    for label, count in coverage.suggestions(15):
        missing.add_row(printable(label), str(count))
    for table in (can, cannot, missing):
        console.print(table)
