"""One incident absorbed into another: what a person's merge and the live grouping both do.

Everything attached to the absorbed incident moves to the survivor (alerts, tasks, notes,
evidence, containment actions, and the indicators the survivor does not already hold); the
absorbed one stays, with status ``merged`` and ``merged_into`` pointing at the survivor, so
links to it still lead somewhere and the audit trail keeps both. The caller holds both rows
locked in its transaction and writes its own audit entries; the survivor's summary is
recomputed here (``summary.refresh``).
"""

from __future__ import annotations

from django.utils import timezone

from sentinelle.web.alerts.models import Alert
from sentinelle.web.incidents.models import (
    ContainmentAction,
    Evidence,
    Incident,
    IncidentStatus,
    Note,
    Task,
)
from sentinelle.web.incidents.summary import refresh


def absorb(absorbed: Incident, survivor: Incident) -> int:
    """Move what ``absorbed`` holds into ``survivor``; the number of alerts moved."""
    moved = Alert.objects.filter(incident=absorbed).update(incident=survivor)
    Task.objects.filter(incident=absorbed).update(incident=survivor)
    Note.objects.filter(incident=absorbed).update(incident=survivor)
    Evidence.objects.filter(incident=absorbed).update(incident=survivor)
    ContainmentAction.objects.filter(incident=absorbed).update(incident=survivor)
    kept = set(survivor.indicators.values_list("kind", "value"))
    for indicator in absorbed.indicators.all():
        if (indicator.kind, indicator.value) not in kept:
            indicator.incident = survivor
            indicator.save(update_fields=["incident"])
    absorbed.status = IncidentStatus.MERGED
    absorbed.merged_into = survivor
    absorbed.updated = timezone.now()
    absorbed.save()
    refresh(survivor)
    return moved
