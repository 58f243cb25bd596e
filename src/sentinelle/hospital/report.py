"""What the impact engine answers: the state of each component at each site, and why.

Kept apart from the engine so that outputs (tables, JSON, the HTML report) depend only on these
plain records, never on how the engine computes them.

The "why" is data, not prose: a :class:`Cause` is a kind and its arguments (a host, an action),
and :meth:`ImpactEntry.explanation` gives an entry's whole reason as plain data. The engine's
own words (``cause``, ``reason``: the command line's, the JSON's) are English made from that
data here; the web app words the same data in its reader's language (``sentinelle.web.reasons``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class CauseKind(StrEnum):
    """What made a component fail (its arguments in brackets)."""

    HOST_UNAVAILABLE = "host-unavailable"  # host
    HOSTS_UNAVAILABLE = "hosts-unavailable"  # count, hosts (the first five, comma-separated)
    HOST_DEGRADED = "host-degraded"  # host
    HOST_COMPROMISED = "host-compromised"  # host
    ASSET_UNAVAILABLE = "asset-unavailable"  # asset
    ASSET_DEGRADED = "asset-degraded"  # asset
    ASSET_COMPROMISED = "asset-compromised"  # asset
    REPORTED_UNAVAILABLE = "reported-unavailable"  # a component named as an input
    REPORTED_DEGRADED = "reported-degraded"
    REPORTED_COMPROMISED = "reported-compromised"
    SITE_ISOLATED = "site-isolated"  # action
    CUT = "cut"  # action
    STOPPED = "stopped"  # action
    NO_INSTANCE = "no-instance"  # component, site
    # A note rather than a cause: how a failure propagated.
    SOFT_DEPENDENCY = "soft-dependency"  # component, dependency


CAUSE_TEXT: dict[CauseKind, str] = {
    CauseKind.HOST_UNAVAILABLE: "host {host} unavailable",
    CauseKind.HOSTS_UNAVAILABLE: "{count} hosts unavailable ({hosts})",
    CauseKind.HOST_DEGRADED: "host {host} degraded",
    CauseKind.HOST_COMPROMISED: "host {host} compromised",
    CauseKind.ASSET_UNAVAILABLE: "asset {asset} unavailable",
    CauseKind.ASSET_DEGRADED: "asset {asset} degraded",
    CauseKind.ASSET_COMPROMISED: "asset {asset} compromised",
    CauseKind.REPORTED_UNAVAILABLE: "reported unavailable",
    CauseKind.REPORTED_DEGRADED: "reported degraded",
    CauseKind.REPORTED_COMPROMISED: "reported compromised",
    CauseKind.SITE_ISOLATED: "site isolated by containment action {action}",
    CauseKind.CUT: "cut by containment action {action}",
    CauseKind.STOPPED: "stopped by containment action {action}",
    CauseKind.NO_INSTANCE: "no instance of {component} at site {site}",
    CauseKind.SOFT_DEPENDENCY: "{component} works without {dependency} (soft dependency)",
}


@dataclass(frozen=True, slots=True)
class Cause:
    """A cause as data: its kind and its arguments (names from the model and the inputs)."""

    kind: CauseKind
    args: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, kind: CauseKind, **args: object) -> Cause:
        return cls(kind, tuple(sorted((k, str(v)) for k, v in args.items())))

    @property
    def text(self) -> str:
        """In English, as the command line and the JSON report say it."""
        return CAUSE_TEXT[self.kind].format(**dict(self.args))

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind.value, **dict(self.args)}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Cause:
        return cls.of(CauseKind(data["kind"]), **{k: v for k, v in data.items() if k != "kind"})


def _text(cause: Cause | None) -> str:
    return cause.text if cause is not None else ""


class ServiceState(StrEnum):
    OPERATIONAL = "operational"
    AT_RISK = "at-risk"
    DEGRADED = "degraded"
    DOWN = "down"

    @property
    def rank(self) -> int:
        return _STATE_RANK[self]

    @property
    def label(self) -> str:
        return self.value.replace("-", " ")


_STATE_RANK = {
    ServiceState.OPERATIONAL: 0,
    ServiceState.AT_RISK: 1,
    ServiceState.DEGRADED: 2,
    ServiceState.DOWN: 3,
}


@dataclass(frozen=True, slots=True)
class Step:
    """One step of an explanation: a component (``id`` or ``id@site`` for one instance), a
    site's WAN link (``wan:<site>``), an asset (``asset:<id>``) or a host (``host:<name>``),
    and the step after it, towards the root cause (None at the root).

    Entries share the steps they have in common: the chain of a service whose database is down
    continues with the database's own chain. A report of a chain of N dependencies therefore
    holds N steps, not N squared.
    """

    label: str
    next: Step | None = None

    def labels(self) -> list[str]:
        out: list[str] = []
        step: Step | None = self
        while step is not None:
            out.append(step.label)
            step = step.next
        return out


@dataclass(frozen=True, slots=True)
class ImpactEntry:
    """The state of one component as seen from one site, and why.

    ``via`` is what it depends on that failed (the first step after the component itself;
    None when the component itself is the root cause, or is operational); ``path`` walks the
    steps to the root cause. ``risk_via`` and ``risk_path`` explain ``at_risk`` the same way.
    """

    site: str
    component: str
    name: str
    kind: str  # "service" or "infrastructure"
    criticality: str | None
    state: ServiceState
    via: Step | None
    root_cause: Cause | None  # None when operational
    propagation: Cause | None  # how it propagated when that matters (a soft dependency)
    at_risk: bool
    risk_via: Step | None
    risk_root_cause: Cause | None
    runbook: str | None
    rto_seconds: int | None
    owner: str
    on_call: str

    @property
    def service(self) -> str:
        return self.component

    @property
    def cause(self) -> str:
        """The root cause, in English words."""
        return _text(self.root_cause)

    @property
    def note(self) -> str:
        """How it propagated, in English ("works without X (soft dependency)"), or empty."""
        return _text(self.propagation)

    @property
    def risk_cause(self) -> str:
        return _text(self.risk_root_cause)

    @property
    def path(self) -> tuple[str, ...]:
        """From the component to the root cause; empty when operational."""
        if self.state is ServiceState.OPERATIONAL:
            return ()
        return (self.component, *(self.via.labels() if self.via else ()))

    @property
    def risk_path(self) -> tuple[str, ...]:
        if not self.at_risk:
            return ()
        return (self.component, *(self.risk_via.labels() if self.risk_via else ()))

    @property
    def reason(self) -> str:
        """One line, in English: the state, what failed first and the root cause (never the
        whole path, which can be thousands of steps long)."""
        return reason_text(self.explanation())

    def explanation(self) -> dict[str, Any]:
        """The reason as data, for a reader that words it in its own language: the state, the
        short path (at most four labels; None where steps are left out), the root cause, the
        note, and, for a component down or degraded and also at risk, what puts it at risk."""
        if self.state is ServiceState.OPERATIONAL:
            return {"state": self.state.value}
        out: dict[str, Any] = {
            "state": self.state.value,
            "path": _short_path(self.component, self.via),
            "cause": self.root_cause.to_dict() if self.root_cause else None,
            "note": self.propagation.to_dict() if self.propagation else None,
        }
        if self.at_risk and self.state is not ServiceState.AT_RISK:
            out["risk"] = {
                "path": _short_path(self.component, self.risk_via),
                "cause": self.risk_root_cause.to_dict() if self.risk_root_cause else None,
            }
        return out

    def to_dict(self, numbers: dict[int, int] | None = None) -> dict[str, Any]:
        """The entry as JSON-ready data; ``numbers`` gives the position of each step in the
        report's step list (``ImpactReport.to_dict``), so that ``via_step`` can point there."""
        known = numbers or {}
        return {
            "site": self.site,
            "component": self.component,
            "name": self.name,
            "kind": self.kind,
            "criticality": self.criticality,
            "state": self.state.value,
            "reason": self.reason,
            "explanation": self.explanation(),
            "via": self.via.label if self.via else None,
            "via_step": known.get(id(self.via)) if self.via else None,
            "cause": self.cause,
            "note": self.note,
            "at_risk": self.at_risk,
            "risk_via": self.risk_via.label if self.risk_via else None,
            "risk_via_step": known.get(id(self.risk_via)) if self.risk_via else None,
            "risk_cause": self.risk_cause,
            "runbook": self.runbook,
            "rto_seconds": self.rto_seconds,
            "owner": self.owner,
            "on_call": self.on_call,
        }


def _short_path(component: str, via: Step | None) -> list[str | None]:
    """``[component, first step, (None,) root]``: at most four names whatever the depth, None
    standing for the steps left out."""
    if via is None:
        return [component]
    last = via
    count = 1
    while last.next is not None:
        last = last.next
        count += 1
    if count <= 3:
        return [component, *via.labels()]
    return [component, via.label, None, last.label]


def path_text(path: list[str | None]) -> str:
    """``a -> b -> ... -> z``."""
    return " -> ".join("..." if label is None else label for label in path)


def _cause_text(data: dict[str, str] | None) -> str:
    return Cause.from_dict(data).text if data else ""


def reason_text(explanation: dict[str, Any]) -> str:
    """An :meth:`ImpactEntry.explanation` in English: ``down: a -> b (cause); note; also at
    risk: a -> c (cause)``."""
    state = ServiceState(explanation["state"])
    if state is ServiceState.OPERATIONAL:
        return "operational"
    text = f"{state.label}: {path_text(explanation['path'])} ({_cause_text(explanation['cause'])})"
    if explanation.get("note"):
        text += f"; {_cause_text(explanation['note'])}"
    risk = explanation.get("risk")
    if risk:
        text += f"; also at risk: {path_text(risk['path'])} ({_cause_text(risk['cause'])})"
    return text


@dataclass(slots=True)
class ImpactReport:
    """Per (site, service) states, plus infrastructure, in model order (deterministic)."""

    hospital: str
    actions: list[str]
    compromised: list[str]
    unavailable: list[str]
    degraded: list[str]
    unresolved: list[str]  # inputs that name nothing in the model, with the reason
    entries: list[ImpactEntry]
    infrastructure: list[ImpactEntry]
    _index: dict[tuple[str, str], ImpactEntry] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for entry in (*self.entries, *self.infrastructure):
            self._index[(entry.component, entry.site)] = entry

    def entry(self, component: str, site: str) -> ImpactEntry | None:
        return self._index.get((component, site))

    def state(self, component: str, site: str) -> ServiceState:
        found = self._index.get((component, site))
        if found is None:
            raise KeyError(f"{component} is not reported at site {site}")
        return found.state

    def states(self, component: str) -> dict[str, ServiceState]:
        """State of a service or infrastructure component at each site where it is reported."""
        return {
            e.site: e.state
            for e in (*self.entries, *self.infrastructure)
            if e.component == component
        }

    def worst(self, component: str) -> ServiceState:
        states = self.states(component).values()
        return max(states, key=lambda s: s.rank, default=ServiceState.OPERATIONAL)

    def affected(self) -> list[ImpactEntry]:
        """Service entries that are not operational."""
        return [e for e in self.entries if e.state is not ServiceState.OPERATIONAL]

    def by_site(self) -> dict[str, list[ImpactEntry]]:
        """Service entries grouped by site, sites and services in model order."""
        out: dict[str, list[ImpactEntry]] = {}
        for e in self.entries:
            out.setdefault(e.site, []).append(e)
        return out

    def changes_since(self, before: ImpactReport) -> list[tuple[ServiceState, ImpactEntry]]:
        """Service entries whose state differs from ``before`` (same model), with the old state.

        For "what did the containment cost": assess the detections alone, then with the action.
        """
        out: list[tuple[ServiceState, ImpactEntry]] = []
        for e in self.entries:
            old = before.entry(e.component, e.site)
            old_state = old.state if old is not None else ServiceState.OPERATIONAL
            if old_state is not e.state:
                out.append((old_state, e))
        return out

    def counts(self, sites: Sequence[str] | None = None) -> dict[str, int]:
        """Service entries per state, at ``sites`` only when given."""
        keep = set(sites) if sites is not None else None
        out = {s.value: 0 for s in ServiceState}
        for e in self.entries:
            if keep is None or e.site in keep:
                out[e.state.value] += 1
        return out

    def steps(self) -> list[Step]:
        """Every step the entries' explanations go through, each once, in order of first use."""
        return self._numbered()[1]

    def _numbered(self) -> tuple[dict[int, int], list[Step]]:
        numbers: dict[int, int] = {}
        order: list[Step] = []
        for entry in (*self.entries, *self.infrastructure):
            for first in (entry.via, entry.risk_via):
                step = first
                while step is not None and id(step) not in numbers:
                    numbers[id(step)] = len(order)
                    order.append(step)
                    step = step.next
        return numbers, order

    def to_dict(self, sites: Sequence[str] | None = None) -> dict[str, Any]:
        """JSON-ready and deterministic; ``sites`` keeps only the entries (and counts) of those
        sites. Each entry names what it depends on that failed (``via``) and where that step is
        in ``steps``; a step gives its ``label`` and the position of the ``next`` one (None at
        the root cause), so the whole path is a walk through ``steps``."""
        keep = set(sites) if sites is not None else None
        entries = [e for e in self.entries if keep is None or e.site in keep]
        infra = [e for e in self.infrastructure if keep is None or e.site in keep]
        shown = ImpactReport(
            self.hospital, self.actions, self.compromised, self.unavailable, self.degraded,
            self.unresolved, entries, infra,
        )  # fmt: skip
        numbers, order = shown._numbered()
        return {
            "hospital": self.hospital,
            "actions": self.actions,
            "compromised": self.compromised,
            "unavailable": self.unavailable,
            "degraded": self.degraded,
            "unresolved": self.unresolved,
            "sites": list(sites) if sites is not None else None,
            "counts": shown.counts(),
            "services": [e.to_dict(numbers) for e in entries],
            "infrastructure": [e.to_dict(numbers) for e in infra],
            "steps": [
                {
                    "label": step.label,
                    "next": numbers[id(step.next)] if step.next is not None else None,
                }
                for step in order
            ],
        }
