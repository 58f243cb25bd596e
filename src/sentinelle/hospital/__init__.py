"""The hospital model (sites, zones, services, assets, dependencies) and the impact engine.

Load a model with :func:`load_model`, then ask :func:`assess` what compromised or unavailable
machines and containment actions do to each service at each site. ``docs/HOSPITAL.md`` describes
the file format and the semantics; :func:`example_model_path` is the worked example, a fictional
university hospital.
"""

from __future__ import annotations

from pathlib import Path

from sentinelle.hospital.actions import ContainmentAction, parse_action, resolve_action
from sentinelle.hospital.impact import assess, check_names
from sentinelle.hospital.loader import ModelError, load_model, parse_duration
from sentinelle.hospital.locate import VICTIM_FIELDS, assets_for_detection, locate_detection
from sentinelle.hospital.model import (
    Asset,
    Component,
    Criticality,
    Dependency,
    DependencyKind,
    HospitalModel,
    Infrastructure,
    Placement,
    Service,
    Site,
    Zone,
)
from sentinelle.hospital.report import ImpactEntry, ImpactReport, ServiceState, Step

_EXAMPLES = Path(__file__).resolve().parent / "examples"


def example_model_path() -> Path:
    """The worked example: a fictional university hospital, nine sites in three towns."""
    return _EXAMPLES / "chu-example.yml"


__all__ = [
    "VICTIM_FIELDS",
    "Asset",
    "Component",
    "ContainmentAction",
    "Criticality",
    "Dependency",
    "DependencyKind",
    "HospitalModel",
    "ImpactEntry",
    "ImpactReport",
    "Infrastructure",
    "ModelError",
    "Placement",
    "Service",
    "ServiceState",
    "Site",
    "Step",
    "Zone",
    "assess",
    "assets_for_detection",
    "check_names",
    "example_model_path",
    "load_model",
    "locate_detection",
    "parse_action",
    "parse_duration",
    "resolve_action",
]
