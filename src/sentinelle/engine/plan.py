"""The compiled form of a rule set as plain data: rule facts and one tree per (rule, source).

``plan_rules`` does the slow part once (pySigma parsing is done by the loader; here every rule is
translated for each source of its logsource). The plan is what the cache stores and what worker
processes receive; the matchers are rebuilt from it in the receiving process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sentinelle.engine import ir
from sentinelle.errors import Location, RuleError

if TYPE_CHECKING:
    # pySigma is needed to plan rules, not to hunt with a plan from the cache: imported late.
    from sigma.rule import SigmaRule

    from sentinelle.engine.progress import CompileProgress
    from sentinelle.sigma.loader import RuleSet
    from sentinelle.sigma.logsources import LogsourceMap


AbsentFilterNote = tuple[str | None, tuple[int, ...], tuple[tuple[str, tuple[str, ...]], ...]]


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What outputs and correlations need to know about a loaded detection rule."""

    id: str
    title: str
    level: str
    tags: tuple[str, ...]
    name: str | None
    logsource: tuple[str | None, str | None, str | None]  # product, category, service
    path: str
    line: int | None
    sources: tuple[str, ...]  # labels of the event sources it applies to; empty: never fires
    suppressed: bool = False  # a correlation says `generate: false` for it
    # Per source (folded channel, event ids): the rule's negated detections that test fields
    # the source never carries, with those fields. Such a filter cannot exclude an event there,
    # and the rule's detections on it say so (``details["unsupported_filter_fields"]``).
    absent_filters: tuple[AbsentFilterNote, ...] = ()
    status: str | None = None  # the rule's `status` (stable, test, experimental...), if any

    def absent_filters_for(self, channel: object, event_id: int | None) -> dict[str, list[str]]:
        """The filters that could not apply to an event of ``channel`` and ``event_id``."""
        ch = channel.lower() if isinstance(channel, str) else None
        for source_channel, event_ids, filters in self.absent_filters:
            if source_channel not in (None, ch) or (event_ids and event_id not in event_ids):
                continue
            return {name: list(fields) for name, fields in filters}
        return {}


@dataclass(frozen=True, slots=True)
class Variant:
    """One rule on one event source: where it applies, and its condition over that source."""

    rule: int  # index into ``Plan.rules``
    channel: str | None  # folded
    event_ids: tuple[int, ...]
    tree: ir.Node
    # For a source without a channel: a field the event must have (its first ``where`` field),
    # so that such rules meet only the events of their kind, not every event.
    guard: str | None = None


@dataclass(slots=True)
class Plan:
    rules: list[RuleInfo] = field(default_factory=list)
    variants: list[Variant] = field(default_factory=list)
    errors: list[RuleError] = field(default_factory=list)
    unmapped: list[int] = field(default_factory=list)  # rules whose logsource maps to nothing


def rule_identity(rule: SigmaRule, loc: Location) -> str:
    return str(rule.id) if rule.id is not None else f"{loc.source}:{loc.line or 1}"


def plan_rules(
    ruleset: RuleSet,
    logsources: LogsourceMap,
    placeholders: Mapping[str, Sequence[str]],
    progress: CompileProgress | None = None,
) -> Plan:
    """Translate every rule for every source of its logsource; collect rejections."""
    from sentinelle.engine.translate import Rejected, rule_tree
    from sentinelle.sigma.loader import location_of
    from sentinelle.sigma.yamlsafe import find_text_line

    plan = Plan(errors=list(ruleset.errors))
    if progress is not None:
        progress.stage("translating rules", len(ruleset.rules))
    for rule in ruleset.rules:
        if progress is not None:
            progress.advance()
        loc = location_of(ruleset, rule)
        ls = rule.logsource
        sources = logsources.sources(ls.product, ls.category, ls.service)
        trees: list[tuple[int, ir.Node]] = []
        absent: list[AbsentFilterNote] = []
        try:
            for i, src in enumerate(sources):
                tree, filters = rule_tree(rule, src, placeholders)
                if tree != ir.Const(False):
                    trees.append((i, tree))
                    if filters:
                        channel = src.channel.lower() if src.channel else None
                        absent.append((channel, src.event_ids, filters))
        except Rejected as exc:
            where = loc
            content = ruleset.files.get(loc.source)
            if (exc.field or exc.needle) and content:
                # Point at the text that shows the problem, else the first line naming the
                # field (``Field:`` or ``Field|...``).
                text = content.decode("utf-8", "replace")
                start = loc.line or 1
                needles = [exc.needle] if exc.needle else []
                needles += [exc.field + "|", exc.field + ":"] if exc.field else []
                at = next(
                    (n for n in (find_text_line(text, x, after=start) for x in needles) if n), None
                )
                where = Location(loc.source, at or loc.line)
            plan.errors.append(RuleError(f"rule {rule.title!r} rejected: {exc.reason}", where))
            continue
        rid = rule_identity(rule, loc)
        info = RuleInfo(
            id=rid,
            title=rule.title,
            level=rule.level.name.lower() if rule.level is not None else "informational",
            tags=tuple(str(t) for t in rule.tags),
            name=rule.name,
            logsource=(ls.product, ls.category, ls.service),
            path=loc.source,
            line=loc.line,
            sources=tuple(sources[i].label for i, _ in trees),
            absent_filters=tuple(absent),
            status=rule.status.name.lower() if rule.status is not None else None,
        )
        index = len(plan.rules)
        plan.rules.append(info)
        if not sources:
            plan.unmapped.append(index)
        for i, tree in trees:
            src = sources[i]
            plan.variants.append(
                Variant(
                    index,
                    src.channel.lower() if src.channel else None,
                    src.event_ids,
                    tree,
                    src.where[0][0] if src.channel is None and src.where else None,
                )
            )
    return plan
