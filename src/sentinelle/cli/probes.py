"""``sentinelle probes run``: every probe of the hospital model, once, as a table.

Useful without the service: to try a model's probes before deploying it, or from a terminal
during a crisis. The exit status is 1 when a probe found its target down, else 0.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sentinelle.hospital import example_model_path, load_model
from sentinelle.terminal import printable

_STYLE = {
    "up": "green",
    "degraded": "dark_orange",
    "down": "bold red",
    "unknown": "yellow",
    "maintenance": "cyan",
}


def register(app: typer.Typer) -> None:
    probes_app = typer.Typer(help="Probes of the hospital model's services.", no_args_is_help=True)
    probes_app.command("run")(probes_run_command)
    app.add_typer(probes_app, name="probes")


def probes_run_command(
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            "-m",
            help="Hospital model (YAML). Default: the worked example.",
            dir_okay=False,
        ),
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option("--probe", help="Run only this probe id, or a component's probes (repeat)."),
    ] = None,
    output: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Run every probe of the model once and print what each one found."""
    from sentinelle.watch import Status, run_once

    if output not in ("table", "json"):
        raise typer.BadParameter("use table or json", param_hint="--format")
    hospital = load_model(model if model is not None else example_model_path())
    specs = list(hospital.probes.values())
    if only:
        wanted = set(only)
        specs = [s for s in specs if s.id in wanted or s.component in wanted]
        if not specs:
            raise typer.BadParameter(
                f"no probe or component named {printable(', '.join(only))}", param_hint="--probe"
            )
    results = asyncio.run(run_once(specs))
    if output == "json":
        for spec, result in zip(specs, results, strict=True):
            record = {
                "probe": spec.id,
                "component": spec.component,
                "site": spec.site,
                "kind": str(spec.kind),
                "target": spec.target,
                "status": str(result.status),
                "reason": result.reason,
                "elapsed_ms": None if result.elapsed is None else round(result.elapsed * 1000, 1),
                "checked": result.checked,
            }
            sys.stdout.write(orjson.dumps(record).decode() + "\n")
    else:
        table = Table(title=f"Probes of {printable(hospital.name)}" if hospital.name else None)
        for column in ("probe", "watches", "kind", "target", "status", "ms", "reason"):
            table.add_column(column, justify="right" if column == "ms" else "left")
        for spec, result in zip(specs, results, strict=True):
            ms = "" if result.elapsed is None else f"{result.elapsed * 1000:.0f}"
            table.add_row(
                printable(spec.id),
                printable(spec.label),
                str(spec.kind),
                printable(spec.target),
                Text(str(result.status), style=_STYLE[str(result.status)]),
                ms,
                printable(result.reason),
            )
        console = Console(soft_wrap=False)
        if specs:
            console.print(table)
        counts: dict[str, int] = {}
        for result in results:
            counts[str(result.status)] = counts.get(str(result.status), 0) + 1
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        console.print(f"{len(specs)} probes" + (f": {summary}" if summary else ""))
    if any(r.status is Status.DOWN for r in results):
        raise typer.Exit(1)
