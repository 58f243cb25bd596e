"""The detection: what every detector (Sigma rules, correlations, network) produces.

Hunts, incidents, the impact engine and the outputs consume this one type, whatever produced it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sentinelle.events import Event, format_timestamp

LEVELS = ("informational", "low", "medium", "high", "critical")
LEVEL_RANK = {name: rank for rank, name in enumerate(LEVELS)}


def level_rank(level: str) -> int:
    """Order of a Sigma level; unknown levels rank as informational."""
    return LEVEL_RANK.get(level.lower(), 0)


@dataclass(slots=True)
class Detection:
    """A rule (or detector) matched.

    ``rule_type`` is ``"detection"`` for a single-event Sigma rule, ``"correlation"`` for a Sigma
    correlation, ``"network"`` for a flow or firewall detector. A single-event detection has
    ``event``; a correlation or network detection has ``events`` (the contributing ones, possibly
    a bounded sample), ``group``, ``first_seen``, ``last_seen`` and ``value``.
    """

    rule_id: str
    rule_title: str
    level: str
    timestamp: float | None
    tags: tuple[str, ...] = ()
    rule_type: str = "detection"
    event: Event | None = None
    events: tuple[Event, ...] = ()
    group: dict[str, Any] = field(default_factory=dict)
    first_seen: float | None = None
    last_seen: float | None = None
    value: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    rule_name: str | None = None  # the Sigma ``name`` field, for correlations that refer to it

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # A hunt pickles every detection into its spill files. A slotted dataclass pickles its
        # state through a Python-level ``__getstate__`` that looks its fields up each time;
        # the constructor's arguments as one tuple take a third less time (and space).
        return (
            self.__class__,
            (
                self.rule_id,
                self.rule_title,
                self.level,
                self.timestamp,
                self.tags,
                self.rule_type,
                self.event,
                self.events,
                self.group,
                self.first_seen,
                self.last_seen,
                self.value,
                self.details,
                self.rule_name,
            ),
        )

    @property
    def computer(self) -> str | None:
        ev = self.event if self.event is not None else (self.events[0] if self.events else None)
        if ev is None:
            return self.group.get("Computer") if self.group else None
        value = ev.fields.get("Computer")
        return None if value is None else str(value)

    @property
    def sort_key(self) -> tuple[float, str, int, str]:
        """Deterministic order: time, then source and record, then rule id."""
        ev = self.event if self.event is not None else (self.events[0] if self.events else None)
        ts = self.timestamp if self.timestamp is not None else float("-inf")
        if ev is None:
            return (ts, "", 0, self.rule_id)
        return (ts, ev.source, ev.record, self.rule_id)

    def iso_time(self) -> str | None:
        return format_timestamp(self.timestamp)
