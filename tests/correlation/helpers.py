"""Building correlators from rule YAML and base detections from plain field mappings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sigma.exceptions import SigmaRuleLocation
from sigma.rule import SigmaRule

from sentinelle.detections import Detection
from sentinelle.engine.correlation import (
    BaseRuleRef,
    CorrelationLimits,
    Correlator,
    parse_correlation,
)
from sentinelle.events import event_from_mapping


@dataclass
class Setup:
    correlator: Correlator
    bases: dict[str, BaseRuleRef]  # by name (or id when unnamed)


def build(text: str, limits: CorrelationLimits | None = None) -> Setup:
    """Base rules and correlations from one multi-document YAML text, like a rule file."""
    bases: list[BaseRuleRef] = []
    correlations: list[Any] = []
    for number, doc in enumerate(yaml.safe_load_all(text), start=1):
        if doc is None:
            continue
        source = SigmaRuleLocation(Path("rules.yml"), line=number)
        if "correlation" in doc:
            correlations.append(parse_correlation(doc, source))
        else:
            bases.append(BaseRuleRef.from_sigma(SigmaRule.from_dict(doc, source=source)))
    correlator = Correlator(correlations, bases, limits)
    return Setup(correlator, {b.name or b.id: b for b in bases})


def base_rule(name: str, level: str = "low") -> str:
    """A minimal base rule document (the correlator only sees its id, name, title, level)."""
    return f"""
title: {name} rule
name: {name}
logsource: {{product: test}}
detection:
    sel: {{marker: {name}}}
    condition: sel
level: {level}
"""


def detection(base: BaseRuleRef, ts: float | None, record: int = 1, **fields: Any) -> Detection:
    event = event_from_mapping(fields, source="test.evtx", record=record, timestamp=ts)
    return Detection(
        rule_id=base.id,
        rule_title=base.title,
        level=base.level,
        timestamp=ts,
        tags=base.tags,
        event=event,
        rule_name=base.name,
    )


def run(setup: Setup, stream: Iterable[tuple[str, float, Mapping[str, Any]]]) -> list[Detection]:
    """Feed (base rule name, time, fields) in order, then flush; return every output."""
    out: list[Detection] = []
    for record, (name, ts, fields) in enumerate(stream, start=1):
        out.extend(setup.correlator.feed(detection(setup.bases[name], ts, record, **fields)))
    out.extend(setup.correlator.flush())
    return out


def summary(outputs: Sequence[Detection]) -> list[tuple[Any, ...]]:
    """(rule title, timestamp, value, group) per output: the part most tests compare."""
    return [(d.rule_title, d.timestamp, d.value, d.group) for d in outputs]
