"""Probe declarations for tests, made through the model's own loader (so they are valid)."""

from __future__ import annotations

from pathlib import Path

import yaml

from sentinelle.hospital import HospitalModel, load_model
from sentinelle.hospital.probes import ProbeSpec

BASE = """
hospital: {name: Test hospital, staff: 10}
sites:
  - {id: cen, name: Central, town: Nantes}
  - {id: snz, name: Saint-Nazaire, town: Saint-Nazaire}
zones: [{id: servers, name: Servers, kind: servers}]
services:
  - id: web
    name: Web portal
    criticality: minor
    owner: IT
    on_call: ext. 1
    rto: 4h
    site: cen
    depends_on: [dns]
infrastructure:
  - {id: dns, name: DNS, category: naming, sites: [cen, snz], replicated: true}
assets:
  - {id: web-servers, site: cen, zone: servers, hosts: [web01], carries: [web]}
  - {id: dns-cen, site: cen, zone: servers, hosts: [dc-cen01], carries: [dns]}
  - {id: dns-snz, site: snz, zone: servers, hosts: [dc-snz01], carries: [dns]}
"""


def model_with_probes(
    folder: Path, probes: list[dict[str, object]], owner: str = "web"
) -> HospitalModel:
    """The small test hospital with ``probes`` under ``owner`` (a service, or ``site:ID``)."""
    data = yaml.safe_load(BASE)
    if owner.startswith("site:"):
        site = next(s for s in data["sites"] if s["id"] == owner[5:])
        site["probes"] = probes
    else:
        comps = data["services"] + data["infrastructure"]
        next(c for c in comps if c["id"] == owner)["probes"] = probes
    path = folder / "model.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_model(path)


def probe(folder: Path, **fields: object) -> ProbeSpec:
    """One probe of the test hospital's web service (``owner=`` for another component)."""
    owner = str(fields.pop("owner", "web"))
    model = model_with_probes(folder, [dict(fields)], owner)
    return next(iter(model.probes.values()))
