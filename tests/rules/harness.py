"""Runs the rule pack's test cases through the real engine (compiled and reference paths).

A case file ``tests/rules/cases/<rule file stem>.yml`` names its rule file and lists cases; each
case holds the events (flat Sigma-native fields, as the readers produce them, with ``t`` an
offset in seconds), or raw log ``lines`` read by the real readers, and the rule ids that must
fire (``fires``) or stay silent (``silent``). ``repeat: {count, every}`` repeats the events,
replacing ``{i}`` in text values by the repetition number. A file's ``defaults`` are fields
every event of the file carries (what the reader adds to each line of that log, say).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sentinelle.detections import Detection
from sentinelle.engine import CompiledRules
from sentinelle.events import Event

PACK = Path(__file__).resolve().parents[2] / "src" / "sentinelle" / "rules"
CASES = Path(__file__).resolve().parent / "cases"
BASE_TS = 1_700_000_000.0  # 2023-11-14T22:13:20Z


@dataclass(frozen=True, slots=True)
class Case:
    file: str
    rule: str
    name: str
    fires: tuple[str, ...]
    silent: tuple[str, ...]
    events: tuple[dict[str, Any], ...]
    lines: tuple[dict[str, Any], ...]

    @property
    def id(self) -> str:
        return f"{self.file}: {self.name}"


def load_cases() -> list[Case]:
    out: list[Case] = []
    for path in sorted(CASES.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        defaults = dict(data.get("defaults") or {})
        for raw in data["cases"]:
            repeat = raw.get("repeat") or {"count": 1, "every": 0}
            events = tuple(
                {**defaults, **ev}
                for ev in _expand(
                    raw.get("events", []), int(repeat["count"]), float(repeat["every"])
                )
            )
            out.append(
                Case(
                    file=path.name,
                    rule=data["rule"],
                    name=raw["name"],
                    fires=tuple(raw.get("fires", [])),
                    silent=tuple(raw.get("silent", [])),
                    events=events,
                    lines=tuple(raw.get("lines", [])),
                )
            )
    return out


def _expand(events: list[dict[str, Any]], count: int, every: float) -> Iterator[dict[str, Any]]:
    for i in range(count):
        for ev in events:
            fields = {
                k: (v.replace("{i}", str(i)) if isinstance(v, str) else v) for k, v in ev.items()
            }
            fields["t"] = float(fields.get("t", 0)) + i * every
            yield fields


def case_events(case: Case) -> list[Event]:
    """The case's events in time order, each a real ``Event`` with its own provenance."""
    events = []
    for n, raw in enumerate(case.events, start=1):
        fields = dict(raw)
        t = float(fields.pop("t"))
        events.append(Event(fields, BASE_TS + t, f"<case {case.id}>", n))
    events.sort(key=lambda e: (e.timestamp or 0.0, e.record))
    return events


def run_case(rules: CompiledRules, events: list[Event]) -> list[Detection]:
    """Match every event, feed the correlator in time order, drop suppressed base detections."""
    correlator = rules.correlator()
    hidden = set(correlator.suppressed_rule_ids)
    out: list[Detection] = []
    for event in events:
        for det in rules.match(event):
            if det.rule_id not in hidden and not det.details.get("suppressed"):
                out.append(det)
            out.extend(correlator.feed(det))
    out.extend(correlator.flush())
    return out
