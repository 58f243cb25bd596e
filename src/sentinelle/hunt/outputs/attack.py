"""ATT&CK Navigator layer (layer format 4.5) of the techniques a hunt detected.

A technique's score is the number of distinct rules that detected it, not the number of
detections: one noisy rule firing a thousand times on a service scan would otherwise flatten
the colour of every other technique to nothing. Each technique's comment names its rules with
their detection counts, and its metadata gives both numbers. A detected sub-technique also
lists its parent with ``showSubtechniques`` so the Navigator opens it expanded.

The layer names the hunt (its inputs and the time span of its detections) and the ATT&CK
version of its technique ids, derived from the ids themselves (``attack_releases``): the
Navigator drops the ids a version lacks, so a wrong version hides techniques.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from sentinelle.hunt.outputs.attack_releases import SOURCE, Release, derive_release
from sentinelle.hunt.outputs.fields import utc_text
from sentinelle.hunt.summary import HuntSummary

LAYER_VERSION = "4.5"
NAVIGATOR_VERSION = "5.1.0"

# How many rule names a technique's comment lists before summarising the rest.
_MAX_RULES_IN_COMMENT = 10
# How many inputs the layer's name lists before counting the rest.
_MAX_INPUTS_IN_NAME = 3
_NAME_LIMIT = 200


def layer_name(summary: HuntSummary, inputs: Sequence[str] = ()) -> str:
    """``Sentinelle hunt of <inputs>, <first> to <last> UTC``: which hunt the layer shows."""
    shown = ", ".join(inputs[:_MAX_INPUTS_IN_NAME])
    if len(inputs) > _MAX_INPUTS_IN_NAME:
        shown += f" and {len(inputs) - _MAX_INPUTS_IN_NAME} more"
    name = f"Sentinelle hunt of {shown}" if shown else "Sentinelle hunt"
    if summary.first is not None and summary.last is not None:
        fmt = "%Y-%m-%d %H:%M"
        name += f", {utc_text(summary.first, fmt)} to {utc_text(summary.last, fmt)} UTC"
    if len(name) > _NAME_LIMIT:
        name = name[: _NAME_LIMIT - 1] + "…"
    return name


@dataclass(frozen=True, slots=True)
class Scored:
    """One technique's cell in a layer: its score, comment and metadata (name, value)."""

    score: int
    comment: str = ""
    metadata: tuple[tuple[str, str], ...] = ()


def technique_layer(
    name: str,
    description: str,
    release: Release,
    scored: Mapping[str, Scored],
    metadata: Sequence[tuple[str, str]] = (),
    colors: tuple[str, str] = ("#fff7e6ff", "#d7301fff"),
) -> dict[str, Any]:
    """An ATT&CK Navigator layer (format 4.5) of ``scored`` techniques (ids as ``release``
    shows them). A scored sub-technique also lists its parent with ``showSubtechniques`` so the
    Navigator opens it expanded. Shared by the hunt's layer and the coverage layer."""
    parents_to_open = {t.split(".")[0] for t in scored if "." in t}
    techniques: list[dict[str, Any]] = []
    for technique in sorted(set(scored) | parents_to_open):
        entry: dict[str, Any] = {
            "techniqueID": technique,
            "enabled": True,
            "showSubtechniques": technique in parents_to_open,
        }
        cell = scored.get(technique)
        if cell is not None:
            entry["score"] = cell.score
            entry["comment"] = cell.comment
            entry["metadata"] = [{"name": k, "value": v} for k, v in cell.metadata]
        techniques.append(entry)
    top = max((c.score for c in scored.values()), default=1) or 1
    return {
        "name": name[: _NAME_LIMIT - 1] + "…" if len(name) > _NAME_LIMIT else name,
        "versions": {
            "attack": release.version,
            "navigator": NAVIGATOR_VERSION,
            "layer": LAYER_VERSION,
        },
        "domain": "enterprise-attack",
        "description": description,
        "sorting": 3,
        "hideDisabled": False,
        "techniques": techniques,
        "gradient": {"colors": list(colors), "minValue": 0, "maxValue": top},
        "legendItems": [],
        "metadata": [
            *({"name": k, "value": v} for k, v in metadata),
            {"name": "ATT&CK data", "value": SOURCE},
        ],
        "links": [],
        "showTacticRowBackground": False,
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
        "selectVisibleTechniques": False,
    }


def attack_layer(summary: HuntSummary, inputs: Sequence[str] = ()) -> dict[str, Any]:
    release = derive_release(summary.by_technique)
    detections: Counter[str] = Counter()
    rules: dict[str, Counter[str]] = {}
    for technique, count in summary.by_technique.items():
        shown = release.shown(technique)
        detections[shown] += count
        rules.setdefault(shown, Counter()).update(summary.rules_by_technique.get(technique, {}))
    scored: dict[str, Scored] = {}
    for technique in detections:
        by_rule = rules.get(technique, Counter())
        listed = by_rule.most_common(_MAX_RULES_IN_COMMENT)
        comment = "; ".join(f"{title} ({count})" for title, count in listed)
        if len(by_rule) > len(listed):
            comment += f"; and {len(by_rule) - len(listed)} more rules"
        scored[technique] = Scored(
            len(by_rule),
            comment,
            (("rules", str(len(by_rule))), ("detections", str(detections[technique]))),
        )
    described = (
        f"{summary.detections:,} detections over {summary.events:,} events from "
        f"{summary.files:,} files. Score: the number of distinct rules that detected the "
        "technique (a rule that fires a thousand times counts once); each comment lists the "
        f"rules with their detections. ATT&CK v{release.version}, from the technique ids: "
        f"{release.reason}."
    )
    return technique_layer(
        layer_name(summary, inputs),
        described,
        release,
        scored,
        [
            ("inputs", "; ".join(inputs)[:1000]),
            ("first detection", utc_text(summary.first)),
            ("last detection", utc_text(summary.last)),
            ("score", "distinct rules per technique"),
        ],
    )


def write_attack_layer(path: Path, summary: HuntSummary, inputs: Sequence[str] = ()) -> None:
    """Write the layer for ``summary`` to ``path`` (whole file, replaced atomically)."""
    data = orjson.dumps(
        attack_layer(summary, inputs), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
    )
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data + b"\n")
    tmp.replace(path)
