"""An incident's summary, recomputed from its alerts: entities, places, times, severity, and
its ATT&CK chain (tactics in kill-chain order, each with when it was first and last seen; the
same entries as the live grouping's, ``sentinelle.service.store.update_incident``, plus the
techniques and the number of detections).

The live grouping of ``sentinelle serve`` writes the same fields when it opens or grows an
incident; this is what the web app does after a person attaches, merges or splits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from sentinelle.detections import LEVELS
from sentinelle.hunt.attack import tactic_of, techniques_of
from sentinelle.incidents.entities import addresses_of, entities_of_fields
from sentinelle.web.alerts.models import Alert
from sentinelle.web.incidents.models import Incident

EVENTS_LOOKED_AT = 200  # events read for addresses: the same few say what the incident is about


def _sorted_unique(values: Any) -> list[str]:
    return sorted({str(v) for v in values if v})


def chain_of(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tactics in kill-chain order from the alerts' tags, with times, rules and techniques."""
    stages: dict[str, dict[str, Any]] = {}
    for row in rows:
        when: datetime = row["timestamp"] or row["created"]
        tags = row["tags"] if isinstance(row["tags"], list) else []
        techniques = techniques_of(t for t in tags if isinstance(t, str))
        for tag in tags:
            tactic = tactic_of(tag) if isinstance(tag, str) else None
            if tactic is None:
                continue
            stage = stages.setdefault(
                tactic.key,
                {
                    "tactic": tactic.key,
                    "name": tactic.name,
                    "order": tactic.order,
                    "first_seen": when,
                    "last_seen": when,
                    "rules": set(),
                    "techniques": set(),
                    "detections": 0,
                },
            )
            stage["first_seen"] = min(stage["first_seen"], when)
            stage["last_seen"] = max(stage["last_seen"], when)
            stage["rules"].add(row["rule_title"])
            stage["techniques"].update(techniques)
            stage["detections"] += 1
    out = []
    for stage in sorted(stages.values(), key=lambda s: s["order"]):
        out.append(
            {
                "tactic": stage["tactic"],
                "name": stage["name"],
                "order": stage["order"],
                "first_seen": stage["first_seen"].isoformat(),
                "last_seen": stage["last_seen"].isoformat(),
                "detections": stage["detections"],
                "rules": sorted(stage["rules"]),
                "techniques": sorted(stage["techniques"]),
            }
        )
    return out


def refresh(incident: Incident) -> Incident:
    """Recompute the summary fields of ``incident`` from its alerts and save them."""
    rows: list[dict[str, Any]] = [
        dict(row)
        for row in Alert.objects.filter(incident=incident).values(
            "host",
            "account",
            "site",
            "asset",
            "level_rank",
            "tags",
            "timestamp",
            "created",
            "rule_title",
        )
    ]
    events = Alert.objects.filter(incident=incident).values_list("event", flat=True)
    keys: set[str] = set()
    for event in events[:EVENTS_LOOKED_AT]:
        if isinstance(event, dict):
            keys.update(entities_of_fields(event))
    incident.hosts = _sorted_unique(r["host"] for r in rows)
    incident.accounts = _sorted_unique(r["account"] for r in rows)
    incident.sites = _sorted_unique(r["site"] for r in rows)
    incident.assets = _sorted_unique(r["asset"] for r in rows)
    incident.addresses = addresses_of(keys)
    times = [r["timestamp"] or r["created"] for r in rows]
    incident.first_seen = min(times) if times else None
    incident.last_seen = max(times) if times else None
    rank = max((r["level_rank"] for r in rows), default=0)
    incident.severity_rank = rank
    incident.severity = LEVELS[min(rank, len(LEVELS) - 1)]
    incident.chain = chain_of(rows)
    incident.updated = timezone.now()
    incident.save()
    return incident
