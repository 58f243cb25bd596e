"""Fixtures for the hospital model tests: the worked example, and small models written to disk."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sentinelle.hospital import HospitalModel, example_model_path, load_model

# A small valid model; tests copy it and change one thing, so each error is alone in its file.
SMALL_MODEL = """\
hospital: {name: Test hospital, staff: 100}
sites:
  - {id: a, name: Site A, town: Town}
  - {id: b, name: Site B, town: Town}
zones:
  - {id: srv, name: Servers, kind: servers}
services:
  - id: app
    name: Application
    criticality: minor
    owner: someone
    on_call: ext. 1
    rto: 1h
    site: a
    depends_on: [db]
infrastructure:
  - {id: db, name: Database, site: a}
assets:
  - {id: app-servers, site: a, zone: srv, hosts: [app01, app02], carries: [app]}
  - {id: db-servers, site: a, zone: srv, hosts: [db01], ip_ranges: [10.0.0.0/28], carries: [db]}
"""


@pytest.fixture(scope="session")
def chu() -> HospitalModel:
    return load_model(example_model_path())


@pytest.fixture
def write_model(tmp_path: Path) -> Callable[[str], Path]:
    """Write model text (dedented) to a file and return its path."""

    def write(text: str, name: str = "model.yml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


def json_path(data: dict[str, Any], entry: dict[str, Any], key: str = "via_step") -> list[str]:
    """An entry's whole path, walked through the JSON report's ``steps`` (the documented way)."""
    path = [entry["component"]]
    at = entry[key]
    while at is not None:
        path.append(data["steps"][at]["label"])
        at = data["steps"][at]["next"]
    return path
