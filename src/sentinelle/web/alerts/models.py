"""Alerts (what the detectors found, enriched from the hospital model), suppressions, and the
notification outbox.

An alert's id is deterministic (:func:`sentinelle.service.ids.alert_id`): matching the same
events again, after a crash or a replay, finds the row already there instead of making a
second one. Notifications are an outbox: one row per (alert, route), taken by a conditional
update so exactly one sender wins, retried until sent or given up, never sent twice.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from django.utils import timezone

from sentinelle.web.accounts.models import User


class AlertStatus(models.TextChoices):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    FALSE_POSITIVE = "false_positive"
    RESOLVED = "resolved"


class Alert(models.Model):
    id = models.CharField(max_length=32, primary_key=True)
    rule_id = models.CharField(max_length=128)
    rule_title = models.CharField(max_length=512)
    # "detection" (Sigma), "correlation", "network", and later "probe", "silence".
    rule_type = models.CharField(max_length=16, default="detection")
    level = models.CharField(max_length=16)
    level_rank = models.PositiveSmallIntegerField()  # sentinelle.detections.level_rank
    tags = models.JSONField(default=list, blank=True)
    timestamp = models.DateTimeField(null=True, blank=True)  # when it happened (event time)
    created = models.DateTimeField(default=timezone.now)  # when it was stored
    # The event (single-event rules): its deterministic id and its fields (capped in size).
    event_id = models.CharField(max_length=32, blank=True, default="")
    event = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=1024, blank=True, default="")  # path#record or sender
    input = models.CharField(max_length=32, blank=True, default="")  # syslog-tcp, http, folder...
    # Where, from the hospital model.
    host = models.CharField(max_length=255, blank=True, default="")
    account = models.CharField(max_length=255, blank=True, default="")
    site = models.CharField(max_length=64, blank=True, default="")
    zone = models.CharField(max_length=64, blank=True, default="")
    asset = models.CharField(max_length=128, blank=True, default="")
    services = models.JSONField(default=list, blank=True)  # [{"id", "name", "criticality"}]
    criticality = models.CharField(max_length=16, blank=True, default="")  # the highest
    # Correlations and network detections: the group, the span and the measured value.
    group = models.JSONField(default=dict, blank=True)
    first_seen = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    value = models.FloatField(null=True, blank=True)
    events = models.JSONField(default=list, blank=True)  # contributing events' ids and refs
    details = models.JSONField(default=dict, blank=True)
    # Triage.
    status = models.CharField(max_length=16, choices=AlertStatus, default=AlertStatus.NEW)
    status_reason = models.TextField(blank=True, default="")
    status_changed = models.DateTimeField(null=True, blank=True)
    assignee = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="assigned_alerts"
    )
    incident = models.ForeignKey(
        "incidents.Incident",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="alerts",
    )

    class Meta:
        ordering: ClassVar[list[str]] = ["-created", "-id"]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["created", "id"]),
            models.Index(fields=["timestamp", "id"]),
            models.Index(fields=["status", "level_rank", "created"]),
            models.Index(fields=["site", "created"]),
            models.Index(fields=["host", "created"]),
            models.Index(fields=["account", "created"]),
            models.Index(fields=["rule_id", "created"]),
            models.Index(fields=["event_id"]),
            models.Index(fields=["level_rank", "created"]),  # the list filtered by level
            # The triage list's counts per filter value: any filter on level or status, grouped
            # by any of these columns, is answered from this index alone (no row read).
            models.Index(
                fields=["level_rank", "status", "site", "host", "rule_id", "timestamp"],
                name="alert_facets",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.level} {self.rule_title} on {self.host or '?'}"


class Suppression(models.Model):
    """Alerts the engine stops raising for new events: a rule, a host, a field value, or any
    combination (empty means any); with an expiry, a reason and an author; revocable."""

    rule_id = models.CharField(max_length=128, blank=True, default="")
    host = models.CharField(max_length=255, blank=True, default="")
    field = models.CharField(max_length=128, blank=True, default="")
    value = models.CharField(max_length=1024, blank=True, default="")
    reason = models.TextField()
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="suppressions")
    created = models.DateTimeField(default=timezone.now)
    expires = models.DateTimeField(null=True, blank=True)
    revoked = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    hits = models.PositiveBigIntegerField(default=0)
    last_hit = models.DateTimeField(null=True, blank=True)

    def is_active(self, now: Any = None) -> bool:
        now = now or timezone.now()
        return self.revoked is None and (self.expires is None or self.expires > now)


class Notification(models.Model):
    """The outbox: one message per (alert, route). ``claimed`` is set by the conditional update
    that hands it to one sender; ``sent`` once the channel took it."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="notifications")
    route = models.CharField(max_length=64)
    created = models.DateTimeField(default=timezone.now)
    next_attempt = models.DateTimeField(default=timezone.now)
    claimed = models.DateTimeField(null=True, blank=True)
    sent = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    failed = models.BooleanField(default=False)  # given up after the last retry
    last_error = models.TextField(blank=True, default="")

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["alert", "route"], name="one_notification_per_route")
        ]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["sent", "failed", "next_attempt"])
        ]
