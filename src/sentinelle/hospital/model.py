"""The typed hospital model: sites, zones, services, infrastructure, assets, dependencies.

Values here are already validated (see :mod:`sentinelle.hospital.loader`), so the impact engine
and the other stages never re-check them. Services and infrastructure share one namespace of
*components*: both can be depended on, carried by assets, cut by a containment action.

Where a component runs (its *placement*) decides how a site reaches it:

* ``site``: one instance, at one site; other sites reach it through their WAN link and the
  WAN link of the hosting site (the patient record in the main data centre);
* ``local``: one instance per listed site, used only there (a site's telephone exchange);
* ``replicated``: instances at the listed sites; a site uses its own instance when it has one,
  else the best instance it can reach over the WAN (domain controllers);
* ``external``: run by a provider outside the hospital, reached from wherever it is used, so its
  dependencies (the internet link) are those of the site using it (a SaaS booking platform).
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import re2

from sentinelle.errors import Location
from sentinelle.hospital.probes import ProbeSpec

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Criticality(StrEnum):
    VITAL = "vital"
    MAJOR = "major"
    MINOR = "minor"


CRITICALITY_RANK = {Criticality.VITAL: 0, Criticality.MAJOR: 1, Criticality.MINOR: 2}


class DependencyKind(StrEnum):
    HARD = "hard"  # without it the dependent stops
    SOFT = "soft"  # without it the dependent goes on in a degraded way


class Placement(StrEnum):
    SITE = "site"
    LOCAL = "local"
    REPLICATED = "replicated"
    EXTERNAL = "external"


ZONE_KINDS = ("office", "clinical", "biomedical", "servers", "dmz", "management", "other")


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    name: str
    town: str
    staff: int
    description: str = ""
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Zone:
    id: str
    name: str
    kind: str
    description: str = ""
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Dependency:
    target: str
    kind: DependencyKind = DependencyKind.HARD
    note: str = ""
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Component:
    """Something that can be depended on: a service or a piece of infrastructure."""

    id: str
    name: str
    placement: Placement
    sites: tuple[str, ...]  # hosting site(s); empty for external components
    depends_on: tuple[Dependency, ...] = ()
    role: str | None = None  # well-known role a containment action can name ("internet"...)
    owner: str = ""
    on_call: str = ""
    rto_seconds: int | None = None
    runbook: Path | None = None  # absolute path of the degraded-mode procedure (Markdown)
    description: str = ""
    location: Location | None = field(default=None, compare=False)

    @property
    def is_service(self) -> bool:
        return False

    def runs_at(self, site: str) -> bool:
        """Whether the component has an instance of its own for ``site``."""
        return self.placement is Placement.EXTERNAL or site in self.sites


@dataclass(frozen=True, slots=True)
class Service(Component):
    """A clinical or administrative service staff use; reported per site in impact reports."""

    criticality: Criticality = Criticality.MINOR
    used_at: tuple[str, ...] = ()  # sites where the service is used (reported)

    @property
    def is_service(self) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class Infrastructure(Component):
    """What services run on: links, directory, DNS, relays, hypervisors, storage, providers."""

    category: str = "other"


@dataclass(frozen=True, slots=True)
class Asset:
    """A group of machines that share a role, a site and a zone, and carry components.

    ``hosts`` are known host names (lower case, without domain); ``patterns`` match more of them
    (``#`` one digit, ``?`` one character, ``*`` any run of characters), and ``count`` says how
    many machines the asset has when the names are not all listed.
    """

    id: str
    name: str
    site: str
    zone: str
    hosts: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    ip_ranges: tuple[IPNetwork, ...] = ()
    carries: tuple[str, ...] = ()
    count: int | None = None
    description: str = ""
    location: Location | None = field(default=None, compare=False)

    @property
    def size(self) -> int:
        """Number of machines: ``count`` when given, else the listed hosts (at least one)."""
        if self.count is not None:
            return self.count
        return max(len(self.hosts), 1)

    def matches(self, host: str) -> bool:
        name = normalise_host(host)
        return name in self.hosts or any(_pattern_regex(p).match(name) for p in self.patterns)

    def example_hosts(self, limit: int = 10) -> list[str]:
        """Concrete host names: the listed ones, then names generated from ``#`` patterns."""
        out = list(self.hosts[:limit])
        for pattern in self.patterns:
            if "*" in pattern or "?" in pattern or "#" not in pattern:
                continue  # cannot be turned into concrete names
            width = _longest_run(pattern, "#")
            number = 1
            while len(out) < limit and number < 10**width:
                name = _fill_digits(pattern, number)
                if name not in out:
                    out.append(name)
                number += 1
        return out[:limit]


def normalise_host(host: str) -> str:
    """Host name as the model stores it: lower case, without domain or trailing dot."""
    name = host.strip().rstrip(".").lower()
    if _looks_like_ip(name):
        return name
    return name.split(".", 1)[0]


def _looks_like_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


_PATTERN_CACHE: dict[str, Any] = {}


def pattern_to_regex(pattern: str) -> str:
    """RE2 syntax for a host pattern (``#`` digit, ``?`` one character, ``*`` any run)."""
    parts = ["^"]
    for ch in pattern.lower():
        if ch == "#":
            parts.append("[0-9]")
        elif ch == "?":
            parts.append("[a-z0-9_-]")
        elif ch == "*":
            parts.append("[a-z0-9_-]*")
        else:
            parts.append(re2.escape(ch))
    parts.append("$")
    return "".join(parts)


def _pattern_regex(pattern: str) -> Any:
    # RE2 runs in linear time whatever the pattern, which matters because models are input.
    compiled = _PATTERN_CACHE.get(pattern)
    if compiled is None:
        if len(_PATTERN_CACHE) > 50_000:  # many models loaded in one process: start afresh
            _PATTERN_CACHE.clear()
        compiled = re2.compile(pattern_to_regex(pattern))
        _PATTERN_CACHE[pattern] = compiled
    return compiled


def _longest_run(text: str, ch: str) -> int:
    best = run = 0
    for c in text:
        run = run + 1 if c == ch else 0
        best = max(best, run)
    return best


def _fill_digits(pattern: str, number: int) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] != "#":
            out.append(pattern[i])
            i += 1
            continue
        j = i
        while j < len(pattern) and pattern[j] == "#":
            j += 1
        width = j - i
        out.append(str(number % 10**width).zfill(width))
        i = j
    return "".join(out)


@dataclass(slots=True)
class HospitalModel:
    """A validated hospital: build it with :func:`sentinelle.hospital.load_model`."""

    name: str
    staff: int
    domain: str
    source: Path | None
    sites: dict[str, Site]
    zones: dict[str, Zone]
    services: dict[str, Service]
    infrastructure: dict[str, Infrastructure]
    assets: dict[str, Asset]
    probes: dict[str, ProbeSpec] = field(default_factory=dict)  # by id, in file order
    _by_host: dict[str, Asset] = field(default_factory=dict, init=False, repr=False)
    _patterned: list[Asset] = field(default_factory=list, init=False, repr=False)
    _ranges: list[tuple[IPNetwork, Asset]] = field(default_factory=list, init=False, repr=False)
    _lookups: dict[str, Asset | None] = field(default_factory=dict, init=False, repr=False)
    _carriers: dict[str, list[Asset]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for asset in self.assets.values():
            for cid in asset.carries:
                self._carriers.setdefault(cid, []).append(asset)
            for host in asset.hosts:
                self._by_host[host] = asset
            if asset.patterns:
                self._patterned.append(asset)
            for net in asset.ip_ranges:
                self._ranges.append((net, asset))
        # Most specific range first, so a server's /28 wins over its site's /16.
        self._ranges.sort(key=lambda item: -item[0].prefixlen)

    # -- components ---------------------------------------------------------------------------

    @property
    def components(self) -> dict[str, Component]:
        """Services then infrastructure, by id, in file order."""
        out: dict[str, Component] = dict(self.services)
        out.update(self.infrastructure)
        return out

    def component(self, component_id: str) -> Component | None:
        return self.services.get(component_id) or self.infrastructure.get(component_id)

    def resolve_component(self, name: str) -> Component | None:
        """A component by id, else by role (``internet``, ``remote-access``, ``directory``)."""
        found = self.component(name)
        if found is not None:
            return found
        for comp in self.components.values():
            if comp.role == name:
                return comp
        return None

    def dependents(self, component_id: str) -> list[Component]:
        """Components that depend directly on ``component_id``."""
        return [
            c
            for c in self.components.values()
            if any(d.target == component_id for d in c.depends_on)
        ]

    def carriers(self, component_id: str, site: str | None = None) -> list[Asset]:
        """Assets carrying a component, optionally only those at one site."""
        found = self._carriers.get(component_id, [])
        return [a for a in found if site is None or a.site == site]

    def hosts_for_service(
        self, component_id: str, site: str | None = None, *, limit: int = 50
    ) -> list[str]:
        """Concrete host names of the machines carrying a service or infrastructure component."""
        out: list[str] = []
        for asset in self.carriers(component_id, site):
            for host in asset.example_hosts(limit):
                if host not in out:
                    out.append(host)
        return out[:limit]

    def assets_at(self, site: str, zone: str | None = None) -> list[Asset]:
        return [
            a for a in self.assets.values() if a.site == site and (zone is None or a.zone == zone)
        ]

    def runbook_text(self, component_id: str) -> str | None:
        comp = self.component(component_id)
        if comp is None or comp.runbook is None:
            return None
        return comp.runbook.read_text(encoding="utf-8")

    def iter_sites(self) -> Iterator[Site]:
        return iter(self.sites.values())

    def similar_names(self, name: str, limit: int = 3) -> list[str]:
        """Host names, asset and component ids that look like ``name`` (a typo's suggestions)."""
        wanted = normalise_host(name.partition("@")[0])
        # Only names of about the same length can be close: the rest are not compared at all.
        candidates = {
            known
            for known in (*self._by_host, *self.assets, *self.services, *self.infrastructure)
            if abs(len(known) - len(wanted)) <= 3
        }
        return difflib.get_close_matches(wanted, sorted(candidates), n=limit, cutoff=0.75)

    # -- locating hosts and addresses ---------------------------------------------------------

    def locate_host(self, host: str) -> Asset | None:
        """The asset a host name (any case, FQDN accepted) or an IP address belongs to."""
        key = normalise_host(host)
        if not key:
            return None
        if key in self._lookups:
            return self._lookups[key]
        found: Asset | None
        if _looks_like_ip(key):
            found = self.locate_ip(key)
        else:
            found = self._by_host.get(key)
            if found is None:
                found = next((a for a in self._patterned if a.matches(key)), None)
        if len(self._lookups) < 100_000:  # bounded memo: detections repeat the same hosts
            self._lookups[key] = found
        return found

    def locate_ip(self, ip: str) -> Asset | None:
        """The asset whose IP range holds ``ip`` (the most specific range wins)."""
        try:
            address = ipaddress.ip_address(ip.strip())
        except ValueError:
            return None
        for net, asset in self._ranges:
            if address.version == net.version and address in net:
                return asset
        return None
