"""Detections built directly, for testing outputs without the engine."""

from __future__ import annotations

from typing import Any

from sentinelle.detections import Detection
from sentinelle.events import Event


def make_event(fields: dict[str, Any], ts: float | None, source: str, record: int) -> Event:
    return Event(dict(fields), ts, source, record)


def make_detection(
    fields: dict[str, Any],
    ts: float | None = 1_600_000_000.25,
    *,
    rule_id: str = "r-1",
    title: str = "Rule one",
    level: str = "high",
    tags: tuple[str, ...] = ("attack.execution", "attack.t1059.001"),
    source: str = "logs/a.evtx",
    record: int = 7,
) -> Detection:
    return Detection(
        rule_id=rule_id,
        rule_title=title,
        level=level,
        timestamp=ts,
        tags=tags,
        event=make_event(fields, ts, source, record),
    )


def make_correlation(events: list[Event], value: float = 3.0) -> Detection:
    return Detection(
        rule_id="corr-1",
        rule_title="Many failed logons",
        level="critical",
        timestamp=events[-1].timestamp,
        tags=("attack.credential-access", "attack.t1110"),
        rule_type="correlation",
        events=tuple(events),
        group={"TargetUserName": "admin"},
        first_seen=events[0].timestamp,
        last_seen=events[-1].timestamp,
        value=value,
    )
