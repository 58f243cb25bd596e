"""Writing the audit trail: every change made through the web app, the API or a command."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.http import HttpRequest

from sentinelle.web.access import Principal, principal_of
from sentinelle.web.accounts.models import AuditEntry


def record(
    actor: Principal | HttpRequest | str,
    action: str,
    obj: models.Model | tuple[str, str],
    *,
    before: Any = None,
    after: Any = None,
) -> AuditEntry:
    """Append one entry. ``actor`` is the request (its principal and address), a principal,
    or a plain name for the system and command-line tools (``"cli:users create"``)."""
    address = ""
    if isinstance(actor, HttpRequest):
        address = str(actor.META.get("REMOTE_ADDR", ""))[:64]
        actor = principal_of(actor)
    if isinstance(actor, Principal):
        name, kind, user_id = actor.name, actor.kind, actor.user_id
    else:
        name, kind, user_id = actor, "system", None
    if isinstance(obj, models.Model):
        object_type, object_id = obj._meta.label_lower, str(obj.pk)
    else:
        object_type, object_id = obj
    return AuditEntry.objects.create(
        actor=name[:150],
        actor_kind=kind,
        user_id=user_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
        address=address,
    )
