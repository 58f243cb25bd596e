"""Loading and validating a hospital model file.

Every problem is collected with its ``file:line`` and all of them are reported together in one
:class:`ModelError`, so a person fixing a model sees every mistake at once. The schema is
described in ``docs/HOSPITAL.md``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Container
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sentinelle.errors import ConfigError, Location
from sentinelle.gcpause import collector_paused
from sentinelle.hospital.checks import check_graph, check_roles
from sentinelle.hospital.model import (
    ZONE_KINDS,
    Asset,
    Component,
    Criticality,
    Dependency,
    DependencyKind,
    HospitalModel,
    Infrastructure,
    IPNetwork,
    Placement,
    Service,
    Site,
    Zone,
)
from sentinelle.hospital.probes import WAN, ProbeOwner, ProbeParser
from sentinelle.hospital.yamltree import Reader, compose_file

MAX_SITES = 500
MAX_ZONES = 100
MAX_COMPONENTS = 5_000
MAX_ASSETS = 20_000
MAX_HOSTS_PER_ASSET = 20_000
MAX_DEPENDENCIES = 200
MAX_RUNBOOK_BYTES = 256 * 1024

INFRA_CATEGORIES = (
    "network",
    "wan",
    "security",
    "identity",
    "naming",
    "mail",
    "compute",
    "storage",
    "telephony",
    "provider",
    "other",
)

_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62})$")
_HOST = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62})$")
_PATTERN = re.compile(r"^[a-z0-9_#?*-]{1,63}$")
_DURATION = re.compile(r"^(?:(\d{1,4})d)?\s*(?:(\d{1,5})h)?\s*(?:(\d{1,6})m(?:in)?)?$")


class ModelError(ConfigError):
    """A hospital model has one or more problems; ``problems`` lists every one, located."""

    def __init__(self, source: str, problems: list[ConfigError]) -> None:
        self.problems = sorted(problems, key=_problem_order)
        if len(self.problems) == 1:
            only = self.problems[0]
            super().__init__(only.message, only.location)
            return
        lines = "\n".join(f"  {p}" for p in self.problems)
        count = len(self.problems)
        super().__init__(f"{count} problems in the hospital model:\n{lines}", Location(source))


def _problem_order(problem: ConfigError) -> tuple[int, str]:
    loc = problem.location
    return (loc.line if loc is not None and loc.line is not None else 0, problem.message)


def load_model(path: str | Path) -> HospitalModel:
    """Load and validate a hospital model; raises :class:`ModelError` listing every problem."""
    path = Path(path)
    # A 4 MiB model is half a million nodes that all live until the model is built: the cyclic
    # collector would walk them again and again as they are made (two thirds of the time).
    # Nothing made here holds a cycle.
    with collector_paused():
        document = compose_file(path)
        reader = Reader(str(path))
        if document.root is None:
            reader.problem(None, "the file is empty")
            raise ModelError(str(path), reader.problems)
        reader.check_tags(document)
        model = _Builder(reader, path).build(document.root)
    if reader.problems or model is None:
        raise ModelError(str(path), reader.problems)
    return model


def parse_duration(text: str) -> int | None:
    """Seconds in ``"4h"``, ``"30m"``, ``"1d"``, ``"2h30m"``; None if not a duration."""
    match = _DURATION.match(text.strip().lower())
    if match is None or not any(match.groups()):
        return None
    days, hours, minutes = (int(g) if g else 0 for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60


@dataclass(frozen=True, slots=True)
class _Either:
    """Membership in either of two mappings (what ``set(a) | set(b)`` answered, by copying)."""

    first: Container[str]
    second: Container[str]

    def __contains__(self, key: object) -> bool:
        return key in self.first or key in self.second


@dataclass
class _Builder:
    reader: Reader
    path: Path
    sites: dict[str, Site] = field(default_factory=dict)
    zones: dict[str, Zone] = field(default_factory=dict)
    components: dict[str, Component] = field(default_factory=dict)
    assets: dict[str, Asset] = field(default_factory=dict)
    nodes: dict[str, yaml.Node] = field(default_factory=dict)  # where each id was declared
    # Checks that need every id first: (kind of reference, value, node where it was written).
    site_refs: list[tuple[str, yaml.Node]] = field(default_factory=list)
    probes: ProbeParser | None = None

    @property
    def _taken(self) -> Container[str]:
        """Ids of components and assets so far (they share one namespace), without a copy."""
        return _Either(self.components, self.assets)

    def build(self, root: yaml.Node) -> HospitalModel | None:
        r = self.reader
        self.probes = ProbeParser(r)
        top = r.fields(
            root,
            "the model",
            ("hospital", "sites", "zones", "services"),
            ("infrastructure", "assets"),
        )
        if top is None:
            return None
        name, staff, domain = self._hospital(top.get("hospital"))
        for section, parse in (("sites", self._sites), ("zones", self._zones)):
            if section in top:
                parse(top[section])
                node = top[section]
                if isinstance(node, yaml.SequenceNode) and not node.value:
                    r.problem(node, f"the model declares no {section[:-1]}")
        raw_services = self._items(top.get("services"), "services", MAX_COMPONENTS)
        raw_infra = self._items(top.get("infrastructure"), "infrastructure", MAX_COMPONENTS)
        for node in raw_services:
            self._component(node, is_service=True)
        for node in raw_infra:
            self._component(node, is_service=False)
        if len(self.components) > MAX_COMPONENTS:
            r.problem(root, f"more than {MAX_COMPONENTS} services and infrastructure components")
        for node in self._items(top.get("assets"), "assets", MAX_ASSETS):
            self._asset(node)
        self.site_refs.extend(self.probes.site_refs)
        self._check_references()
        self.reader.problems.extend(check_roles(self.components))
        self.reader.problems.extend(check_graph(self.components, list(self.sites)))
        self._check_hosts()
        services = {k: v for k, v in self.components.items() if isinstance(v, Service)}
        infra = {k: v for k, v in self.components.items() if isinstance(v, Infrastructure)}
        return HospitalModel(
            name=name or "",
            staff=staff or 0,
            domain=domain,
            source=self.path,
            sites=self.sites,
            zones=self.zones,
            services=services,
            infrastructure=infra,
            assets=self.assets,
            probes=self.probes.probes,
        )

    # -- sections -----------------------------------------------------------------------------

    def _hospital(self, node: yaml.Node | None) -> tuple[str | None, int | None, str]:
        if node is None:
            return None, None, ""
        r = self.reader
        f = r.fields(node, "hospital", ("name",), ("staff", "domain", "description", "towns"))
        if f is None:
            return None, None, ""
        name = r.string(f["name"], "hospital name") if "name" in f else None
        staff = r.integer(f["staff"], "hospital staff") if "staff" in f else None
        domain = ""
        if "domain" in f:
            domain = (r.string(f["domain"], "hospital domain") or "").lower()
        if "towns" in f:
            r.strings(f["towns"], "hospital towns")
        if "description" in f:
            r.string(f["description"], "hospital description", max_len=20_000)
        return name, staff, domain

    def _text(self, f: dict[str, yaml.Node], key: str) -> str:
        """An optional free-text field ("" when absent or invalid, the latter recorded)."""
        if key not in f:
            return ""
        return self.reader.string(f[key], key, max_len=20_000) or ""

    def _items(self, node: yaml.Node | None, what: str, limit: int) -> list[yaml.Node]:
        if node is None:
            return []
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
            return []
        items = self.reader.sequence(node, what)
        if items is None:
            return []
        if len(items) > limit:
            self.reader.problem(node, f"{what}: more than {limit} entries")
            return items[:limit]
        return items

    def _new_id(
        self, node: yaml.Node, value: yaml.Node | None, what: str, taken: Container[str]
    ) -> str:
        r = self.reader
        if value is None:
            return ""
        ident = r.string(value, f"{what} id")
        if ident is None:
            return ""
        if not _ID.match(ident):
            r.problem(value, f"{what} id {ident!r}: use lower-case letters, digits and '-'")
            return ""
        if ident in taken:
            first = self.nodes.get(f"{what}:{ident}") or self.nodes.get(f"id:{ident}")
            where = f" (first at line {r.at(first).line})" if first is not None else ""
            r.problem(value, f"duplicate {what} id {ident!r}{where}")
            return ""
        self.nodes[f"{what}:{ident}"] = node
        return ident

    def _sites(self, node: yaml.Node) -> None:
        r = self.reader
        for item in self._items(node, "sites", MAX_SITES):
            f = r.fields(item, "a site", ("id", "name", "town"), ("staff", "description", "probes"))
            if f is None:
                continue
            ident = self._new_id(item, f.get("id"), "site", self.sites.keys())
            name = r.string(f["name"], "site name") if "name" in f else None
            town = r.string(f["town"], "site town") if "town" in f else None
            staff = r.integer(f["staff"], "site staff") if "staff" in f else 0
            desc = self._text(f, "description")
            if ident:  # placeholders for bad fields (already reported) avoid cascading errors
                site = Site(ident, name or ident, town or "", staff or 0, desc, r.at(item))
                self.sites[ident] = site
                if "probes" in f and self.probes is not None:
                    self.probes.parse(f["probes"], ProbeOwner(WAN, (ident,), site_probe=True))

    def _zones(self, node: yaml.Node) -> None:
        r = self.reader
        for item in self._items(node, "zones", MAX_ZONES):
            f = r.fields(item, "a zone", ("id", "name", "kind"), ("description",))
            if f is None:
                continue
            ident = self._new_id(item, f.get("id"), "zone", self.zones.keys())
            name = r.string(f["name"], "zone name") if "name" in f else None
            kind = r.string(f["kind"], "zone kind") if "kind" in f else None
            if kind is not None and kind not in ZONE_KINDS:
                r.problem(f["kind"], f"unknown zone kind {kind!r} (known: {', '.join(ZONE_KINDS)})")
                kind = None
            desc = self._text(f, "description")
            if ident:  # placeholders for bad fields (already reported) avoid cascading errors
                self.zones[ident] = Zone(ident, name or ident, kind or "other", desc, r.at(item))

    def _component(self, item: yaml.Node, *, is_service: bool) -> None:
        r = self.reader
        what = "a service" if is_service else "an infrastructure component"
        common = (
            "site", "sites", "replicated", "external", "depends_on", "role", "description",
            "probes",
        )  # fmt: skip
        if is_service:
            required: tuple[str, ...] = ("id", "name", "criticality", "owner", "on_call", "rto")
            optional: tuple[str, ...] = (*common, "runbook", "used_at")
        else:
            required = ("id", "name")
            optional = (*common, "category", "owner", "on_call", "rto", "runbook")
        f = r.fields(item, what, required, optional)
        if f is None:
            return
        ident = self._new_id(item, f.get("id"), "component", self._taken)
        if ident:
            self.nodes[f"id:{ident}"] = item
        name = r.string(f["name"], "name") if "name" in f else None
        placement, sites = self._placement(item, f, what)
        deps = self._dependencies(f.get("depends_on"), ident)
        role = r.string(f["role"], "role") if "role" in f else None
        owner = r.string(f["owner"], "owner") if "owner" in f else ""
        on_call = r.string(f["on_call"], "on_call") if "on_call" in f else ""
        rto: int | None = None
        if "rto" in f:
            text = r.string(f["rto"], "rto")
            rto = parse_duration(text) if text else None
            if text and rto is None:
                r.problem(f["rto"], f"rto {text!r} is not a duration such as 4h, 30m, 1d, 2h30m")
        runbook = self._runbook(f["runbook"]) if "runbook" in f else None
        desc = self._text(f, "description")
        if not ident:
            return
        # Placeholders for fields already reported, so that one mistake does not also show up
        # as "unknown component" wherever the component is named.
        name = name or ident
        if placement is None:
            placement, sites = Placement.EXTERNAL, ()
        loc = r.at(item)
        if "probes" in f and self.probes is not None:
            self.probes.parse(f["probes"], ProbeOwner(ident, sites))
        if is_service:
            crit = self._criticality(f.get("criticality"))
            if crit in (Criticality.VITAL, Criticality.MAJOR) and "runbook" not in f:
                r.problem(
                    item, f"{crit} service {ident!r} has no runbook (degraded-mode procedure)"
                )
            used_at = self._used_at(f.get("used_at"), placement, sites)
            self.components[ident] = Service(
                ident, name, placement, sites, deps, role, owner or "", on_call or "", rto,
                runbook, desc or "", loc, crit or Criticality.MINOR, used_at,
            )  # fmt: skip
        else:
            category = "other"
            if "category" in f:
                category = r.string(f["category"], "category") or "other"
                if category not in INFRA_CATEGORIES:
                    known = ", ".join(INFRA_CATEGORIES)
                    r.problem(f["category"], f"unknown category {category!r} (known: {known})")
            self.components[ident] = Infrastructure(
                ident, name, placement, sites, deps, role, owner or "", on_call or "", rto,
                runbook, desc or "", loc, category,
            )  # fmt: skip

    def _criticality(self, node: yaml.Node | None) -> Criticality | None:
        if node is None:
            return None
        text = self.reader.string(node, "criticality")
        if text is None:
            return None
        try:
            return Criticality(text.lower())
        except ValueError:
            self.reader.problem(node, f"criticality {text!r}: use vital, major or minor")
            return None

    def _placement(
        self, item: yaml.Node, f: dict[str, yaml.Node], what: str
    ) -> tuple[Placement | None, tuple[str, ...]]:
        r = self.reader
        given = [k for k in ("site", "sites", "external") if k in f]
        if len(given) != 1:
            r.problem(item, f"{what} needs exactly one of 'site', 'sites' or 'external: true'")
            return None, ()
        replicated = r.boolean(f["replicated"], "replicated") if "replicated" in f else False
        if given == ["external"]:
            if r.boolean(f["external"], "external") is not True:
                r.problem(f["external"], "'external' can only be true (or use 'site'/'sites')")
                return None, ()
            if "replicated" in f:
                r.problem(f["replicated"], "'replicated' goes with 'sites', not 'external'")
            return Placement.EXTERNAL, ()
        if given == ["site"]:
            if "replicated" in f:
                r.problem(f["replicated"], "'replicated' goes with 'sites', not 'site'")
            site = r.string(f["site"], "site")
            if site is None:
                return None, ()
            self.site_refs.append((site, f["site"]))
            return Placement.SITE, (site,)
        sites = self._site_list(f["sites"], "sites")
        if sites is None:
            return None, ()
        return (Placement.REPLICATED if replicated else Placement.LOCAL), sites

    def _site_list(self, node: yaml.Node, what: str) -> tuple[str, ...] | None:
        """A list of site ids, or the word ``all`` (every site, in file order)."""
        if isinstance(node, yaml.ScalarNode) and node.value == "all":
            return tuple(self.sites)
        names = self.reader.strings(node, what)
        if not names:
            if isinstance(node, yaml.SequenceNode):
                self.reader.problem(node, f"{what} is empty")
            return None
        seen: dict[str, None] = {}  # in file order
        for site, where in names:
            self.site_refs.append((site, where))
            if site in seen:
                self.reader.problem(where, f"site {site!r} is listed twice in {what}")
            else:
                seen[site] = None
        return tuple(seen)

    def _used_at(
        self, node: yaml.Node | None, placement: Placement | None, sites: tuple[str, ...]
    ) -> tuple[str, ...]:
        if node is None:
            return sites if placement is Placement.LOCAL else tuple(self.sites)
        listed = self._site_list(node, "used_at") or ()
        if placement is Placement.LOCAL:
            for site in listed:
                if site not in sites:
                    self.reader.problem(
                        node, f"used_at names {site!r}, where this local service has no instance"
                    )
        return listed

    def _dependencies(self, node: yaml.Node | None, owner: str) -> tuple[Dependency, ...]:
        if node is None:
            return ()
        r = self.reader
        items = self._items(node, "depends_on", MAX_DEPENDENCIES)
        out: list[Dependency] = []
        listed: set[str] = set()
        for item in items:
            if isinstance(item, yaml.MappingNode):
                f = r.fields(item, "a dependency", ("target",), ("kind", "note"))
                if f is None or "target" not in f:
                    continue
                target = r.string(f["target"], "dependency target")
                kind = DependencyKind.HARD
                if "kind" in f:
                    text = r.string(f["kind"], "dependency kind")
                    try:
                        kind = DependencyKind(text or "")
                    except ValueError:
                        r.problem(f["kind"], f"dependency kind {text!r}: use hard or soft")
                note = r.string(f["note"], "note", max_len=2000) if "note" in f else ""
            else:
                target = r.string(item, "dependency")
                note = ""
                kind = DependencyKind.HARD
            if target is None:
                continue
            if target == owner:
                r.problem(item, f"dependency cycle: {owner} -> {owner}")
                continue
            if target in listed:
                r.problem(item, f"{target!r} is listed twice in depends_on")
                continue
            listed.add(target)
            out.append(Dependency(target, kind, note or "", r.at(item)))
        return tuple(out)

    def _runbook(self, node: yaml.Node) -> Path | None:
        r = self.reader
        text = r.string(node, "runbook")
        if text is None:
            return None
        rel = Path(text)
        if rel.is_absolute() or ".." in rel.parts or rel.suffix.lower() != ".md":
            r.problem(node, f"runbook {text!r}: give a .md path relative to the model file")
            return None
        base = self.path.parent.resolve()
        full = (base / rel).resolve()
        if not full.is_relative_to(base):
            r.problem(node, f"runbook {text!r} points outside the model's folder")
            return None
        try:
            size = full.stat().st_size
            if size > MAX_RUNBOOK_BYTES:
                r.problem(node, f"runbook {text!r} is larger than {MAX_RUNBOOK_BYTES} bytes")
                return None
            content = full.read_text(encoding="utf-8")
        except FileNotFoundError:
            r.problem(node, f"runbook {text!r} not found (looked in {base})")
            return None
        except (OSError, UnicodeDecodeError) as exc:
            r.problem(node, f"runbook {text!r} cannot be read: {exc}")
            return None
        if not content.lstrip().startswith("# "):
            r.problem(node, f"runbook {text!r} must start with a Markdown title ('# ...')")
            return None
        return full

    def _asset(self, item: yaml.Node) -> None:
        r = self.reader
        f = r.fields(
            item,
            "an asset",
            ("id", "site", "zone"),
            ("name", "hosts", "patterns", "ip_ranges", "carries", "count", "description"),
        )
        if f is None:
            return
        ident = self._new_id(item, f.get("id"), "asset", self._taken)
        name = r.string(f["name"], "asset name") if "name" in f else ident
        site = r.string(f["site"], "asset site") if "site" in f else None
        if site is not None and "site" in f:
            self.site_refs.append((site, f["site"]))
        zone = r.string(f["zone"], "asset zone") if "zone" in f else None
        if zone is not None and zone not in self.zones:
            r.problem(f["zone"], f"unknown zone {zone!r}")
        hosts = self._hosts(f.get("hosts"), ident)
        patterns = self._patterns(f.get("patterns"))
        ranges = self._ranges(f.get("ip_ranges"), ident)
        carries: dict[str, None] = {}  # in file order
        for target, where in r.strings(f["carries"], "carries") if "carries" in f else []:
            if target in carries:
                r.problem(where, f"{target!r} is listed twice in carries")
            else:
                carries[target] = None
                self.nodes[f"carries:{ident}:{target}"] = where
        count = r.integer(f["count"], "count", minimum=1) if "count" in f else None
        if count is not None and count < len(hosts):
            r.problem(f["count"], f"count {count} is less than the {len(hosts)} hosts listed")
        if not hosts and not patterns and not ranges:
            r.problem(item, "an asset needs at least one of hosts, patterns or ip_ranges")
        desc = self._text(f, "description")
        if ident and site and zone:
            self.assets[ident] = Asset(
                ident, name or ident, site, zone, tuple(hosts), tuple(patterns), tuple(ranges),
                tuple(carries), count, desc or "", r.at(item),
            )  # fmt: skip

    def _hosts(self, node: yaml.Node | None, asset: str) -> list[str]:
        if node is None:
            return []
        items = self._items(node, "hosts", MAX_HOSTS_PER_ASSET)
        out: dict[str, None] = {}  # in file order
        for item in items:
            text = self.reader.string(item, "host name")
            if text is None:
                continue
            host = text.lower()
            if not _HOST.match(host):
                self.reader.problem(item, f"host name {text!r}: write it without domain or spaces")
            elif host in out:
                self.reader.problem(item, f"host {text!r} is listed twice")
            else:
                out[host] = None
                self.nodes[f"host:{asset}:{host}"] = item
        return list(out)

    def _patterns(self, node: yaml.Node | None) -> list[str]:
        out: list[str] = []
        for text, where in self.reader.strings(node, "patterns") if node is not None else []:
            pattern = text.lower()
            if not _PATTERN.match(pattern):
                self.reader.problem(where, f"host pattern {text!r}: letters, digits, -, _, #, ?, *")
            elif not any(ch.isalnum() for ch in pattern):
                self.reader.problem(where, f"host pattern {text!r} would match every host")
            elif pattern.count("*") > 4:
                self.reader.problem(where, f"host pattern {text!r} has more than 4 '*'")
            else:
                out.append(pattern)
        return out

    def _ranges(self, node: yaml.Node | None, asset: str) -> list[IPNetwork]:
        out: list[IPNetwork] = []
        for text, where in self.reader.strings(node, "ip_ranges") if node is not None else []:
            try:
                net = ipaddress.ip_network(text, strict=True)
            except ValueError as exc:
                self.reader.problem(where, f"IP range {text!r}: {exc}")
                continue
            out.append(net)
            self.nodes[f"range:{asset}:{net}"] = where
        return out

    # -- checks across the whole file ---------------------------------------------------------

    def _check_references(self) -> None:
        r = self.reader
        for site, where in self.site_refs:
            if site not in self.sites:
                r.problem(where, f"unknown site {site!r}")
        for comp in self.components.values():
            for dep in comp.depends_on:
                if dep.target not in self.components:
                    kind = "service or infrastructure component"
                    self.reader.problems.append(
                        ConfigError(
                            f"{comp.id} depends on unknown {kind} {dep.target!r}", dep.location
                        )
                    )
        for asset in self.assets.values():
            for target in asset.carries:
                where = self.nodes[f"carries:{asset.id}:{target}"]
                carried = self.components.get(target)
                if carried is None:
                    r.problem(where, f"asset {asset.id} carries unknown service {target!r}")
                elif carried.placement in (Placement.LOCAL, Placement.REPLICATED) and (
                    asset.site not in carried.sites
                ):
                    r.problem(
                        where,
                        f"asset {asset.id} at site {asset.site!r} carries {target!r},"
                        f" which has no instance there (sites: {', '.join(carried.sites)})",
                    )

    def _check_hosts(self) -> None:
        r = self.reader
        owner: dict[str, str] = {}
        ranges: dict[IPNetwork, str] = {}
        for asset in self.assets.values():
            for host in asset.hosts:
                if host in owner:
                    r.problem(
                        self.nodes[f"host:{asset.id}:{host}"],
                        f"host {host!r} belongs to both {owner[host]} and {asset.id}",
                    )
                else:
                    owner[host] = asset.id
            for net in asset.ip_ranges:
                if net in ranges:
                    r.problem(
                        self.nodes[f"range:{asset.id}:{net}"],
                        f"IP range {net} is given to both {ranges[net]} and {asset.id}",
                    )
                else:
                    ranges[net] = asset.id
