"""``sentinelle demo``: the Nantes night and a ransomware chain, generated, hunted and explained.

For each scenario the demo writes the logs (and the same night without the attack), hunts both
with Sentinelle's rule pack and the network detector, groups what it found into incidents,
measures the delay from each attack's start (the manifest's ground truth) to its first
detection, counts the false positives the benign night produced, and asks the impact engine
what the detected attack and the containment actions did to each service at each site. The
story is printed and written as one self-contained HTML report.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from sentinelle.detections import Detection, level_rank
from sentinelle.engine import CompiledRules, load_compiled
from sentinelle.events import format_timestamp
from sentinelle.hospital import (
    HospitalModel,
    ImpactEntry,
    ImpactReport,
    ServiceState,
    assess,
    example_model_path,
    load_model,
)
from sentinelle.hunt.rulesets import SHIPPED_RULES
from sentinelle.hunt.run import run_hunt
from sentinelle.hunt.summary import HuntSummary
from sentinelle.incidents import Incident, entities_of, group_incidents
from sentinelle.incidents.impact import SLOWS, impact_inputs, tagged, victims_by_harm
from sentinelle.network import NetworkDetector, flows_from_batches
from sentinelle.readers import expand_paths, read_file
from sentinelle.scenarios import SCENARIOS, Attack, Containment, Manifest, generate_scenario

DEMO_SEED = 2024
DEMO_SCALE = 0.5  # keeps the whole demo well under a minute on two cores
# What counts as "detected": anything an analyst would look at.
ALERT_LEVEL = "low"


def compile_pack(rule_paths: Sequence[Path] = (SHIPPED_RULES,)) -> CompiledRules:
    """The rule pack compiled (cached on disk like any hunt); the shipped logsource mapping
    covers every logsource the pack names."""
    return load_compiled(list(rule_paths))


class _Collect:
    """A timeline writer that keeps the detections (the demo's timelines are small)."""

    def __init__(self) -> None:
        self.detections: list[Detection] = []

    def write(self, det: Detection) -> None:
        self.detections.append(det)

    def close(self, summary: HuntSummary) -> None:
        return None


@dataclass(slots=True)
class Hunted:
    """What hunting one scenario directory found."""

    summary: HuntSummary
    detections: list[Detection]  # Sigma and network, in time order
    network: list[Detection]
    flows: int
    seconds: float


def hunt_directory(directory: Path, rules: CompiledRules, *, jobs: int | None = None) -> Hunted:
    """The rule pack over every log of a scenario, and the network detector over its flows.

    Flows come from the Zeek sensors only: the firewalls log the same sessions (the Sigma flood
    and scan correlations read those), and feeding both would count every session twice.
    """
    began = time.perf_counter()
    files = [p for p in expand_paths([directory]) if p.name != "manifest.json"]
    summary = HuntSummary(rules_loaded=len(rules.rules))
    sink = _Collect()
    run_hunt(files, rules, read_file, [sink], summary, jobs=jobs or os.cpu_count() or 1)
    network: list[Detection] = []
    flows = 0
    # One detector per sensor: each conn.log is one vantage point, in the order Zeek wrote it.
    for path in sorted((directory / "zeek").rglob("conn.log")):
        detector = NetworkDetector()
        for batch_flows in flows_from_batches(read_file(path, batch_size=4096)):
            flows += len(batch_flows)
            network.extend(detector.feed(batch_flows))
        network.extend(detector.finish())
    detections = sorted([*sink.detections, *network], key=lambda d: d.sort_key)
    return Hunted(summary, detections, network, flows, time.perf_counter() - began)


@dataclass(slots=True)
class AttackOutcome:
    attack: Attack
    first: Detection | None  # the first detection about the attack's machines
    steps_seen: list[tuple[str, Detection | None]]

    @property
    def delay(self) -> float | None:
        if self.first is None or self.first.timestamp is None:
            return None
        return self.first.timestamp - self.attack.start


def _attack_keys(attack: Attack) -> set[str]:
    keys: set[str] = set()
    for step in attack.steps:
        keys.add(f"host:{step.host}")
        keys.add(f"ip:{step.ip}")
    return keys


def measure_attack(attack: Attack, detections: Sequence[Detection]) -> AttackOutcome:
    """First detection touching a machine of the attack at or after its start, and per step."""
    keys = _attack_keys(attack)
    floor = level_rank(ALERT_LEVEL)
    relevant = [
        d
        for d in detections
        if d.timestamp is not None
        and d.timestamp >= attack.start - 1.0
        and level_rank(d.level) >= floor
        and entities_of(d) & keys
    ]
    first = relevant[0] if relevant else None
    steps: list[tuple[str, Detection | None]] = []
    for i, step in enumerate(attack.steps):
        nxt = attack.steps[i + 1].time if i + 1 < len(attack.steps) else step.time + 1800.0
        own = {f"host:{step.host}", f"ip:{step.ip}"}
        window = [
            d
            for d in relevant
            if d.timestamp is not None
            and step.time - 1.0 <= d.timestamp < max(nxt, step.time + 1.0)
            and entities_of(d) & own
        ]
        # The first high or critical detection of the step, else the first of any level.
        serious = [d for d in window if level_rank(d.level) >= level_rank("high")]
        found = serious or window
        steps.append((step.name, found[0] if found else None))
    return AttackOutcome(attack, first, steps)


@dataclass(slots=True)
class PhaseImpact:
    """What the containment in effect from ``phase.time`` costs, and what monitoring saw."""

    phase: Containment
    report: ImpactReport
    cost: list[ImpactEntry]  # what the actions change, the attack at that time being equal
    observed: dict[str, Counter[str]]  # component -> check states seen during the phase


@dataclass(slots=True)
class ScenarioResult:
    name: str
    directory: Path
    manifest: Manifest
    hunted: Hunted
    background: Hunted
    incidents: list[Incident]
    outcomes: list[AttackOutcome]
    detected_impact: ImpactReport
    phases: list[PhaseImpact]
    generate_seconds: float
    impact_inputs: dict[str, list[str]] = field(default_factory=dict)

    @property
    def problems(self) -> list[str]:
        """What could not be read or matched, in both nights: a demo never hides a failure."""
        out: list[str] = []
        for night, hunted in (("attack", self.hunted), ("benign", self.background)):
            s = hunted.summary
            if s.files_failed or s.read_issues:
                out.append(
                    f"{night} night: {s.files_failed} of {s.files} files failed,"
                    f" {s.read_issues} read issues"
                )
                out.extend(f"  {issue}" for issue in s.issue_samples[:5])
        return out

    @property
    def false_positives(self) -> Counter[str]:
        """Detections on the benign night alone, by level: every one is a false positive."""
        return Counter(d.level for d in self.background.detections)


@dataclass(slots=True)
class DemoResult:
    out_dir: Path
    scenarios: list[ScenarioResult]
    seconds: float
    html: Path | None = None
    json: Path | None = None


def _observed_checks(directory: Path, start: float, end: float) -> dict[str, Counter[str]]:
    """States the monitoring checks reported per component between ``start`` and ``end``."""
    seen: dict[str, Counter[str]] = {}
    path = directory / "monitoring" / "centreon.log"
    if not path.is_file():
        return seen
    for batch in read_file(path, batch_size=4096):
        for ev in batch.events:
            if ev.timestamp is None or not start <= ev.timestamp < end:
                continue
            component, state = ev.fields.get("component"), ev.fields.get("state")
            if isinstance(component, str) and isinstance(state, str):
                seen.setdefault(component, Counter())[state] += 1
    return seen


def run_scenario(
    name: str,
    directory: Path,
    model: HospitalModel,
    rules: CompiledRules,
    *,
    seed: int = DEMO_SEED,
    scale: float = DEMO_SCALE,
    jobs: int | None = None,
) -> ScenarioResult:
    began = time.perf_counter()
    manifest = generate_scenario(name, directory / "attack", seed=seed, scale=scale, model=model)
    generate_scenario(
        name, directory / "background", seed=seed, scale=scale, background_only=True, model=model
    )
    generated = time.perf_counter() - began
    hunted = hunt_directory(directory / "attack", rules, jobs=jobs)
    background = hunt_directory(directory / "background", rules, jobs=jobs)
    incidents = group_incidents(hunted.detections, model=model, min_level=ALERT_LEVEL)
    outcomes = [measure_attack(a, hunted.detections) for a in manifest.attacks]
    # The impact engine gets what an analyst would act on, without the ground truth: the high
    # and critical detections of the high and critical incidents.
    high = level_rank("high")
    serious = [
        d
        for inc in incidents
        if level_rank(inc.severity) >= high
        for d in inc.timeline
        if level_rank(d.level) >= high
    ]
    impact = _impact_inputs(model, serious)
    detected = assess(model, **impact)
    phases: list[PhaseImpact] = []
    for i, phase in enumerate(manifest.containment):
        end = (
            manifest.containment[i + 1].time
            if i + 1 < len(manifest.containment)
            else manifest.window_end
        )
        # A compromised or encrypted machine stays so; a flood counts only while it lasts.
        current = _impact_inputs(
            model,
            [
                d
                for d in serious
                if not _slows(d) or (d.timestamp or 0.0) >= phase.time - FLOOD_MEMORY
            ],
        )
        without = assess(model, **current)
        report = assess(model, **current, actions=phase.actions)
        cost = [e for _, e in report.changes_since(without)]
        phases.append(
            PhaseImpact(
                phase, report, cost, _observed_checks(directory / "attack", phase.time, end)
            )
        )
    return ScenarioResult(
        name=name,
        directory=directory,
        manifest=manifest,
        hunted=hunted,
        background=background,
        incidents=incidents,
        outcomes=outcomes,
        detected_impact=detected,
        phases=phases,
        generate_seconds=generated,
        impact_inputs=impact,
    )


# How long after its last detection a flood still weighs on the links.
FLOOD_MEMORY = 600.0


def _slows(det: Detection) -> bool:
    return tagged(det, SLOWS)


def _impact_inputs(model: HospitalModel, serious: Sequence[Detection]) -> dict[str, list[str]]:
    """What the detected attack did, in the impact engine's terms (``incidents.impact``)."""
    return impact_inputs(model, victims_by_harm(model, serious))


def summary_dict(result: DemoResult) -> dict[str, Any]:
    """The figures of a demo run as plain data (what the tests and a CI diff look at)."""
    out: dict[str, Any] = {"seconds": round(result.seconds, 1), "scenarios": []}
    for sc in result.scenarios:
        out["scenarios"].append(
            {
                "name": sc.name,
                "attacks": [
                    {
                        "id": o.attack.id,
                        "start": format_timestamp(o.attack.start),
                        "first_detection": None
                        if o.first is None
                        else {
                            "time": o.first.iso_time(),
                            "rule": o.first.rule_title,
                            "level": o.first.level,
                        },
                        "delay_seconds": None if o.delay is None else round(o.delay, 1),
                        "steps": [
                            {"step": name, "seen_by": None if d is None else d.rule_title}
                            for name, d in o.steps_seen
                        ],
                    }
                    for o in sc.outcomes
                ],
                "detections": dict(Counter(d.level for d in sc.hunted.detections)),
                "false_positives": dict(sc.false_positives),
                "problems": sc.problems,
                "incidents": [i.to_dict() for i in sc.incidents],
                "impact_inputs": sc.impact_inputs,
                "detected_impact": sc.detected_impact.counts(),
                "containment": [
                    {
                        "actions": list(p.phase.actions),
                        "from": format_timestamp(p.phase.time),
                        "counts": p.report.counts(),
                        "down": sorted(
                            {
                                e.component
                                for e in p.report.affected()
                                if e.state is ServiceState.DOWN
                            }
                        ),
                        "checks_seen": {k: dict(v) for k, v in sorted(p.observed.items())},
                    }
                    for p in sc.phases
                ],
            }
        )
    return out


def write_summary(result: DemoResult, path: Path) -> Path:
    path.write_bytes(
        orjson.dumps(summary_dict(result), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        + b"\n"
    )
    return path


def run_demo(
    out_dir: Path | None = None,
    *,
    seed: int = DEMO_SEED,
    scale: float = DEMO_SCALE,
    jobs: int | None = None,
    html: bool = True,
    scenarios: Sequence[str] = tuple(SCENARIOS),
) -> DemoResult:
    """Generate, hunt and explain every scenario; ``out_dir`` defaults to a new temporary one."""
    began = time.perf_counter()
    out = out_dir if out_dir is not None else Path(tempfile.mkdtemp(prefix="sentinelle-demo-"))
    out.mkdir(parents=True, exist_ok=True)
    model = load_model(example_model_path())
    rules = compile_pack()
    results = [
        run_scenario(name, out / name, model, rules, seed=seed, scale=scale, jobs=jobs)
        for name in scenarios
    ]
    result = DemoResult(out, results, time.perf_counter() - began)
    result.json = write_summary(result, out / "sentinelle-demo.json")
    if html:
        from sentinelle.demo_html import write_report

        result.html = write_report(result, model, out / "sentinelle-demo.html")
        result.seconds = time.perf_counter() - began
    return result
