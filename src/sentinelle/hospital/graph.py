"""The dependency graph between components: cycles, order, and the sites each one is used from.

Both the loader (to validate) and the impact engine (to evaluate) walk the graph here, always
iteratively, so that a long chain of dependencies cannot exhaust Python's recursion limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sentinelle.hospital.model import Component, Placement, Service


def find_cycles(components: Mapping[str, Component]) -> list[list[str]]:
    """Each dependency cycle once, as the path ``[a, b, ..., a]``, in file order.

    Edges to unknown components are ignored (the loader reports those separately).
    """
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(components, white)
    cycles: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    for start in components:
        if colour[start] != white:
            continue
        # Stack of (node, index of the next dependency to look at); ``trail`` is the DFS path.
        stack: list[tuple[str, int]] = [(start, 0)]
        trail: list[str] = [start]
        colour[start] = grey
        while stack:
            node, index = stack[-1]
            deps = components[node].depends_on
            if index >= len(deps):
                stack.pop()
                trail.pop()
                colour[node] = black
                continue
            stack[-1] = (node, index + 1)
            target = deps[index].target
            if target not in components:
                continue
            if colour[target] == grey:
                cycle = [*trail[trail.index(target) :], target]
                key = frozenset(cycle)
                if key not in seen:
                    seen.add(key)
                    cycles.append(cycle)
            elif colour[target] == white:
                colour[target] = grey
                stack.append((target, 0))
                trail.append(target)
    return cycles


def topological_order(components: Mapping[str, Component]) -> list[str] | None:
    """Component ids with every dependency before its dependents; None if there is a cycle."""
    pending = {
        cid: len({d.target for d in comp.depends_on if d.target in components})
        for cid, comp in components.items()
    }
    dependents: dict[str, list[str]] = {cid: [] for cid in components}
    for cid, comp in components.items():
        for target in {d.target for d in comp.depends_on if d.target in components}:
            dependents[target].append(cid)
    ready = [cid for cid, n in pending.items() if n == 0]
    order: list[str] = []
    while ready:
        cid = ready.pop()
        order.append(cid)
        for user in dependents[cid]:
            pending[user] -= 1
            if pending[user] == 0:
                ready.append(user)
    if len(order) != len(components):
        return None
    # Sort by depth (longest chain of dependencies below), then file order, so that the order
    # does not depend on the order the queue happened to release components.
    depth: dict[str, int] = {}
    for cid in order:
        deps = [d.target for d in components[cid].depends_on if d.target in components]
        depth[cid] = 1 + max((depth[d] for d in deps), default=-1)
    position = {cid: i for i, cid in enumerate(components)}
    return sorted(components, key=lambda cid: (depth[cid], position[cid]))


def evaluation_sites(comp: Component, needed: Iterable[str]) -> set[str]:
    """Sites from which a component's own dependencies are used, given where it is needed."""
    if comp.placement is Placement.SITE:
        return set(comp.sites)
    if comp.placement is Placement.REPLICATED:
        return set(comp.sites)  # any replica may serve a site, so all replicas matter
    if comp.placement is Placement.LOCAL:
        return set(needed) & set(comp.sites)
    return set(needed)  # external: used through the network of the site that uses it


def needed_sites(components: Mapping[str, Component], order: list[str]) -> dict[str, set[str]]:
    """For each component, the sites from which something (a service's users) needs it.

    A service is needed where it is used; a dependency is needed wherever its dependents run.
    ``order`` is a topological order (dependencies first).
    """
    needed: dict[str, set[str]] = {cid: set() for cid in components}
    for cid, comp in components.items():
        if isinstance(comp, Service):
            needed[cid].update(comp.used_at)
    for cid in reversed(order):
        comp = components[cid]
        sites = evaluation_sites(comp, needed[cid])
        for dep in comp.depends_on:
            if dep.target in needed:
                needed[dep.target].update(sites)
    return needed
