"""The open groups of one correlation rule, small, and ordered for eviction.

A correlation keeps one group per group-by key (one per remote address for a password spray).
An attacker controls how many keys there are, so the state is capped (``max_groups``), and what
the cap evicts decides whether a flood can hide an attack: 101,000 one-off failures from
distinct addresses used to evict the spray's group, the least recently active one. Groups are
therefore also indexed by *progress*: how far each is towards its threshold, in ``LEVELS``
steps. Eviction takes the group of the lowest level first (least recently active among equals),
so the cap is spent on single failures before a group at eight of its ten.

Progress is the measure over the threshold for conditions that only have lower bounds (``gte:
10`` at 8 is level 6 of 8); for the others (anchored windows, boolean conditions) it is how many
entries the group holds, on a log scale; a group that already fired is at the top level (losing
it would let its episode alert again).

Each group costs a few hundred bytes (slotted objects, lists instead of deques, the group-by
values kept as the key tuple), plus the events it keeps to show in an alert; those are bounded
for the whole rule by ``sample_bytes`` (past it, groups go on counting without keeping more
events, and the alert says how many it could not keep).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

from sentinelle.engine.correlation.aggregates import Aggregate
from sentinelle.engine.correlation.model import CompiledCorrelation
from sentinelle.events import Event

LEVELS = 8
TOP = LEVELS - 1
NEVER = -math.inf
Key = tuple[Any, ...]


class Group:
    """The window of one group-by key of one correlation."""

    __slots__ = (
        "aggregate",
        "approximate",
        "armed",
        "fire_ts",
        "key",
        "last_ts",
        "level",
        "opened",
        "sample",
        "unkept",
        "values",
    )

    def __init__(self, aggregate: Aggregate, key: Key, values: Key, ts: float) -> None:
        self.aggregate = aggregate
        self.key = key
        # The group-by values as the events had them (the key folds lists, booleans...): the
        # key itself when they are the same, as they nearly always are.
        self.values = key if values == key else values
        self.sample: list[tuple[float, Event]] | None = None
        self.unkept = 0  # events the sample could not keep (``sample_bytes``)
        self.armed = True
        self.fire_ts = NEVER
        self.last_ts = ts
        self.opened = ts
        self.approximate = False
        self.level = 0


class RuleState:
    """The groups of one correlation, by key, in the order its windows need, and by level.

    ``groups`` holds them least recently active first for sliding windows, opened first (so
    closing first) for anchored ones; ``levels[n]`` holds those of level ``n``, least recently
    updated first.
    """

    __slots__ = ("corr", "entries", "groups", "hidden", "levels", "need", "sampled_bytes")

    def __init__(self, corr: CompiledCorrelation) -> None:
        self.corr = corr
        self.groups: OrderedDict[Key, Group] = OrderedDict()
        self.levels: list[OrderedDict[Key, Group]] = [OrderedDict() for _ in range(LEVELS)]
        self.entries = 0
        self.sampled_bytes = 0
        self.hidden = False
        threshold = corr.threshold
        self.need: float | None = None
        if corr.eager and threshold is not None and threshold.lower_only:
            need = max(bound.limit for bound in threshold.bounds)
            self.need = need if need > 0 else None

    def __len__(self) -> int:
        return len(self.groups)

    def add(self, group: Group) -> None:
        self.groups[group.key] = group
        self.levels[group.level][group.key] = group

    def touched(self, group: Group, value: float | None) -> None:
        """``group`` was just updated: sliding order and level follow."""
        if self.corr.eager:
            self.groups.move_to_end(group.key)
        level = self.level_of(group, value)
        if level == group.level:
            self.levels[level].move_to_end(group.key)
        else:
            del self.levels[group.level][group.key]
            group.level = level
            self.levels[level][group.key] = group

    def level_of(self, group: Group, value: float | None) -> int:
        if not group.armed:
            return TOP
        need = self.need
        if need is not None and value is not None:
            return max(0, min(int(value * LEVELS / need), TOP))
        return min(group.aggregate.size.bit_length(), TOP)

    def remove(self, group: Group) -> None:
        del self.groups[group.key]
        del self.levels[group.level][group.key]
        self.forget(group)

    def first(self) -> Group | None:
        """The least recently active group (sliding) or the first to close (anchored)."""
        return next(iter(self.groups.values()), None)

    def victim(self, keep: Group | None = None) -> Group | None:
        """The group to evict: lowest level, least recently updated, never ``keep``."""
        for level in self.levels:
            for group in level.values():  # passes over ``keep`` at most
                if group is not keep:
                    return group
        return None

    def keep_event(
        self, group: Group, ts: float, event: Event, per_group: int, budget: int
    ) -> None:
        """Add ``event`` to the group's sample (its latest ``per_group`` events), within the
        rule's byte ``budget``; an event it cannot keep is counted in ``unkept``."""
        cost = event_cost(event)
        sample = group.sample
        full = sample is not None and len(sample) >= per_group
        freed = event_cost(sample[0][1]) if sample is not None and full else 0
        if self.sampled_bytes - freed + cost > budget:
            group.unkept += 1
            return
        if sample is None:
            sample = group.sample = []
        elif full:
            sample.pop(0)
            self.sampled_bytes -= freed
        sample.append((ts, event))
        self.sampled_bytes += cost

    def forget(self, group: Group) -> None:
        """Give back what the sample of a group leaving the state counted (the group keeps
        its sample: a closing window is judged after it left)."""
        if group.sample:
            self.sampled_bytes -= sum(event_cost(event) for _, event in group.sample)

    def clear(self) -> None:
        self.groups.clear()
        for level in self.levels:
            level.clear()
        self.entries = 0
        self.sampled_bytes = 0


def event_cost(event: Event) -> int:
    """About what keeping an event costs in memory, without walking its values: its raw
    record twice (as read, and again in its field values) and about 96 bytes a field (a dict
    slot, a name shared between events, a short value): 3.6 kB for a FortiGate line of 440
    characters and 26 fields, which measures 3.5 kB."""
    raw = event.raw
    return 256 + 2 * (len(raw) if raw is not None else 0) + 96 * len(event.fields)
