"""People, machine tokens and the audit trail.

People are never deleted, only disabled (``is_active``), so the audit trail and the crisis log
keep naming who did what. Tokens are stored as their SHA-256 only; the token itself is shown once,
when made. The audit trail is append-only: a saved entry cannot be changed or deleted through
the ORM (no route offers either), and each entry records who, what, when, before and after.
"""

from __future__ import annotations

import secrets
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from sentinelle.web.access import Role, TokenRole, token_digest

TOKEN_PREFIX = "snt_"  # noqa: S105 - a marker that lets scanners spot leaked tokens


class User(AbstractUser):
    role = models.CharField(max_length=16, choices=[(r.value, r.value) for r in Role])
    language = models.CharField(max_length=8, blank=True, default="")

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("users are disabled, never deleted")


class AppendOnlyError(Exception):
    """An attempt to change or remove a row of an append-only table."""


class ApiTokenManager(models.Manager["ApiToken"]):
    def create_token(
        self, name: str, role: TokenRole | str, created_by: User | None = None
    ) -> tuple[ApiToken, str]:
        """A new token: the row, and the secret (shown once, never stored)."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = self.create(
            name=name,
            role=str(TokenRole(role)),
            digest=token_digest(secret),
            prefix=secret[:10],
            created_by=created_by,
        )
        return row, secret

    def authenticate(self, secret: str) -> ApiToken | None:
        if len(secret) > 256:
            return None
        row = self.filter(digest=token_digest(secret), revoked__isnull=True).first()
        if row is None:
            return None
        now = timezone.now()
        # At most one write a minute per token: ingest calls this for every request.
        if row.last_used is None or (now - row.last_used).total_seconds() > 60:
            type(row).objects.filter(pk=row.pk).update(last_used=now)
        return row


class ApiToken(models.Model):
    name = models.CharField(max_length=100)
    role = models.CharField(max_length=16, choices=[(r.value, r.value) for r in TokenRole])
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=16)  # shown in lists so a token can be recognised
    created = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT)
    last_used = models.DateTimeField(null=True, blank=True)
    revoked = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[ApiTokenManager] = ApiTokenManager()

    def __str__(self) -> str:
        return f"{self.name} ({self.role}, {self.prefix}…)"


class AuditQuerySet(models.QuerySet["AuditEntry"]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("the audit trail is append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("the audit trail is append-only")


class AuditEntry(models.Model):
    """One change: who (person or token), what (action on an object), when, before and after."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(max_length=150)  # the name as it was, even if the user is renamed
    actor_kind = models.CharField(max_length=16)  # "user", "token", "system"
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT)
    action = models.CharField(max_length=64)  # "alert.acknowledge", "user.create"...
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    address = models.CharField(max_length=64, blank=True, default="")

    objects = AuditQuerySet.as_manager()

    class Meta:
        indexes: ClassVar[list[models.Index]] = [models.Index(fields=["object_type", "object_id"])]
        ordering: ClassVar[list[str]] = ["at", "id"]

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("the audit trail is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("the audit trail is append-only")
