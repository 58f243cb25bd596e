"""What the crisis cell keeps: the board's state and its changes, declarations, the crisis log,
the regulatory clocks, contacts, kiosk screens and who is in the cell.

Nothing here is ever deleted. A declaration is ended or superseded; a log entry is corrected by a
new entry; a contact is retired; a kiosk screen is revoked; a member leaves the cell. The board's
current state (:class:`ServiceStatus`) is derived (``crisis.board`` rewrites it), its changes
(:class:`StatusChange`) are history, as Healthchecks' flips are.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from sentinelle.web.accounts.models import AppendOnlyError, User
from sentinelle.web.incidents.models import Incident


class Status(models.TextChoices):
    """A service's status at a site, worst last (the impact engine's states)."""

    OPERATIONAL = "operational", _("operational")
    AT_RISK = "at-risk", _("at risk")
    DEGRADED = "degraded", _("degraded")
    DOWN = "down", _("down")


STATUS_RANK = {Status.OPERATIONAL: 0, Status.AT_RISK: 1, Status.DEGRADED: 2, Status.DOWN: 3}


_M = TypeVar("_M", bound=models.Model)


class KeptQuerySet(models.QuerySet[_M]):
    """Rows that are ended, retired or revoked, never deleted."""

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError(f"{self.model._meta.verbose_name} rows are never deleted")


class Kept(models.Model):
    objects = KeptQuerySet.as_manager()

    class Meta:
        abstract = True

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError(f"{self._meta.verbose_name} rows are never deleted")


class CellMembership(Kept):
    """A person in the crisis cell beside their own role (an analyst who also sits in the
    cell may then declare an incident significant). Leaving sets ``removed``; never deleted."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="cell_memberships")
    added = models.DateTimeField(default=timezone.now)
    added_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    removed = models.DateTimeField(null=True, blank=True)
    removed_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["user"], condition=models.Q(removed__isnull=True), name="one_active_seat"
            )
        ]


class Board(models.Model):
    """One row: the revision every change the board shows is stamped with (the live feed reads
    what is newer than the revision it has), and when the board was last computed."""

    revision = models.PositiveBigIntegerField(default=0)
    computed = models.DateTimeField(null=True, blank=True)
    inputs = models.CharField(max_length=64, blank=True, default="")  # digest of the last inputs


class ServiceStatus(models.Model):
    """A service at a site as the board shows it now, with the source of its status and what
    every source said (``sources``: predicted, seen, declared)."""

    site = models.CharField(max_length=64)
    service = models.CharField(max_length=128)
    status = models.CharField(max_length=16, choices=Status)
    source = models.CharField(max_length=16)  # predicted, seen, declared
    reason = models.TextField(blank=True, default="")  # in English (the API's, the exports')
    why = models.JSONField(default=list, blank=True)  # the reason as parts (web.reasons)
    sources = models.JSONField(default=dict)
    since = models.DateTimeField(default=timezone.now)  # the status, not the reason
    revision = models.PositiveBigIntegerField(default=0, db_index=True)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["site", "service"], name="one_status_per_cell")
        ]


class StatusChange(Kept):
    """A status flip of one service at one site: old status, new status, time and reason."""

    site = models.CharField(max_length=64)
    service = models.CharField(max_length=128)
    old = models.CharField(max_length=16, choices=Status, blank=True, default="")
    new = models.CharField(max_length=16, choices=Status)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    source = models.CharField(max_length=16)
    reason = models.TextField(blank=True, default="")  # in English
    why = models.JSONField(default=list, blank=True)  # the reason as parts (web.reasons)

    class Meta:
        ordering: ClassVar[list[str]] = ["-at", "-id"]
        indexes: ClassVar[list[models.Index]] = [models.Index(fields=["site", "service", "at"])]


class Declaration(Kept):
    """A person's word on a service at a site: its status, why, until when they expect it.
    Ended (``ended``) or replaced by a newer declaration (``superseded_by``), never deleted."""

    site = models.CharField(max_length=64)
    service = models.CharField(max_length=128)
    status = models.CharField(max_length=16, choices=Status)
    reason = models.TextField()
    expected_end = models.DateTimeField(null=True, blank=True)
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    ended = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering: ClassVar[list[str]] = ["-at", "-id"]
        indexes: ClassVar[list[models.Index]] = [models.Index(fields=["site", "service", "at"])]

    @property
    def active(self) -> bool:
        """Neither ended by a person nor superseded (it may have expired meanwhile)."""
        return self.ended is None and self.superseded_by_id is None

    @property
    def expired(self) -> bool:
        """Active, but past its expected end: the board no longer applies it."""
        return self.active and self.expected_end is not None and self.expected_end <= timezone.now()


class EntryKind(models.TextChoices):
    DECISION = "decision", _("decision")
    INFORMATION = "information", _("information")
    ACTION = "action", _("action")
    COMMUNICATION = "communication", _("communication")


class LogEntryQuerySet(models.QuerySet["LogEntry"]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("the crisis log is append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("the crisis log is append-only")


class LogEntry(models.Model):
    """One entry of the crisis log (main courante), chained to the one before it by its hash
    (``crisis.chain``). Append-only: a correction is a new entry pointing at the one corrected."""

    seq = models.PositiveBigIntegerField(unique=True)
    kind = models.CharField(max_length=16, choices=EntryKind)
    at = models.DateTimeField()
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    author_name = models.CharField(max_length=150)  # as it was when written
    text = models.TextField()
    incidents = models.JSONField(default=list, blank=True)  # incident ids
    services = models.JSONField(default=list, blank=True)  # service ids of the model
    sites = models.JSONField(default=list, blank=True)  # site ids of the model
    corrects = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="corrections"
    )
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = LogEntryQuerySet.as_manager()

    class Meta:
        ordering: ClassVar[list[str]] = ["seq"]

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("the crisis log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("the crisis log is append-only")


class ClockRule(models.Model):
    """Whether one regulatory clock applies to this establishment, to whom, and how it is sent.
    A kind without a row takes the defaults of ``crisis.clocks.KINDS``."""

    kind = models.CharField(max_length=32, unique=True)
    applies = models.BooleanField(default=True)
    authority = models.CharField(max_length=255, blank=True, default="")
    channel = models.CharField(max_length=500, blank=True, default="")  # the portal, a number
    updated = models.DateTimeField(default=timezone.now)


class Clock(Kept):
    """A regulatory deadline running for a significant incident, with its draft to complete,
    print, mark sent (who, when, how) and export."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="clocks")
    kind = models.CharField(max_length=32)
    started = models.DateTimeField()
    due = models.DateTimeField()
    authority = models.CharField(max_length=255, blank=True, default="")
    channel = models.CharField(max_length=500, blank=True, default="")
    draft = models.JSONField(default=dict)  # section -> text (crisis.clocks.SECTIONS)
    sent = models.DateTimeField(null=True, blank=True)
    sent_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    sent_how = models.CharField(max_length=255, blank=True, default="")
    sent_reference = models.CharField(max_length=255, blank=True, default="")
    revision = models.PositiveBigIntegerField(default=0, db_index=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["due", "id"]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["incident", "kind"], name="one_clock_per_kind")
        ]


class Contact(Kept):
    """Someone to reach when mail is down: role, name, phones, radio channel. Retired contacts
    stay (``active`` off) so that the log and old booklets keep meaning something."""

    role = models.CharField(max_length=200)
    name = models.CharField(max_length=200)
    organisation = models.CharField(max_length=200, blank=True, default="")
    phones = models.CharField(max_length=500, blank=True, default="")
    radio = models.CharField(max_length=200, blank=True, default="")
    site = models.CharField(max_length=64, blank=True, default="")
    notes = models.TextField(blank=True, default="")
    position = models.PositiveIntegerField(default=100)
    active = models.BooleanField(default=True)
    updated = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering: ClassVar[list[str]] = ["position", "role", "name", "id"]


class KioskScreen(Kept):
    """A screen in a service showing the board read-only, through an address holding a secret
    (stored as its SHA-256, shown once). A screen needs no account and no session that
    expires at night; revoking the secret stops it."""

    name = models.CharField(max_length=100)
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    sites = models.JSONField(default=list, blank=True)  # empty: every site
    created = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    revoked = models.DateTimeField(null=True, blank=True)
