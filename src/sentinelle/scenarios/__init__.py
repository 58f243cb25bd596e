"""Deterministic generated nights over the worked hospital: logs plus their ground truth.

``generate_scenario("ransomware", out_dir, seed=7)`` writes Windows Security, System and Sysmon
events as EVTX-JSON lines (one file per machine and channel), FortiGate syslog, Zeek conn.log
for the edge and the core, monitoring checks, and ``manifest.json`` with what happened when.
The same name, seed and scale always give the same bytes; ``background_only`` writes the same
night without the attack, which is how false positives are counted.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sentinelle.hospital import HospitalModel, example_model_path, load_model
from sentinelle.scenarios import background, monitoring, nantes, ransomware, traffic
from sentinelle.scenarios.manifest import (
    MANIFEST_NAME,
    Attack,
    Containment,
    Manifest,
    ScenarioError,
    Step,
    read_manifest,
)
from sentinelle.scenarios.topology import build_topology
from sentinelle.scenarios.world import World

DEFAULT_SEED = 2024
MAX_SCALE = 20.0
UTC_OFFSET = timedelta(hours=1)  # both nights are in winter, Paris time


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    name: str
    summary: str
    window_start: float
    hours: float
    conditions: Callable[[World, bool], None]
    attack: Callable[[World], tuple[list[Attack], list[Containment]]]


def _no_conditions(w: World, with_attack: bool) -> None:
    return None


SCENARIOS: dict[str, ScenarioSpec] = {
    nantes.NAME: ScenarioSpec(
        nantes.NAME,
        "flood on the internet edge at 01:20, internet link cut at 02:00, partial restoration",
        nantes.WINDOW_START,
        nantes.WINDOW_HOURS,
        nantes.conditions,
        nantes.attack,
    ),
    ransomware.NAME: ScenarioSpec(
        ransomware.NAME,
        "VPN password spray to encrypted file shares over one night",
        ransomware.WINDOW_START,
        ransomware.WINDOW_HOURS,
        _no_conditions,
        ransomware.attack,
    ),
}


def generate_scenario(
    name: str,
    out_dir: Path,
    *,
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    background_only: bool = False,
    model: HospitalModel | None = None,
) -> Manifest:
    """Write scenario ``name`` into ``out_dir`` (emptied first if it holds an earlier run)."""
    spec = SCENARIOS.get(name)
    if spec is None:
        raise ScenarioError(f"unknown scenario {name!r} (known: {', '.join(SCENARIOS)})")
    if not 0.05 <= scale <= MAX_SCALE:
        raise ScenarioError(f"scale must be between 0.05 and {MAX_SCALE:g}, not {scale:g}")
    if model is None:
        model = load_model(example_model_path())
    world_seed = seed * 1_000_003 + sum(map(ord, name))
    topology = build_topology(model, World.static_rng(world_seed, "topology"), scale)
    start = spec.window_start
    world = World(topology, world_seed, start, start + spec.hours * 3600, scale, UTC_OFFSET)
    spec.conditions(world, not background_only)
    attacks: list[Attack] = []
    containment: list[Containment] = []
    if not background_only:
        attacks, containment = spec.attack(world)
    background.generate(world)
    traffic.generate(world)
    monitoring.generate(world)
    _prepare(out_dir)
    world.sink.write(out_dir)
    manifest = Manifest(
        scenario=name,
        seed=seed,
        scale=scale,
        background_only=background_only,
        utc_offset="+01:00",
        window_start=world.start,
        window_end=world.end,
        attacks=attacks,
        containment=containment,
        files=world.sink.counts(),
        notes=[spec.summary, f"hospital model: {model.name}"],
    )
    manifest.write(out_dir)
    return manifest


def _prepare(out_dir: Path) -> None:
    """Clear what an earlier run of a scenario left there, never anything else."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if (out_dir / MANIFEST_NAME).is_file():
        for sub in ("windows", "firewall", "zeek", "monitoring"):
            shutil.rmtree(out_dir / sub, ignore_errors=True)
        (out_dir / MANIFEST_NAME).unlink()
    elif any(out_dir.iterdir()):
        raise ScenarioError(f"{out_dir} is not empty and holds no earlier scenario; choose another")


__all__ = [
    "DEFAULT_SEED",
    "MANIFEST_NAME",
    "SCENARIOS",
    "Attack",
    "Containment",
    "Manifest",
    "ScenarioError",
    "ScenarioSpec",
    "Step",
    "generate_scenario",
    "read_manifest",
]
