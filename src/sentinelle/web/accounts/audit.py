"""Writing the audit trail: every change made through the web app, the API or a command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.db import models, transaction
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone

from sentinelle.web.access import Principal, principal_of
from sentinelle.web.accounts.models import AuditEntry

M = TypeVar("M", bound=models.Model)


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


def revoke(
    request: HttpRequest,
    rows: models.QuerySet[M],
    pk: int,
    action: str,
    state: Callable[[M], Any],
    **also: Any,
) -> M | None:
    """Revoke one row of ``rows`` (a token, a screen, a suppression: its ``revoked`` time set,
    and the fields ``also`` names, such as who revoked it), audited as ``action`` with
    ``state`` before and after. The row is locked meanwhile, so two requests revoke it once;
    the row when this request revoked it, None when it was revoked already (404 when absent).
    """
    with transaction.atomic():
        row = get_object_or_404(rows.select_for_update(), pk=pk)
        if getattr(row, "revoked", None) is not None:
            return None
        before = state(row)
        for name, value in {"revoked": timezone.now(), **also}.items():
            setattr(row, name, value)
        row.save(update_fields=["revoked", *also])
        record(request, action, row, before=before, after=state(row))
    return row
