"""Checks over all the components of a model at once: roles, cycles, where local ones run.

They work on typed components (which carry their locations), so they run after every section
of the file has been read, and return their problems instead of raising.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sentinelle.errors import ConfigError
from sentinelle.hospital.graph import evaluation_sites, find_cycles, needed_sites, topological_order
from sentinelle.hospital.model import Component, HospitalModel, Placement


def check_roles(components: Mapping[str, Component]) -> list[ConfigError]:
    """A role (what containment actions name) belongs to one component only."""
    problems: list[ConfigError] = []
    owners: dict[str, str] = {}
    for comp in components.values():
        if comp.role is None:
            continue
        if comp.role in owners:
            message = f"role {comp.role!r} is given to both {owners[comp.role]} and {comp.id}"
            problems.append(ConfigError(message, comp.location))
        else:
            owners[comp.role] = comp.id
    return problems


def check_graph(components: Mapping[str, Component], sites: Sequence[str]) -> list[ConfigError]:
    """Dependency cycles (with their path), then local components needed where they do not run."""
    cycles = find_cycles(components)
    problems: list[ConfigError] = []
    for cycle in cycles:
        first = components[cycle[0]]
        edge = next(d for d in first.depends_on if d.target == cycle[1])
        problems.append(ConfigError(f"dependency cycle: {' -> '.join(cycle)}", edge.location))
    order = None if cycles else topological_order(components)
    if order is None:
        return problems
    needed = needed_sites(components, order)
    rank = {site: i for i, site in enumerate(sites)}
    dependents: dict[str, list[Component]] = {}
    for other in components.values():
        for dep in other.depends_on:
            dependents.setdefault(dep.target, []).append(other)
    for cid in order:
        comp = components[cid]
        if comp.placement is not Placement.LOCAL:
            continue
        missing = sorted(needed[cid] - set(comp.sites), key=lambda s: rank.get(s, len(rank)))
        if not missing:
            continue
        users = [
            other.id
            for other in dependents.get(cid, ())
            if evaluation_sites(other, needed[other.id]) & set(missing)
        ]
        verb = "needs" if len(users) == 1 else "need"
        problems.append(
            ConfigError(
                f"{cid} runs only at {', '.join(comp.sites)} (local), but"
                f" {', '.join(users) or 'its users'} {verb} it at {', '.join(missing)}",
                comp.location,
            )
        )
    return problems


def model_notes(model: HospitalModel) -> list[str]:
    """Things that are valid but probably unintended, for ``sentinelle model check`` to show.

    A component no machine carries can only be reached by the engine through its dependencies:
    a compromised or encrypted server will never show on it directly.
    """
    notes: list[str] = []
    for comp in model.components.values():
        if comp.placement is Placement.EXTERNAL:
            continue
        if not model.carriers(comp.id):
            notes.append(
                f"no asset carries {comp.id}: machines can affect it only through its dependencies"
            )
            continue
        if comp.placement in (Placement.LOCAL, Placement.REPLICATED):
            bare = [s for s in comp.sites if not model.carriers(comp.id, s)]
            if bare:
                notes.append(f"no asset carries {comp.id} at {', '.join(bare)}")
    placed = {asset.site for asset in model.assets.values()}
    for site in model.sites:
        if site not in placed:
            notes.append(f"site {site} has no assets: detections there cannot be placed")
    return notes
