"""What the impact engine answers: the state of each component at each site, and why.

Kept apart from the engine so that outputs (tables, JSON, the HTML report) depend only on these
plain records, never on how the engine computes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


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
class ImpactEntry:
    """The state of one component as seen from one site, and why."""

    site: str
    component: str
    name: str
    kind: str  # "service" or "infrastructure"
    criticality: str | None
    state: ServiceState
    reason: str
    path: tuple[str, ...]  # from the component to the root cause; empty when operational
    cause: str  # the root cause, in words
    note: str  # how it propagated when that matters ("works without X (soft dependency)")
    at_risk: bool
    risk_path: tuple[str, ...]
    risk_cause: str
    runbook: str | None
    rto_seconds: int | None
    owner: str
    on_call: str

    @property
    def service(self) -> str:
        return self.component

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "component": self.component,
            "name": self.name,
            "kind": self.kind,
            "criticality": self.criticality,
            "state": self.state.value,
            "reason": self.reason,
            "path": list(self.path),
            "cause": self.cause,
            "note": self.note,
            "at_risk": self.at_risk,
            "risk_path": list(self.risk_path),
            "risk_cause": self.risk_cause,
            "runbook": self.runbook,
            "rto_seconds": self.rto_seconds,
            "owner": self.owner,
            "on_call": self.on_call,
        }


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

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in ServiceState}
        for e in self.entries:
            out[e.state.value] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "hospital": self.hospital,
            "actions": self.actions,
            "compromised": self.compromised,
            "unavailable": self.unavailable,
            "degraded": self.degraded,
            "unresolved": self.unresolved,
            "counts": self.counts(),
            "services": [e.to_dict() for e in self.entries],
            "infrastructure": [e.to_dict() for e in self.infrastructure],
        }
