"""The impact engine: what an attack or a containment action does to each service, per site.

Every component instance gets two independent signals, each with the path that explains it:

* availability: operational (0), degraded (1) or down (2). A component is down when it is cut,
  when every machine carrying it is unavailable, or when a hard dependency is down; it is
  degraded when it or some of its machines are reported degraded (a flooded link), when some of
  its machines are unavailable, when a hard dependency is degraded, or when a soft dependency is
  degraded or down. Reaching a single-site component from another
  site is a hard dependency on both sites' WAN links.
* risk: a component is at risk when a machine carrying it is compromised, or when anything it
  depends on (hard or soft) is at risk, because an attacker there can reach or tamper with it.

The state shown is the worst of the two, ordered operational < at risk < degraded < down; a
degraded or down component that is also at risk keeps ``at_risk`` set. Both signals only ever go
up when more things are cut, unavailable or compromised, so the state is monotone in the inputs
(tested with Hypothesis). The graph is evaluated once, in dependency order, without recursion.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sentinelle.errors import ConfigError
from sentinelle.hospital.actions import ContainmentAction, parse_action, resolve_action
from sentinelle.hospital.graph import needed_sites, topological_order
from sentinelle.hospital.model import (
    Asset,
    Component,
    DependencyKind,
    HospitalModel,
    Placement,
    Service,
    normalise_host,
)
from sentinelle.hospital.report import (
    Cause,
    CauseKind,
    ImpactEntry,
    ImpactReport,
    ServiceState,
    Step,
)

OK, DEGRADED, DOWN = 0, 1, 2
# What an input does to the machine or component it names.
UNAVAILABLE, DEGRADED_EFFECT, COMPROMISED = "unavailable", "degraded", "compromised"
_REPORTED = {
    UNAVAILABLE: CauseKind.REPORTED_UNAVAILABLE,
    DEGRADED_EFFECT: CauseKind.REPORTED_DEGRADED,
    COMPROMISED: CauseKind.REPORTED_COMPROMISED,
}
_ASSET = {
    UNAVAILABLE: CauseKind.ASSET_UNAVAILABLE,
    DEGRADED_EFFECT: CauseKind.ASSET_DEGRADED,
    COMPROMISED: CauseKind.ASSET_COMPROMISED,
}


@dataclass(frozen=True, slots=True)
class _Why:
    """One signal's level and its explanation, as a linked chain: ``label`` is the first step
    of the path from this node to the root cause and ``rest`` the chain after it.

    Chains share their tails (a service's chain holds its failed dependency's own chain), so
    explaining every component of a chain of N dependencies costs N steps, not N squared.
    """

    level: int
    label: str = ""
    rest: _Why | None = None
    cause: Cause | None = None
    note: Cause | None = None  # where a soft dependency turned "down" into "degraded"
    length: int = 0  # steps in the path

    def via(self, label: str) -> _Why:
        return _Why(self.level, label, self, self.cause, self.note, self.length + 1)

    def retold(self, level: int, note: Cause | None) -> _Why:
        """The same path and cause at another level (a soft dependency's "down" as degraded)."""
        return _Why(level, self.label, self.rest, self.cause, note, self.length)


def _root(level: int, cause: Cause, *labels: str) -> _Why:
    """A chain ending at the root cause: ``labels`` from the component to the cause."""
    node: _Why | None = None
    for length, label in enumerate(reversed(labels), 1):
        node = _Why(level, label, node, cause, None, length)
    assert node is not None
    return node


_FINE = _Why(OK)


def _worse(current: _Why, candidate: _Why) -> _Why:
    # Higher level wins; among equals the shorter explanation, then the one seen first.
    if candidate.level > current.level:
        return candidate
    if candidate.level == current.level and 0 < candidate.length < current.length:
        return candidate
    return current


def _better(current: _Why | None, candidate: _Why) -> _Why:
    # For alternatives (replicas): the lowest level wins; among equals the one seen first.
    if current is None or candidate.level < current.level:
        return candidate
    return current


@dataclass(frozen=True, slots=True)
class _Signals:
    availability: _Why = _FINE
    risk: _Why = _FINE


@dataclass(slots=True)
class _AssetHit:
    """What the inputs did to one asset: "whole" causes name the asset, lists name hosts."""

    asset: Asset
    down_hosts: list[str] = field(default_factory=list)
    whole_down: Cause | None = None
    degraded_hosts: list[str] = field(default_factory=list)
    whole_degraded: Cause | None = None
    compromised: list[str] = field(default_factory=list)
    whole_compromised: Cause | None = None

    def hosts(self, effect: str) -> list[str]:
        if effect == UNAVAILABLE:
            return self.down_hosts
        return self.degraded_hosts if effect == DEGRADED_EFFECT else self.compromised

    def mark_whole(self, effect: str, cause: Cause) -> None:
        if effect == UNAVAILABLE:
            self.whole_down = self.whole_down or cause
        elif effect == DEGRADED_EFFECT:
            self.whole_degraded = self.whole_degraded or cause
        else:
            self.whole_compromised = self.whole_compromised or cause

    def availability(self) -> _Why:
        label = f"asset:{self.asset.id}"
        if self.whole_down:
            return _root(DOWN, self.whole_down, label)
        found = _FINE
        if self.down_hosts:
            host = self.down_hosts[0]
            cause = Cause.of(CauseKind.HOST_UNAVAILABLE, host=host)
            if len(self.down_hosts) > 1:
                named = ", ".join(self.down_hosts[:5])
                cause = Cause.of(
                    CauseKind.HOSTS_UNAVAILABLE, count=len(self.down_hosts), hosts=named
                )
            # A pattern or a count means machines we cannot name may still run: never assume
            # all of them are down.
            complete = not self.asset.patterns and len(self.down_hosts) >= self.asset.size
            found = _root(DOWN if complete else DEGRADED, cause, label, f"host:{host}")
        if self.whole_degraded:
            found = _worse(found, _root(DEGRADED, self.whole_degraded, label))
        elif self.degraded_hosts:
            host = self.degraded_hosts[0]
            cause = Cause.of(CauseKind.HOST_DEGRADED, host=host)
            found = _worse(found, _root(DEGRADED, cause, label, f"host:{host}"))
        return found

    def risk(self) -> _Why:
        label = f"asset:{self.asset.id}"
        if self.whole_compromised:
            return _root(1, self.whole_compromised, label)
        if self.compromised:
            host = self.compromised[0]
            cause = Cause.of(CauseKind.HOST_COMPROMISED, host=host)
            return _root(1, cause, label, f"host:{host}")
        return _FINE


class _Inputs:
    """The assessment's inputs, resolved against the model."""

    def __init__(self, model: HospitalModel) -> None:
        self.model = model
        self.hits: dict[str, _AssetHit] = {}
        # (component, site or None for every instance) -> (level, cause); the worst one is kept.
        self.stopped: dict[tuple[str, str | None], tuple[int, Cause]] = {}
        self.risky: dict[tuple[str, str | None], Cause] = {}  # components said compromised
        self.isolated: dict[str, Cause] = {}  # site -> cause
        self.unresolved: list[str] = []
        self.unknown: list[tuple[str, str]] = []  # (effect, name) of the names matching nothing
        self.named: dict[str, list[str]] = {UNAVAILABLE: [], DEGRADED_EFFECT: [], COMPROMISED: []}

    def hit(self, asset: Asset) -> _AssetHit:
        return self.hits.setdefault(asset.id, _AssetHit(asset))

    def stop(self, key: tuple[str, str | None], level: int, cause: Cause) -> None:
        if key not in self.stopped or self.stopped[key][0] < level:
            self.stopped[key] = (level, cause)

    def add_action(self, action: ContainmentAction) -> None:
        resolved = resolve_action(self.model, action)
        if action.isolates_site:
            assert resolved.site is not None
            cause = Cause.of(CauseKind.SITE_ISOLATED, action=action)
            self.isolated.setdefault(resolved.site, cause)
        elif resolved.component is not None:
            cause = Cause.of(CauseKind.CUT, action=action)
            self.stop((resolved.component.id, resolved.site), DOWN, cause)
        elif resolved.asset is not None:
            cause = Cause.of(CauseKind.STOPPED, action=action)
            self.hit(resolved.asset).mark_whole(UNAVAILABLE, cause)

    def add_names(
        self, unavailable: Iterable[str], degraded: Iterable[str], compromised: Iterable[str]
    ) -> None:
        for effect, names in (
            (UNAVAILABLE, unavailable),
            (DEGRADED_EFFECT, degraded),
            (COMPROMISED, compromised),
        ):
            for name in _items(names):
                self.add(name, effect)

    def add(self, name: str, effect: str) -> None:
        """A component (``id`` or ``id@site``), asset id, host name or IP address."""
        base, _, site = name.partition("@")
        comp = self.model.component(base)
        if comp is not None and (not site or comp.runs_at(site)):
            key = (comp.id, site or None)
            if effect == COMPROMISED:
                self.risky.setdefault(key, Cause.of(_REPORTED[effect]))
            else:
                level = DOWN if effect == UNAVAILABLE else DEGRADED
                self.stop(key, level, Cause.of(_REPORTED[effect]))
            self.named[effect].append(name)
            return
        asset = self.model.assets.get(name)
        if asset is not None:
            self.hit(asset).mark_whole(effect, Cause.of(_ASSET[effect], asset=asset.id))
            self.named[effect].append(name)
            return
        asset = self.model.locate_host(name)
        if asset is None:
            self.unresolved.append(f"{effect} {name!r}: matches no component, asset or host")
            self.unknown.append((effect, name))
            return
        hosts = self.hit(asset).hosts(effect)
        host = normalise_host(name)
        if host not in hosts:
            hosts.append(host)
        self.named[effect].append(name)


def assess(
    model: HospitalModel,
    *,
    compromised: Iterable[str] = (),
    unavailable: Iterable[str] = (),
    actions: Iterable[ContainmentAction | str] = (),
    degraded: Iterable[str] = (),
) -> ImpactReport:
    """The state of every service at every site where it is used, and of the infrastructure.

    ``compromised``: host names, IP addresses, asset ids or components (``id``, ``id@site``)
    an attacker controls or may control.
    ``unavailable``: host names, IPs, asset ids, component ids or ``component@site`` that are
    down (encrypted, powered off). ``degraded``: the same kinds of names, for what still works
    but badly (a link under a flood). ``actions``: containment actions, parsed from strings when
    needed. Names that match nothing are listed in ``ImpactReport.unresolved`` (detections
    often name machines the model does not know; names a person typed go through
    :func:`check_names` first). An action whose target is unknown raises ConfigError, because
    acting on a typo must not look harmless.
    """
    inputs = _Inputs(model)
    action_list = [parse_action(a) if isinstance(a, str) else a for a in _items(actions)]
    for action in action_list:
        inputs.add_action(action)
    inputs.add_names(unavailable, degraded, compromised)
    evaluator = _Evaluator(model, inputs)
    return evaluator.report([str(a) for a in action_list])


def compromise_key(model: HospitalModel, compromised: Iterable[str]) -> frozenset[tuple[Any, ...]]:
    """What the states in ``assess(model, compromised=...)`` depend on: the components and
    assets the names resolve to (whole, or by some of their hosts). Names that match nothing
    change no state (only the report's unresolved list), nor do which or how many hosts of
    one asset are named (they change the causes' wording): equal keys, equal states and risks.
    Costs lookups, not an assessment, for callers that remember assessments."""
    inputs = _Inputs(model)
    inputs.add_names((), (), compromised)
    key: set[tuple[Any, ...]] = {("component", *k) for k in inputs.risky}
    for asset_id, hit in inputs.hits.items():
        key.add(("asset", asset_id, hit.whole_compromised is not None, bool(hit.compromised)))
    return frozenset(key)


def check_names(
    model: HospitalModel,
    *,
    compromised: Iterable[str] = (),
    unavailable: Iterable[str] = (),
    degraded: Iterable[str] = (),
) -> None:
    """Raise ConfigError, with the close names the model has, when a name matches nothing.

    For names a person typed: a typo must not read as "every service is operational".
    """
    inputs = _Inputs(model)
    inputs.add_names(unavailable, degraded, compromised)
    if not inputs.unknown:
        return
    lines = []
    for effect, name in inputs.unknown:
        line = f"{effect} {name!r}: no host, asset or component of that name in the model"
        close = model.similar_names(name)
        if close:
            line += f" (did you mean {' or '.join(repr(c) for c in close)}?)"
        lines.append(line)
    if len(lines) == 1:
        raise ConfigError(lines[0])
    listed = "\n".join(f"  {line}" for line in lines)
    raise ConfigError(f"{len(lines)} names match nothing in the model:\n{listed}")


def _items(value: Iterable[Any]) -> list[Any]:
    # One name passed as a plain string means that name, not its characters.
    return [value] if isinstance(value, str) else list(value)


class _Evaluator:
    def __init__(self, model: HospitalModel, inputs: _Inputs) -> None:
        self.model = model
        self.inputs = inputs
        self.components = model.components
        order = topological_order(self.components)
        if order is None:
            raise ConfigError("the model has a dependency cycle; run `sentinelle model check`")
        self.order = order
        self.needed = needed_sites(self.components, order)
        self.site_order = {s: i for i, s in enumerate(model.sites)}
        # Runbooks are reported relative to the model's folder (resolved once: it costs syscalls).
        self.model_dir = model.source.parent.resolve() if model.source is not None else None
        self.runbooks: dict[str, str | None] = {}
        self.steps: dict[int, tuple[_Why, Step]] = {}  # chain node -> its report step
        self.wans: dict[str, _Why] = {}
        # Instance signals: (component, instance site) -> signals; external components have one
        # "instance" per site that uses them.
        self.instances: dict[tuple[str, str], _Signals] = {}
        self.views: dict[tuple[str, str], _Signals] = {}
        for cid in order:
            comp = self.components[cid]
            for site in self._instance_sites(comp):
                self.instances[(cid, site)] = self._instance(comp, site)

    def _instance_sites(self, comp: Component) -> list[str]:
        if comp.placement is Placement.EXTERNAL:
            return list(self.model.sites)  # cheap, and lets a report show it at any site
        return list(comp.sites)

    @staticmethod
    def _label(comp: Component, site: str) -> str:
        if comp.placement in (Placement.LOCAL, Placement.REPLICATED):
            return f"{comp.id}@{site}"
        return comp.id

    def _wan(self, site: str) -> _Why:
        found = self.wans.get(site)
        if found is None:
            # One chain per link, so that every path through it shares its step.
            cause = self.inputs.isolated.get(site)
            found = self.wans[site] = _root(DOWN, cause, f"wan:{site}") if cause else _FINE
        return found

    def _carriers(self, comp: Component, site: str) -> list[Asset]:
        if comp.placement in (Placement.LOCAL, Placement.REPLICATED):
            return self.model.carriers(comp.id, site)
        return self.model.carriers(comp.id)

    def _instance(self, comp: Component, site: str) -> _Signals:
        label = self._label(comp, site)
        avail = _FINE
        risk = _FINE
        # A cut of the whole component names it plainly; a cut of one instance names the site.
        for key, where in (((comp.id, None), comp.id), ((comp.id, site), label)):
            stopped = self.inputs.stopped.get(key)
            if stopped is not None:
                avail = _worse(avail, _root(stopped[0], stopped[1], where))
            risky = self.inputs.risky.get(key)
            if risky is not None:
                risk = _worse(risk, _root(1, risky, where))
        carriers = self._carriers(comp, site)
        if carriers:
            states = []
            for asset in carriers:
                hit = self.inputs.hits.get(asset.id)
                states.append(hit.availability() if hit else _FINE)
                if hit:
                    risk = _worse(risk, hit.risk().via(label))
            if all(s.level == DOWN for s in states):
                avail = _worse(avail, states[0].via(label))
            else:
                for s in states:
                    if s.level:
                        avail = _worse(avail, s.retold(DEGRADED, None).via(label))
        for dep in comp.depends_on:
            seen = self.view(dep.target, site)
            dep_avail = seen.availability
            if dep.kind is DependencyKind.SOFT and dep_avail.level == DOWN:
                note = Cause.of(CauseKind.SOFT_DEPENDENCY, component=comp.id, dependency=dep.target)
                dep_avail = dep_avail.retold(DEGRADED, note)
            avail = _worse(avail, dep_avail.via(label))
            risk = _worse(risk, seen.risk.via(label))
        return _Signals(avail, risk)

    def view(self, cid: str, site: str) -> _Signals:
        """A component as users (or dependents) at ``site`` see it."""
        key = (cid, site)
        found = self.views.get(key)
        if found is not None:
            return found
        comp = self.components[cid]
        if comp.placement is Placement.EXTERNAL:
            result = self.instances[(cid, site)]
        elif comp.placement is Placement.LOCAL:
            inst = self.instances.get((cid, site))
            if inst is None:  # the loader refuses such models; kept for models built in code
                cause = Cause.of(CauseKind.NO_INSTANCE, component=cid, site=site)
                result = _Signals(_root(DOWN, cause, cid))
            else:
                result = inst
        else:
            result = self._remote_view(comp, site)
        self.views[key] = result
        return result

    def _remote_view(self, comp: Component, site: str) -> _Signals:
        # The best instance a site can reach: its own first (no WAN needed), then the others in
        # site order. Risk is the worst over replicas: they share data and credentials.
        best: _Why | None = None
        risk = _FINE
        candidates = sorted(comp.sites, key=lambda s: (s != site, self.site_order.get(s, 0)))
        for inst_site in candidates:
            inst = self.instances[(comp.id, inst_site)]
            avail = inst.availability
            if inst_site != site:
                for wan_site in (site, inst_site):
                    wan = self._wan(wan_site)
                    avail = _worse(avail, wan.via(self._label(comp, inst_site)))
            best = _better(best, avail)
            risk = _worse(risk, inst.risk)
        assert best is not None  # a placed component has at least one site
        return _Signals(best, risk)

    # -- the report ---------------------------------------------------------------------------

    def report(self, actions: list[str]) -> ImpactReport:
        entries: list[ImpactEntry] = []
        for service in self.model.services.values():
            for site in sorted(service.used_at, key=self.site_order.__getitem__):
                entries.append(self._entry(service, site))
        infra: list[ImpactEntry] = []
        for comp in self.model.infrastructure.values():
            sites = self.needed[comp.id] | set(comp.sites)
            if not sites:
                sites = set(self.model.sites) if comp.placement is Placement.EXTERNAL else sites
            for site in sorted(sites, key=self.site_order.__getitem__):
                infra.append(self._entry(comp, site))
        inputs = self.inputs
        return ImpactReport(
            hospital=self.model.name,
            actions=actions,
            compromised=list(inputs.named[COMPROMISED]),
            unavailable=list(inputs.named[UNAVAILABLE]),
            degraded=list(inputs.named[DEGRADED_EFFECT]),
            unresolved=list(inputs.unresolved),
            entries=entries,
            infrastructure=infra,
        )

    def _via(self, cid: str, site: str, why: _Why) -> Step | None:
        """What a component depends on that failed, as report steps: the chain after the
        component itself (a chain starting at one of its instances starts after it)."""
        if not why.length:
            return None
        first: _Why | None = why
        if why.label in (cid, f"{cid}@{site}"):
            first = why.rest
        return self._step(first)

    def _step(self, why: _Why | None) -> Step | None:
        """The report's step for a chain node; chains that share a tail share its steps."""
        pending: list[_Why] = []
        node = why
        while node is not None and node.length and id(node) not in self.steps:
            pending.append(node)
            node = node.rest
        after = self.steps[id(node)][1] if node is not None and node.length else None
        for item in reversed(pending):
            after = Step(item.label, after)
            self.steps[id(item)] = (item, after)  # the node is kept so that its id stays its own
        return after

    def _runbook(self, comp: Component) -> str | None:
        if comp.id not in self.runbooks:
            self.runbooks[comp.id] = _runbook_text_path(comp, self.model_dir)
        return self.runbooks[comp.id]

    def _entry(self, comp: Component, site: str) -> ImpactEntry:
        seen = self.view(comp.id, site)
        avail, risk = seen.availability, seen.risk
        if avail.level == DOWN:
            state = ServiceState.DOWN
        elif avail.level == DEGRADED:
            state = ServiceState.DEGRADED
        elif risk.level:
            state = ServiceState.AT_RISK
        else:
            state = ServiceState.OPERATIONAL
        main = avail if avail.level else risk
        runbook = self._runbook(comp)
        return ImpactEntry(
            site=site,
            component=comp.id,
            name=comp.name,
            kind="service" if isinstance(comp, Service) else "infrastructure",
            criticality=comp.criticality.value if isinstance(comp, Service) else None,
            state=state,
            via=self._via(comp.id, site, main),
            root_cause=main.cause,
            propagation=main.note,
            at_risk=bool(risk.level),
            risk_via=self._via(comp.id, site, risk),
            risk_root_cause=risk.cause,
            runbook=runbook,
            rto_seconds=comp.rto_seconds,
            owner=comp.owner,
            on_call=comp.on_call,
        )


def _runbook_text_path(comp: Component, model_dir: Path | None) -> str | None:
    """The runbook as reports show it: relative to the model's folder when inside it."""
    if comp.runbook is None:
        return None
    if model_dir is not None and comp.runbook.is_relative_to(model_dir):
        return str(comp.runbook.relative_to(model_dir))
    return str(comp.runbook)
