"""NetFlow v9 / IPFIX templates, kept per exporter so that no sender can evict another's.

A template is only meaningful to the exporter (address and observation domain, or v9 source
id) that defined it, and anyone can send a UDP datagram with any source address and domain. So
each exporter has its own bounded share (``max_templates_per_exporter``): when it is full, the
exporter's own least recently used template goes. Across exporters the total is bounded too
(``max_templates``), and when it is reached the room is taken from exporters that have never
had a data record decoded with their templates (a flood of templates in made-up domains never
has), least recently active first; the templates of an exporter whose data was decoded
(*proven*) are never taken by another exporter, and a template that finds no room is refused.
Every template evicted or refused is counted, per exporter.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from sentinelle.network.templates import FieldSpec, Plan

# (exporter address, NetFlow version, observation domain or source id)
ExporterKey = tuple[str, int, int]


@dataclass(slots=True)
class Template:
    plan: Plan
    learned: float
    refreshed: float
    options: bool


@dataclass(slots=True)
class _Share:
    """One exporter's templates, least recently used first."""

    templates: OrderedDict[int, Template] = field(default_factory=OrderedDict)
    proven: bool = False  # a data record was decoded with one of its templates


@dataclass(slots=True)
class CacheCounts:
    learned: int = 0
    refreshed: int = 0
    changed: int = 0
    withdrawn: int = 0
    expired: int = 0
    evicted: int = 0  # an exporter's own oldest template, over its share
    taken: int = 0  # an unproven exporter's template, for room in the whole cache
    refused: int = 0  # no room: the template was not kept
    by_exporter: dict[str, int] = field(default_factory=dict)  # evicted, taken or refused
    max_named: int = 1_000  # exporters named in by_exporter; the rest add up under "other"

    def lose(self, key: ExporterKey) -> None:
        name = exporter_name(key)
        if name not in self.by_exporter and len(self.by_exporter) >= self.max_named:
            name = "other"
        self.by_exporter[name] = self.by_exporter.get(name, 0) + 1


def exporter_name(key: ExporterKey) -> str:
    address, version, domain = key
    return f"{address} v{version} domain {domain}"


class TemplateCache:
    """Templates by exporter and template id; see the module docstring for what is kept."""

    def __init__(self, max_templates: int, per_exporter: int) -> None:
        self.max_templates = max_templates
        self.per_exporter = max(1, min(per_exporter, max_templates))
        self.counts = CacheCounts()
        self._shares: dict[ExporterKey, _Share] = {}
        # Exporters never proven, least recently active first: where room is taken from.
        self._unproven: OrderedDict[ExporterKey, None] = OrderedDict()
        self._total = 0

    def __len__(self) -> int:
        return self._total

    @property
    def exporters(self) -> int:
        return len(self._shares)

    def get(self, key: ExporterKey, template_id: int) -> Template | None:
        share = self._shares.get(key)
        return None if share is None else share.templates.get(template_id)

    def refresh(
        self, key: ExporterKey, template_id: int, fields: tuple[FieldSpec, ...], now: float
    ) -> bool:
        """Whether this template is known as it is (exporters resend them often)."""
        share = self._shares.get(key)
        known = None if share is None else share.templates.get(template_id)
        if share is None or known is None or known.plan.fields != fields:
            return False
        self.counts.refreshed += 1
        known.refreshed = now
        share.templates.move_to_end(template_id)
        self._touch(key, share)
        return True

    def learn(self, key: ExporterKey, template_id: int, template: Template) -> bool:
        """Keep a new or changed template; False when there was no room (counted)."""
        share = self._shares.get(key)
        if share is None:
            share = _Share()
        known = share.templates.pop(template_id, None)
        if known is not None:
            self.counts.changed += 1
            self._total -= 1
        elif len(share.templates) >= self.per_exporter:
            share.templates.popitem(last=False)  # the exporter's own oldest: its own loss
            self._total -= 1
            self.counts.evicted += 1
            self.counts.lose(key)
        elif self._total >= self.max_templates and not self._take_room(key):
            self.counts.refused += 1
            self.counts.lose(key)
            if not share.templates:
                self._forget(key)
            return False
        share.templates[template_id] = template
        self._total += 1
        self.counts.learned += 1
        if key not in self._shares:
            self._shares[key] = share
        self._touch(key, share)
        return True

    def proven(self, key: ExporterKey) -> None:
        """A data record was decoded with this exporter's templates: they are protected now."""
        share = self._shares.get(key)
        if share is not None and not share.proven:
            share.proven = True
            self._unproven.pop(key, None)

    def drop(self, key: ExporterKey, template_id: int, *, expired: bool = False) -> bool:
        share = self._shares.get(key)
        if share is None or share.templates.pop(template_id, None) is None:
            return False
        self._total -= 1
        if expired:
            self.counts.expired += 1
        else:
            self.counts.withdrawn += 1
        if not share.templates:
            self._forget(key)
        return True

    def drop_all(self, key: ExporterKey) -> None:
        share = self._shares.get(key)
        if share is None:
            return
        self.counts.withdrawn += len(share.templates)
        self._total -= len(share.templates)
        self._forget(key)

    def _touch(self, key: ExporterKey, share: _Share) -> None:
        if not share.proven:
            self._unproven[key] = None
            self._unproven.move_to_end(key)

    def _take_room(self, key: ExporterKey) -> bool:
        """Free one place by taking the oldest template of the least recently active unproven
        exporter other than ``key``; False when every other exporter is proven."""
        for victim in self._unproven:
            if victim == key:
                continue
            share = self._shares[victim]
            share.templates.popitem(last=False)
            self._total -= 1
            self.counts.taken += 1
            self.counts.lose(victim)
            if not share.templates:
                self._forget(victim)
            return True
        return False

    def _forget(self, key: ExporterKey) -> None:
        self._shares.pop(key, None)
        self._unproven.pop(key, None)
