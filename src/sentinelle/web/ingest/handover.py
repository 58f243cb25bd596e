"""What the HTTP ingest views share: the running service's journal and limits, the bound on
requests in progress, and the wait until records are durable.

A view answers success only once :func:`make_durable` returned: the journal's future resolved,
every record is on disk and synced. When the journal cannot take them now, the view answers
503 with ``Retry-After`` (the sender keeps them and tries again; nothing is half-taken: a
refused submission took none of its records).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sentinelle.errors import SentinelleError
from sentinelle.service import runtime
from sentinelle.service.inputs import metrics
from sentinelle.service.inputs.limits import LIMITS_EXTRA, InputLimits
from sentinelle.service.records import Record, RecordSink, Refused


class Unavailable(SentinelleError):
    """The service cannot take records now: answer 503 with ``Retry-After``."""

    def __init__(self, reason: str, detail: str, retry_after: float) -> None:
        super().__init__(detail)
        self.reason = reason  # the counter's reason: refused, busy, not-ready, journal-error
        self.detail = detail
        self.retry_after = retry_after


_DEFAULT_LIMITS = InputLimits()


def current_limits() -> InputLimits:
    """The running service's input limits (the defaults outside a service)."""
    current = runtime.current()
    limits = current.extras.get(LIMITS_EXTRA) if current is not None else None
    return limits if isinstance(limits, InputLimits) else _DEFAULT_LIMITS


def service_sink() -> tuple[RecordSink, InputLimits]:
    """The running service's journal and input limits; Unavailable outside a ready service."""
    current = runtime.current()
    if current is None or not current.ready:
        raise Unavailable("not-ready", "the service is starting or stopping", 5.0)
    return current.sink, current_limits()


def retry_after(exc: Unavailable, input_name: str) -> str:
    """Count a 503 (the journal's refusals are counted where they happen) and give the value
    of its ``Retry-After`` header, in whole seconds."""
    if exc.reason not in ("refused", "journal-error"):
        metrics.REFUSED.labels(input_name, exc.reason).inc()
    return str(max(1, round(exc.retry_after)))


class RequestSlots:
    """Requests being processed at once, against ``max_concurrent_requests`` (on the loop)."""

    def __init__(self) -> None:
        self.active = 0

    def enter(self, limits: InputLimits) -> None:
        if self.active >= limits.max_concurrent_requests:
            raise Unavailable("busy", "too many ingest requests in progress", 1.0)
        self.active += 1

    def leave(self) -> None:
        self.active -= 1


SLOTS = RequestSlots()


async def make_durable(sink: RecordSink, records: Sequence[Record], input_name: str) -> int:
    """Submit ``records`` and wait until the journal has synced them: the last sequence
    number. Unavailable when the journal refused them (none of them was taken)."""
    if not records:
        return 0
    try:
        last = await asyncio.wrap_future(sink.submit(records))
    except Refused as exc:
        metrics.REFUSED.labels(input_name, "refused").inc()
        raise Unavailable("refused", exc.reason, max(1.0, exc.retry_after)) from exc
    except Exception as exc:
        metrics.REFUSED.labels(input_name, "journal-error").inc()
        raise Unavailable("journal-error", type(exc).__name__, 5.0) from exc
    metrics.EVENTS.labels(input_name).inc(len(records))
    return int(last)
