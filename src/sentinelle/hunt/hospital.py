"""The hospital in a hunt's timeline: where each detection is, what depends on it, and the
incidents and their impact on services, as the demo tells them.

``HospitalView`` is what ``run_hunt`` calls on the merged timeline: ``annotate`` puts the site,
the asset and the services that depend on it on each detection (and raises the level on assets
vital services depend on, when asked), ``feed`` groups the detections shown into incidents as
they stream by (``incidents.IncidentGrouper``: bounded memory), and ``findings`` gives the
incidents and what the serious ones did to the hospital's services (the impact engine).
"""

from __future__ import annotations

import heapq
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from sentinelle.detections import LEVELS, Detection, level_rank
from sentinelle.hospital import (
    Criticality,
    HospitalModel,
    ImpactEntry,
    ImpactReport,
    assess,
    example_model_path,
    load_model,
    locate_detection,
)
from sentinelle.incidents.group import Incident, IncidentGrouper, number_incidents
from sentinelle.incidents.impact import impact_inputs

# Detections an incident keeps to show (its counts stay exact), incidents kept in detail (the
# most severe, then the largest), and incidents whose own impact is assessed.
KEEP_PER_INCIDENT = 5
MAX_INCIDENTS = 1000
MAX_ASSESSED = 50
INCIDENT_LEVEL = "low"  # informational detections are context, not incidents (as in the demo)
_SERIOUS = level_rank("high")


@dataclass(slots=True)
class IncidentImpact:
    """An incident and the services its serious detections put at risk, degraded or stopped."""

    incident: Incident
    affected: list[ImpactEntry] = field(default_factory=list)


@dataclass(slots=True)
class HospitalFindings:
    """What the hunt found, told in the hospital's terms."""

    hospital: str
    model: str  # the model file
    default_model: bool  # the worked example, chosen because the hosts match it
    hosts_located: int
    hosts_seen: int
    located: int = 0  # detections placed on an asset of the model
    raised: int = 0  # detections whose level was raised (assets of vital services)
    incidents: list[IncidentImpact] = field(default_factory=list)
    incidents_total: int = 0
    not_grouped: int = 0  # detections shown but below INCIDENT_LEVEL or without a time
    impact: ImpactReport | None = None  # of every serious incident together
    site_names: dict[str, str] = field(default_factory=dict)
    service_names: dict[str, str] = field(default_factory=dict)


class HospitalView:
    """A hospital model applied to a hunt's timeline (see the module's docstring).

    ``explicit``: the model was named (``--model``); else it is the worked example, used only
    when most machines with detections are its machines (``accepts``).
    """

    def __init__(
        self,
        path: Path | None = None,
        *,
        raise_vital: bool = False,
    ) -> None:
        self.explicit = path is not None
        self.path = path if path is not None else example_model_path()
        self.raise_vital = raise_vital
        self._model: HospitalModel | None = None
        self._assets: dict[str, tuple[tuple[str, ...], bool]] = {}
        self._kept: list[tuple[tuple[int, int, float], int, Incident]] = []  # a min-heap
        self._seq = 0
        self._grouper: IncidentGrouper | None = None
        self._findings: HospitalFindings | None = None

    @property
    def model(self) -> HospitalModel:
        if self._model is None:
            self._model = load_model(self.path)
        return self._model

    def accepts(self, hosts: Collection[str]) -> bool:
        """Whether to place this hunt's detections in the model: always for a named model,
        else when at least half the machines with detections are the worked example's."""
        if not self.explicit and not hosts:
            return False  # nothing to place: the worked example is not even loaded
        model = self.model
        located = sum(1 for h in hosts if model.locate_host(h) is not None)
        self._findings = HospitalFindings(
            hospital=model.name,
            model=str(self.path),
            default_model=not self.explicit,
            hosts_located=located,
            hosts_seen=len(hosts),
            site_names={s.id: s.name for s in model.sites.values()},
            service_names={s.id: s.name for s in model.services.values()},
        )
        self._grouper = IncidentGrouper(
            self._closed, model=model, min_level=INCIDENT_LEVEL, keep=KEEP_PER_INCIDENT
        )
        return self.explicit or (located > 0 and 2 * located >= len(hosts))

    def annotate(self, det: Detection) -> None:
        """Site, asset and dependent services on ``det.details``; the level raised one step on
        an asset a vital service depends on, when ``raise_vital``."""
        located = locate_detection(self.model, det)
        if not located:
            return
        findings = self._require()
        findings.located += 1
        services: list[str] = []
        vital = False
        for asset in located:
            depending, is_vital = self._asset_services(asset.id)
            services.extend(s for s in depending if s not in services)
            vital = vital or is_vital
        det.details["site"] = located[0].site
        det.details["asset"] = located[0].id
        det.details["services"] = services
        if self.raise_vital and vital:
            rank = level_rank(det.level)
            if rank < len(LEVELS) - 1:
                det.details["level_raised_from"] = det.level
                det.level = LEVELS[rank + 1]
                findings.raised += 1

    def feed(self, det: Detection) -> None:
        """A detection the hunt shows, in timeline order, towards the incidents."""
        if self._grouper is not None:
            self._grouper.feed(det)

    def findings(self) -> HospitalFindings:
        findings = self._require()
        grouper = self._grouper
        assert grouper is not None
        grouper.finish()
        findings.not_grouped = grouper.skipped
        incidents = number_incidents([inc for _, _, inc in self._kept])
        model = self.model
        serious = [i for i in incidents if level_rank(i.severity) >= _SERIOUS]
        victims: dict[str, set[str]] = {}
        for inc in serious:
            for harm, names in inc.victims.items():
                victims.setdefault(harm, set()).update(names)
        if victims:
            findings.impact = assess(model, **impact_inputs(model, victims))
        assessed = {
            id(inc)
            for inc in sorted(serious, key=lambda i: (-level_rank(i.severity), i.first_seen))[
                :MAX_ASSESSED
            ]
        }
        for inc in incidents:
            affected: list[ImpactEntry] = []
            if id(inc) in assessed and inc.victims:
                affected = assess(model, **impact_inputs(model, inc.victims)).affected()
            findings.incidents.append(IncidentImpact(inc, affected))
        return findings

    def _closed(self, inc: Incident) -> None:
        # The most severe incidents, then the largest, are kept in detail; the rest counted.
        findings = self._require()
        findings.incidents_total += 1
        self._seq += 1
        key = (level_rank(inc.severity), inc.detections, -inc.first_seen)
        if len(self._kept) < MAX_INCIDENTS:
            heapq.heappush(self._kept, (key, -self._seq, inc))
        elif key > self._kept[0][0]:
            heapq.heapreplace(self._kept, (key, -self._seq, inc))

    def _asset_services(self, asset_id: str) -> tuple[tuple[str, ...], bool]:
        """The services at risk when the asset is compromised (they depend on it), and whether
        one of them is vital. Asked once per asset."""
        known = self._assets.get(asset_id)
        if known is None:
            model = self.model
            report = assess(model, compromised=[asset_id])
            services = tuple(dict.fromkeys(e.component for e in report.entries if e.at_risk))
            vital = any(model.services[s].criticality is Criticality.VITAL for s in services)
            known = self._assets[asset_id] = (services, vital)
        return known

    def _require(self) -> HospitalFindings:
        assert self._findings is not None, "accepts() comes before the timeline"
        return self._findings
