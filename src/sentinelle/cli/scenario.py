"""``sentinelle scenario NAME --out DIR``: write a generated night of logs and its ground truth."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from sentinelle.hospital import load_model
from sentinelle.scenarios import DEFAULT_SEED, SCENARIOS, generate_scenario


def register(app: typer.Typer) -> None:
    app.command("scenario")(scenario_command)


def scenario_command(
    name: Annotated[str, typer.Argument(help=f"Scenario: {', '.join(SCENARIOS)}.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write into.")],
    scale: Annotated[
        float, typer.Option("--scale", help="Background volume (machines and activity).")
    ] = 1.0,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same bytes.")] = DEFAULT_SEED,
    background_only: Annotated[
        bool,
        typer.Option("--background-only", help="The same night without the attack."),
    ] = False,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model", "-m", help="Hospital model (default: the worked example).", dir_okay=False
        ),
    ] = None,
) -> None:
    """Generate a scenario: Windows events (EVTX-JSON lines), firewall syslog, Zeek conn.log."""
    began = time.perf_counter()
    manifest = generate_scenario(
        name,
        out,
        seed=seed,
        scale=scale,
        background_only=background_only,
        model=load_model(model) if model is not None else None,
    )
    elapsed = time.perf_counter() - began
    typer.echo(
        f"{name}: {manifest.total_records} records in {len(manifest.files)} files"
        f" written to {out} in {elapsed:.1f} s (seed {seed}, scale {scale:g})"
    )
    for attack in manifest.attacks:
        typer.echo(f"  attack {attack.id}: starts {_iso(attack.start)}, {len(attack.steps)} steps")
        for step in attack.steps:
            typer.echo(f"    {_iso(step.time)}  {step.host:<12} {step.tactic:<18} {step.name}")
    for phase in manifest.containment:
        typer.echo(f"  containment {_iso(phase.time)}: {', '.join(phase.actions)} ({phase.by})")
    typer.echo(f"  ground truth: {out / 'manifest.json'}")


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(ts))
