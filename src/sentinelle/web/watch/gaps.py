"""Declaring known gaps (maintenance, a host retired): one function for the page and the
command, validated the same way, audited."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.utils import timezone

from sentinelle.errors import ConfigError
from sentinelle.hospital import parse_duration

MAX_DAYS = 366
_MATCH = re.compile(r"^(?:site:[a-z0-9-]{1,64}|[a-z0-9_.*?|:/ -]{1,512})$")


def check_gap(match: str, duration: str, reason: str) -> tuple[str, timedelta, str]:
    """The cleaned (match, length, reason); ConfigError saying what is wrong."""
    text = match.strip().lower()
    if not text or not _MATCH.match(text) or text.strip("*?") == "":
        raise ConfigError(
            f"gap {match!r}: give a host name (with * wildcards), site:ID or a source key"
        )
    seconds = parse_duration(duration)
    if seconds is None or seconds <= 0:
        raise ConfigError(f"gap length {duration!r}: write it as 4h, 30m, 2d, 1d12h")
    if seconds > MAX_DAYS * 86_400:
        raise ConfigError(f"gap length {duration!r}: at most {MAX_DAYS} days (renew it later)")
    if not reason.strip():
        raise ConfigError("say why the source will be quiet (maintenance, host retired...)")
    return text, timedelta(seconds=seconds), reason.strip()[:2000]


def declare_gap(actor: Any, match: str, duration: str, reason: str) -> Any:
    """Create a gap (audited as ``gap.create``); ``actor`` as for ``accounts.audit.record``."""
    from django.db import transaction

    from sentinelle.web.accounts.audit import record
    from sentinelle.web.watch.models import KnownGap

    text, length, why = check_gap(match, duration, reason)
    author = actor if isinstance(actor, str) else getattr(actor, "user", None)
    name = author if isinstance(author, str) else getattr(author, "username", "") or "?"
    with transaction.atomic():
        gap = KnownGap.objects.create(
            match=text, reason=why, author=name[:150], expires=timezone.now() + length
        )
        record(actor, "gap.create", gap, after={"match": text, "reason": why,
                                                "expires": gap.expires.isoformat()})  # fmt: skip
    return gap


def revoke_gap(actor: Any, gap_id: int) -> Any:
    from django.db import transaction

    from sentinelle.web.accounts.audit import record
    from sentinelle.web.watch.models import KnownGap

    with transaction.atomic():
        gap = KnownGap.objects.select_for_update().filter(pk=gap_id).first()
        if gap is None:
            raise ConfigError(f"no known gap #{gap_id}")
        if gap.revoked is None:
            gap.revoked = timezone.now()
            gap.save(update_fields=["revoked"])
            record(actor, "gap.revoke", gap, before={"match": gap.match})
    return gap
