"""What watching stores: probe states, their changes and daily uptime; each source's learned
rhythm and when it becomes late; declared known gaps.

Following Healthchecks: a state change is a row (``ProbeFlip``), and silence is a column
(``SourceRhythm.late_after``): one indexed query, oldest first, finds every source that went
quiet, whatever the number of sources.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone


class ProbeStatus(models.Model):
    """The current state of one probe (one row per probe of the model)."""

    probe = models.CharField(max_length=64, primary_key=True)
    component = models.CharField(max_length=64)
    site = models.CharField(max_length=64, blank=True, default="")  # empty: everywhere
    kind = models.CharField(max_length=8)
    target = models.CharField(max_length=2048)
    state = models.CharField(max_length=16, blank=True, default="")  # empty: pending
    since = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True, default="")
    checked = models.DateTimeField(null=True, blank=True)  # the latest run
    last_status = models.CharField(max_length=16, blank=True, default="")  # the latest run's
    last_reason = models.TextField(blank=True, default="")
    elapsed_ms = models.FloatField(null=True, blank=True)

    class Meta:
        indexes: ClassVar[list[models.Index]] = [models.Index(fields=["component", "site"])]


class ProbeFlip(models.Model):
    """A probe's state changed (old, new, when, why); ``alert`` when it raised one."""

    probe = models.CharField(max_length=64)
    component = models.CharField(max_length=64)
    site = models.CharField(max_length=64, blank=True, default="")
    old = models.CharField(max_length=16, blank=True, default="")
    new = models.CharField(max_length=16)
    at = models.DateTimeField()
    reason = models.TextField(blank=True, default="")
    alert = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        ordering: ClassVar[list[str]] = ["-at", "-id"]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["probe", "at"]),
            models.Index(fields=["at"]),
        ]


class ProbeDay(models.Model):
    """Runs of one probe on one UTC day, by result: the uptime history."""

    probe = models.CharField(max_length=64)
    component = models.CharField(max_length=64)
    site = models.CharField(max_length=64, blank=True, default="")
    day = models.DateField()
    up = models.PositiveIntegerField(default=0)
    degraded = models.PositiveIntegerField(default=0)
    down = models.PositiveIntegerField(default=0)
    other = models.PositiveIntegerField(default=0)  # unknown, maintenance

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["probe", "day"], name="one_probe_day")
        ]
        indexes: ClassVar[list[models.Index]] = [models.Index(fields=["component", "site", "day"])]

    @property
    def uptime(self) -> float | None:
        counted = self.up + self.degraded + self.down
        return (self.up + self.degraded) / counted if counted else None


class SourceRhythm(models.Model):
    """One source of events (a host and channel, a firewall, a flow exporter), its learned
    rhythm, and ``late_after``: when its silence starts to mean something."""

    key = models.CharField(max_length=512, unique=True)
    kind = models.CharField(max_length=8)  # "log" or "flow"
    host = models.CharField(max_length=255, blank=True, default="")
    channel = models.CharField(max_length=255, blank=True, default="")
    input = models.CharField(max_length=32, blank=True, default="")
    site = models.CharField(max_length=64, blank=True, default="")
    asset = models.CharField(max_length=128, blank=True, default="")
    rhythm = models.JSONField(default=dict, blank=True)  # sentinelle.watch.rhythm.Rhythm
    events = models.PositiveBigIntegerField(default=0)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    late_after = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=16, default="learning")
    state_since = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True, default="")
    alert = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["late_after"]),
            models.Index(fields=["site", "last_seen"]),
            models.Index(fields=["state", "last_seen"]),
        ]


class KnownGap(models.Model):
    """A declared reason for silence (maintenance, a host retired), until ``expires``.

    ``match`` is a host name (``*`` wildcards allowed), ``site:ID`` or a source key."""

    match = models.CharField(max_length=512)
    reason = models.TextField()
    author = models.CharField(max_length=150)
    created = models.DateTimeField(default=timezone.now)
    expires = models.DateTimeField()
    revoked = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes: ClassVar[list[models.Index]] = [models.Index(fields=["expires"])]


class SeenFields(models.Model):
    """The fields the events of one channel and event id were seen to carry (populated): what
    coverage asks to tell which rules can fire. ``event_id`` is -1 for events without one."""

    channel = models.CharField(max_length=255)  # lower case; "" for events without a channel
    event_id = models.IntegerField(default=-1)
    fields = models.JSONField(default=list, blank=True)
    events = models.PositiveBigIntegerField(default=0)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["channel", "event_id"], name="one_seen_fields")
        ]
        indexes: ClassVar[list[models.Index]] = [models.Index(fields=["last_seen"])]
