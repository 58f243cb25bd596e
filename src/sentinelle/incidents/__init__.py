"""Incidents: detections grouped by the machines, addresses and accounts they share over time,
each told as an attack chain in ATT&CK tactic order."""

from __future__ import annotations

from sentinelle.incidents.entities import entities_of
from sentinelle.incidents.group import (
    DEFAULT_MAX_GAP,
    DEFAULT_WAVE_GAP,
    Incident,
    IncidentGrouper,
    Stage,
    group_incidents,
    number_incidents,
)

__all__ = [
    "DEFAULT_MAX_GAP",
    "DEFAULT_WAVE_GAP",
    "Incident",
    "IncidentGrouper",
    "Stage",
    "entities_of",
    "group_incidents",
    "number_incidents",
]
