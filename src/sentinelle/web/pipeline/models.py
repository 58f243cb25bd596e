"""The live pipeline's own state in the store: the detector's checkpoint, the watched folder's
files. The events themselves live in the journal (``sentinelle.service.journal``), not here.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Checkpoint(models.Model):
    """How far a consumer of the journal got, and its state at that point.

    ``position`` is the last journal sequence number fully processed; ``state`` the pickled
    window state of the correlations and network detectors at exactly that position, written
    in the same transaction as the alerts it produced, so a restart resumes consistently.
    """

    name = models.CharField(max_length=64, primary_key=True)
    position = models.BigIntegerField(default=0)
    state = models.BinaryField(null=True, blank=True)
    rules_digest = models.CharField(max_length=64, blank=True, default="")
    updated = models.DateTimeField(default=timezone.now)


class IngestedFile(models.Model):
    """A file of the watched folder, read once (also across restarts)."""

    path = models.TextField(unique=True)
    size = models.BigIntegerField()
    mtime = models.FloatField()
    digest = models.CharField(max_length=64, blank=True, default="")
    state = models.CharField(max_length=16, default="done")  # done, failed, reading
    events = models.BigIntegerField(default=0)
    issues = models.JSONField(default=list, blank=True)
    read_at = models.DateTimeField(default=timezone.now)
