"""The ground truth a scenario writes beside its logs: what happened, when, and where.

Tests and the demo compare detections against it (the delay from an attack's start to its first
detection, which steps were seen). It is written as ``manifest.json`` with sorted keys, so that
the same seed gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from sentinelle.errors import Location, SentinelleError
from sentinelle.events import format_timestamp

MANIFEST_NAME = "manifest.json"


class ScenarioError(SentinelleError):
    """A scenario cannot be generated (unknown name, bad parameters, unusable model)."""


@dataclass(frozen=True, slots=True)
class Step:
    """One attacker (or responder) action: its ATT&CK technique, time and place."""

    name: str
    tactic: str  # ATT&CK tactic short name, e.g. "credential-access"
    technique: str  # ATT&CK technique id, e.g. "T1110.003"
    time: float
    host: str
    ip: str
    site: str | None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tactic": self.tactic,
            "technique": self.technique,
            "time": format_timestamp(self.time),
            "ts": self.time,
            "host": self.host,
            "ip": self.ip,
            "site": self.site,
            "detail": self.detail,
        }


@dataclass(slots=True)
class Attack:
    id: str
    name: str
    start: float
    steps: list[Step] = field(default_factory=list)

    @property
    def end(self) -> float:
        return max((s.time for s in self.steps), default=self.start)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "start": format_timestamp(self.start),
            "start_ts": self.start,
            "end": format_timestamp(self.end),
            "steps": [s.to_json() for s in self.steps],
        }


@dataclass(frozen=True, slots=True)
class Containment:
    """From ``time`` on, these defenders' actions are in effect, in the impact engine's words.

    A later entry replaces an earlier one: ``("cut:internet",)`` at 02:00, then
    ``("shut:public-website", "shut:remote-access")`` when the link is partly restored.
    """

    actions: tuple[str, ...]
    time: float
    by: str
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "actions": list(self.actions),
            "time": format_timestamp(self.time),
            "ts": self.time,
            "by": self.by,
            "detail": self.detail,
        }


@dataclass(slots=True)
class Manifest:
    scenario: str
    seed: int
    scale: float
    background_only: bool
    utc_offset: str  # local time of the hospital, e.g. "+01:00"
    window_start: float
    window_end: float
    attacks: list[Attack] = field(default_factory=list)
    containment: list[Containment] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)  # relative path -> record count
    notes: list[str] = field(default_factory=list)

    @property
    def total_records(self) -> int:
        return sum(self.files.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "seed": self.seed,
            "scale": self.scale,
            "background_only": self.background_only,
            "utc_offset": self.utc_offset,
            "window": {
                "start": format_timestamp(self.window_start),
                "end": format_timestamp(self.window_end),
            },
            "attacks": [a.to_json() for a in self.attacks],
            "containment": [c.to_json() for c in self.containment],
            "files": self.files,
            "total_records": self.total_records,
            "notes": self.notes,
        }

    def write(self, out_dir: Path) -> Path:
        path = out_dir / MANIFEST_NAME
        path.write_bytes(
            orjson.dumps(self.to_json(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
        )
        return path


def read_manifest(path: Path) -> Manifest:
    """Load a manifest written by :meth:`Manifest.write` (the demo and tests read it back)."""
    where = Location(str(path))
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ScenarioError(f"cannot read scenario manifest: {exc}", where) from exc
    try:
        attacks = [
            Attack(
                id=a["id"],
                name=a["name"],
                start=float(a["start_ts"]),
                steps=[
                    Step(
                        name=s["name"],
                        tactic=s["tactic"],
                        technique=s["technique"],
                        time=float(s["ts"]),
                        host=s["host"],
                        ip=s["ip"],
                        site=s["site"],
                        detail=s.get("detail", ""),
                    )
                    for s in a["steps"]
                ],
            )
            for a in data["attacks"]
        ]
        containment = [
            Containment(
                tuple(str(a) for a in c["actions"]), float(c["ts"]), c["by"], c.get("detail", "")
            )
            for c in data["containment"]
        ]

        def _ts(text: str) -> float:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

        return Manifest(
            scenario=data["scenario"],
            seed=int(data["seed"]),
            scale=float(data["scale"]),
            background_only=bool(data["background_only"]),
            utc_offset=data["utc_offset"],
            window_start=_ts(data["window"]["start"]),
            window_end=_ts(data["window"]["end"]),
            attacks=attacks,
            containment=containment,
            files={str(k): int(v) for k, v in data["files"].items()},
            notes=list(data.get("notes", [])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ScenarioError(f"malformed scenario manifest: {exc!r}", where) from exc
