"""Incidents and what an analyst attaches to them.

An incident is opened by the live grouping (``key`` is then the grouping's deterministic key,
so a replay finds it again) or by hand; merged (the absorbed one points at the survivor) and
split. Its alerts point at it (``Alert.incident``). Impact and containment come from the
hospital model through the same engine as ``sentinelle impact``.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone

from sentinelle.web.accounts.models import User


class IncidentStatus(models.TextChoices):
    OPEN = "open"
    CONTAINED = "contained"
    CLOSED = "closed"
    MERGED = "merged"


class Incident(models.Model):
    key = models.CharField(max_length=64, unique=True, null=True, blank=True)
    title = models.CharField(max_length=512)
    status = models.CharField(max_length=16, choices=IncidentStatus, default=IncidentStatus.OPEN)
    origin = models.CharField(max_length=16, default="grouping")  # grouping, manual, split
    severity = models.CharField(max_length=16, default="informational")
    severity_rank = models.PositiveSmallIntegerField(default=0)
    opened = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(default=timezone.now)
    first_seen = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    # Entities and places, as lists of names (ids of the hospital model where known).
    hosts = models.JSONField(default=list, blank=True)
    sites = models.JSONField(default=list, blank=True)
    assets = models.JSONField(default=list, blank=True)
    addresses = models.JSONField(default=list, blank=True)
    accounts = models.JSONField(default=list, blank=True)
    chain = models.JSONField(default=list, blank=True)  # [{tactic, first_seen, last_seen, rules}]
    impact = models.JSONField(default=dict, blank=True)  # services x sites, as last computed
    summary = models.TextField(blank=True, default="")
    owner = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="owned_incidents"
    )
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="absorbed"
    )
    # Significance (crisis room part 2): declared by a person; starts the regulatory clocks.
    significant_at = models.DateTimeField(null=True, blank=True)
    significant_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering: ClassVar[list[str]] = ["-last_seen", "-id"]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["status", "severity_rank", "last_seen"]),
            models.Index(fields=["updated"]),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"


class TaskState(models.TextChoices):
    TODO = "todo"
    DOING = "doing"
    DONE = "done"


class Task(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(max_length=512)
    owner = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="tasks"
    )
    due = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=8, choices=TaskState, default=TaskState.TODO)
    created = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")


class Note(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created = models.DateTimeField(default=timezone.now)
    text = models.TextField()


class IndicatorKind(models.TextChoices):
    """STIX 2.1 cyber-observable kinds an analyst records (exported to STIX and MISP)."""

    IPV4 = "ipv4-addr"
    IPV6 = "ipv6-addr"
    DOMAIN = "domain-name"
    URL = "url"
    EMAIL = "email-addr"
    SHA256 = "file:sha256"
    SHA1 = "file:sha1"
    MD5 = "file:md5"
    FILE_NAME = "file:name"
    ACCOUNT = "user-account"
    PROCESS = "process:command_line"


class Indicator(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="indicators")
    kind = models.CharField(max_length=32, choices=IndicatorKind)
    value = models.CharField(max_length=2048)
    comment = models.TextField(blank=True, default="")
    created = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["incident", "kind", "value"], name="one_indicator_per_value"
            )
        ]


class Evidence(models.Model):
    """A file attached to an incident: stored under the data folder by its SHA-256, outside any
    served path, and given back only as a download."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="evidence")
    name = models.CharField(max_length=255)  # the uploaded name, sanitised, for display only
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    content_type = models.CharField(max_length=128, blank=True, default="")
    uploaded = models.DateTimeField(default=timezone.now)
    uploaded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")


class ContainmentState(models.TextChoices):
    SIMULATED = "simulated"
    TAKEN = "taken"
    REVERTED = "reverted"


class ContainmentAction(models.Model):
    """A containment action simulated before it is taken ("what does cutting the internet cost,
    where?"), and recorded when taken, with who decided. ``kind`` and ``target`` are those of
    ``sentinelle impact`` (cut internet, isolate a site, shut or disable a component)."""

    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.PROTECT, related_name="containment"
    )
    kind = models.CharField(max_length=32)
    target = models.CharField(max_length=255, blank=True, default="")
    state = models.CharField(
        max_length=16, choices=ContainmentState, default=ContainmentState.SIMULATED
    )
    impact = models.JSONField(default=dict, blank=True)
    note = models.TextField(blank=True, default="")
    created = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reverted_at = models.DateTimeField(null=True, blank=True)
