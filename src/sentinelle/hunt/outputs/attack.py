"""ATT&CK Navigator layer (layer format 4.5) scoring the techniques a hunt detected.

A technique's score is the number of detections tagged with it; its comment names the rules
behind them. A detected sub-technique also lists its parent with ``showSubtechniques`` so the
Navigator opens it expanded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from sentinelle.hunt.summary import HuntSummary

LAYER_VERSION = "4.5"
NAVIGATOR_VERSION = "5.1.0"
ATTACK_VERSION = "17"

# How many rule names a technique's comment lists before summarising the rest.
_MAX_RULES_IN_COMMENT = 10


def attack_layer(summary: HuntSummary, name: str = "Sentinelle hunt") -> dict[str, Any]:
    techniques: list[dict[str, Any]] = []
    scored = summary.by_technique
    parents_to_open = {t.split(".")[0] for t in scored if "." in t}
    for technique in sorted(set(scored) | parents_to_open):
        entry: dict[str, Any] = {
            "techniqueID": technique,
            "enabled": True,
            "showSubtechniques": technique in parents_to_open,
        }
        if technique in scored:
            rules = summary.rules_by_technique.get(technique)
            listed = rules.most_common(_MAX_RULES_IN_COMMENT) if rules else []
            comment = "; ".join(f"{title} ({count})" for title, count in listed)
            if rules and len(rules) > len(listed):
                comment += f"; and {len(rules) - len(listed)} more rules"
            entry["score"] = scored[technique]
            entry["comment"] = comment
            entry["metadata"] = [{"name": "rules", "value": str(len(rules or ()))}]
        techniques.append(entry)
    top = max(scored.values(), default=1)
    return {
        "name": name,
        "versions": {
            "attack": ATTACK_VERSION,
            "navigator": NAVIGATOR_VERSION,
            "layer": LAYER_VERSION,
        },
        "domain": "enterprise-attack",
        "description": (
            f"{summary.detections} detections over {summary.events} events "
            f"from {summary.files} files; score = detections per technique"
        ),
        "sorting": 3,
        "hideDisabled": False,
        "techniques": techniques,
        "gradient": {"colors": ["#fff7e6ff", "#d7301fff"], "minValue": 0, "maxValue": top},
        "legendItems": [],
        "metadata": [],
        "links": [],
        "showTacticRowBackground": False,
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
        "selectVisibleTechniques": False,
    }


def write_attack_layer(path: Path, summary: HuntSummary) -> None:
    """Write the layer for ``summary`` to ``path`` (whole file, replaced atomically)."""
    data = orjson.dumps(attack_layer(summary), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data + b"\n")
    tmp.replace(path)
