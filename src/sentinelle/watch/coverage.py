"""Detection coverage: which rules can fire on what the hospital actually sends.

A rule *can fire* on a kind of event (a channel and event id) when the logsource of the rule
maps to it and its condition can hold with the fields those events were seen to carry: a test
of a field nobody sends can never hold, a negated one always can. The input is a *census*: the
populated fields per (channel, event id), from the service (``SeenFields``, counted by the
detector) or from a folder of logs read with the readers. The rules are the compiled plan of
the hunt's engine, translated per source already (field names as the events carry them).

What cannot fire says what it lacks: a source never received ("Sysmon event 1"), or fields a
received source lacks ("Security 4688 with CommandLine"). Counting the rules each lack would
light up ranks the sources worth turning on. Techniques are rolled up from the rules' ATT&CK
tags into a Navigator layer (the hunt's layer writer).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sentinelle.engine import ir
from sentinelle.engine.plan import Plan, RuleInfo, Variant
from sentinelle.hunt.attack import techniques_of

Census = Mapping[tuple[str, int], Iterable[str]]  # (channel folded, event id or -1) -> fields
ALWAYS = frozenset({"EventID", "Channel"})  # the key itself: present on every event of it

_CHANNELS = {
    "microsoft-windows-sysmon/operational": "Sysmon",
    "security": "Security",
    "system": "System",
    "application": "Application",
    "microsoft-windows-powershell/operational": "PowerShell Operational",
    "windows powershell": "Windows PowerShell",
    "microsoft-windows-windows defender/operational": "Defender",
    "microsoft-windows-taskscheduler/operational": "Task Scheduler",
    "microsoft-windows-bits-client/operational": "BITS client",
    "microsoft-windows-dns-client/operational": "DNS client",
    "microsoft-windows-wmi-activity/operational": "WMI activity",
    "microsoft-windows-terminalservices-localsessionmanager/operational": "RDP sessions",
}


_SYSMON = "microsoft-windows-sysmon/operational"
_SYSMON_EVENTS = {
    1: "process creation", 3: "network connections", 6: "driver loads", 7: "image loads",
    8: "remote threads", 10: "process access", 11: "file creation", 12: "registry keys",
    13: "registry values", 14: "registry renames", 15: "file streams", 17: "pipes created",
    18: "pipes connected", 22: "DNS queries", 23: "file deletion", 25: "process tampering",
}  # fmt: skip


def channel_name(channel: str | None) -> str:
    if not channel:
        return "events without a channel"
    return _CHANNELS.get(channel.lower(), channel)


@dataclass(frozen=True, slots=True)
class Need:
    """What a rule lacks on one of its sources: the source itself (``fields`` empty), or
    fields that source's events do not carry."""

    channel: str | None
    event_ids: tuple[int, ...]
    fields: tuple[str, ...] = ()
    logsource: str = ""  # for sources without a channel: the rule's logsource, in words
    channel_seen: bool = False  # the channel is received, but not these event ids

    @property
    def source(self) -> str:
        if self.channel is None:
            return f"logs of {self.logsource}" if self.logsource else "events of its kind"
        name = channel_name(self.channel)
        if not self.event_ids:
            return name
        ids = ", ".join(str(i) for i in self.event_ids[:6])
        text = f"{name} {ids}" + ("..." if len(self.event_ids) > 6 else "")
        if self.channel.lower() == _SYSMON:
            named = [_SYSMON_EVENTS[i] for i in self.event_ids if i in _SYSMON_EVENTS]
            text += f" ({', '.join(named)})" if named else ""
        return text

    @property
    def label(self) -> str:
        """ "Sysmon" for a missing channel, "Security 4688 with CommandLine" for fields."""
        if not self.fields:
            if self.channel is None or self.channel_seen:
                return self.source
            return channel_name(self.channel)
        return f"{self.source} with {', '.join(self.fields[:4])}"


@dataclass(slots=True)
class RuleCoverage:
    rule: RuleInfo
    fires_on: list[str] = field(default_factory=list)  # source labels
    needs: list[Need] = field(default_factory=list)  # when it cannot fire
    techniques: list[str] = field(default_factory=list)

    @property
    def can_fire(self) -> bool:
        return bool(self.fires_on)


@dataclass(slots=True)
class TechniqueCoverage:
    technique: str
    rules: int = 0
    firing: int = 0
    firing_titles: list[str] = field(default_factory=list)
    blind_titles: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Coverage:
    rules: list[RuleCoverage]
    unmapped: list[RuleInfo]  # rules whose logsource Sentinelle maps to no source
    census_kinds: int

    @property
    def firing(self) -> list[RuleCoverage]:
        return [r for r in self.rules if r.can_fire]

    @property
    def blind(self) -> list[RuleCoverage]:
        return [r for r in self.rules if not r.can_fire]

    def suggestions(self, limit: int = 15) -> list[tuple[str, int]]:
        """Missing sources (or fields) and how many rules each would light up, most first."""
        lit: Counter[str] = Counter()
        for rule in self.blind:
            for label in {n.label for n in rule.needs}:
                lit[label] += 1
        return lit.most_common(limit)

    def techniques(self) -> list[TechniqueCoverage]:
        table: dict[str, TechniqueCoverage] = {}
        for rule in self.rules:
            for technique in rule.techniques:
                row = table.setdefault(technique, TechniqueCoverage(technique))
                row.rules += 1
                if rule.can_fire:
                    row.firing += 1
                    row.firing_titles.append(rule.rule.title)
                else:
                    row.blind_titles.append(rule.rule.title)
        return sorted(table.values(), key=lambda t: (t.firing > 0, -t.rules, t.technique))


def satisfiable(node: ir.Node, present: frozenset[str] | set[str]) -> bool:
    """Whether the tree can hold on an event carrying ``present`` fields (values unknown):
    a test of an absent field cannot, a negation or a test of absence can."""
    if isinstance(node, ir.Const):
        return node.value
    if isinstance(node, ir.Leaf):
        atom = node.atom
        if atom.field is None or atom.field in present:
            return True
        matcher = atom.matcher
        return isinstance(matcher, ir.Null) or (
            isinstance(matcher, ir.Exists) and not matcher.exists
        )
    if isinstance(node, ir.Not):
        return True
    if isinstance(node, ir.And):
        return all(satisfiable(c, present) for c in node.children)
    return any(satisfiable(c, present) for c in node.children)


def missing_fields(node: ir.Node, present: frozenset[str] | set[str]) -> tuple[str, ...]:
    """The fields whose absence keeps the tree from holding (the tested, not negated ones)."""
    wanted: list[str] = []

    def walk(n: ir.Node) -> None:
        if satisfiable(n, present):
            return
        if isinstance(n, ir.Leaf):
            if n.atom.field is not None and n.atom.field not in wanted:
                wanted.append(n.atom.field)
        elif isinstance(n, ir.And):
            for child in n.children:
                walk(child)
        elif isinstance(n, ir.Or) and n.children:
            # The branch needing the fewest fields is the one to ask for.
            best = min(n.children, key=lambda c: len(missing_fields(c, present)))
            walk(best)

    walk(node)
    return tuple(wanted)


def _kinds_for(
    variant: Variant, census: Mapping[tuple[str, int], frozenset[str]]
) -> list[tuple[tuple[str, int], frozenset[str]]]:
    out = []
    for key, present in census.items():
        channel, event_id = key
        if variant.channel is not None and channel != variant.channel:
            continue
        if variant.event_ids and event_id not in variant.event_ids:
            continue
        if variant.channel is None and variant.guard and variant.guard not in present:
            continue
        out.append((key, present))
    return out


def _logsource_text(rule: RuleInfo) -> str:
    return "/".join(part for part in rule.logsource if part)


def assess_coverage(plan: Plan, census: Census) -> Coverage:
    """Which rules of ``plan`` can fire on the events ``census`` describes, and why not."""
    kinds = {key: frozenset(fields) | ALWAYS for key, fields in census.items()}
    channels = {channel for channel, _event_id in kinds}
    by_rule: dict[int, list[Variant]] = {}
    for variant in plan.variants:
        by_rule.setdefault(variant.rule, []).append(variant)
    unmapped = set(plan.unmapped)
    out: list[RuleCoverage] = []
    for index, info in enumerate(plan.rules):
        if index in unmapped:
            continue
        coverage = RuleCoverage(info, techniques=techniques_of(info.tags))
        for variant in by_rule.get(index, []):
            label = Need(variant.channel, variant.event_ids, (), _logsource_text(info)).source
            matched = _kinds_for(variant, kinds)
            firing = [key for key, present in matched if satisfiable(variant.tree, present)]
            if firing:
                coverage.fires_on.append(label)
                continue
            if not matched:
                seen = variant.channel is not None and variant.channel in channels
                coverage.needs.append(
                    Need(variant.channel, variant.event_ids, (), _logsource_text(info), seen)
                )
                continue
            gaps = [missing_fields(variant.tree, present) for _key, present in matched]
            fewest = min(gaps, key=len)
            coverage.needs.append(
                Need(variant.channel, variant.event_ids, fewest, _logsource_text(info))
            )
        out.append(coverage)
    return Coverage(out, [plan.rules[i] for i in sorted(unmapped)], len(kinds))


def coverage_layer(coverage: Coverage, source: str) -> dict[str, Any]:
    """The Navigator layer: each technique scored by the rules that can fire for it; the
    techniques the rules cover but none can fire score 0 and say what they lack."""
    from sentinelle.hunt.outputs.attack import Scored, technique_layer
    from sentinelle.hunt.outputs.attack_releases import derive_release

    table = coverage.techniques()
    release = derive_release(t.technique for t in table)
    scored: dict[str, Scored] = {}
    merged: dict[str, TechniqueCoverage] = {}
    for row in table:
        shown = release.shown(row.technique)
        into = merged.setdefault(shown, TechniqueCoverage(shown))
        into.rules += row.rules
        into.firing += row.firing
        into.firing_titles += row.firing_titles
        into.blind_titles += row.blind_titles
    for technique, row in merged.items():
        if row.firing:
            listed = "; ".join(sorted(set(row.firing_titles))[:8])
            comment = f"{row.firing} of {row.rules} rules can fire: {listed}"
        else:
            comment = f"blind: none of its {row.rules} rules can fire"
        scored[technique] = Scored(
            row.firing,
            comment[:2000],
            (("rules", str(row.rules)), ("can fire", str(row.firing))),
        )
    fire = len(coverage.firing)
    described = (
        f"Detection coverage of {source}: {fire} of {len(coverage.rules)} rules can fire on the "
        f"{coverage.census_kinds} kinds of events received. Score: the rules that can fire for "
        "the technique; 0: the rules exist but none can fire (the comment says so). "
        f"ATT&CK v{release.version}: {release.reason}."
    )
    suggestions = "; ".join(f"{label} ({n} rules)" for label, n in coverage.suggestions(5))
    return technique_layer(
        f"Sentinelle coverage of {source}",
        described,
        release,
        scored,
        [
            ("source", source[:1000]),
            ("score", "rules that can fire"),
            ("would light up the most", suggestions[:1000]),
        ],
        colors=("#ffffffff", "#1a9850ff"),
    )


def census_of_batches(batches: Iterable[Any]) -> tuple[dict[tuple[str, int], set[str]], int]:
    """The census of events read by the readers (a folder of logs), and how many events."""
    from sentinelle.watch.rhythm import FieldCensus

    census = FieldCensus()
    events = 0
    for batch in batches:
        for event in batch.events:
            census.add(event.fields, event.timestamp or 0.0)
            events += 1
    return census.seen, events


def summary_rows(coverage: Coverage) -> Sequence[tuple[str, int, int]]:
    """(technique, rules, rules that can fire), blind techniques first."""
    return [(t.technique, t.rules, t.firing) for t in coverage.techniques()]
