"""Handing records to the journal from the event loop: submit, and hear back on the loop.

:meth:`RecordSink.submit` answers with a ``concurrent.futures.Future`` completed by the
journal's own thread; :func:`submit` wraps it so that its outcome is handled on the event loop
(no lock needed in the inputs), and turns the three ways a submission can fail into one
:class:`Outcome`: refused now (``Refused`` raised by ``submit``), refused later (the future
fails with ``Refused``), or a journal fault (anything else: logged, treated as a refusal so
that the sender retries, never a crash of the input).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sentinelle.service.log import log_event
from sentinelle.service.records import Record, RecordSink, Refused

log = logging.getLogger("sentinelle.inputs")

# Bounds on how long an input waits before trying a refused submission again, whatever the
# journal's hint: never a busy loop, never a long stall once space is back.
MIN_RETRY = 0.05
MAX_RETRY = 5.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a submission ended: ``accepted`` (durable), else ``reason`` and ``retry_after``."""

    accepted: bool
    reason: str = ""
    retry_after: float = 0.0


def retry_delay(seconds: float) -> float:
    return min(max(seconds, MIN_RETRY), MAX_RETRY)


def _failure(exc: BaseException, input_name: str) -> Outcome:
    if isinstance(exc, Refused):
        return Outcome(False, "refused", retry_delay(exc.retry_after))
    log_event(
        log,
        "input.journal_error",
        logging.ERROR,
        input=input_name,
        error=f"{type(exc).__name__}: {exc}",
    )
    return Outcome(False, "journal-error", 1.0)


def submit(
    sink: RecordSink,
    records: Sequence[Record],
    input_name: str,
    done: Callable[[Outcome], None],
) -> Outcome | None:
    """Submit ``records``; ``done`` is called on the loop once they are durable or not.

    Returns the outcome at once when the journal refused them outright (``done`` is then not
    called), else None.
    """
    try:
        future = sink.submit(records)
    except Exception as exc:  # noqa: BLE001 - the journal's boundary: any fault is a refusal
        return _failure(exc, input_name)

    def finished(wrapped: asyncio.Future[int]) -> None:
        if wrapped.cancelled():
            done(Outcome(False, "journal-error", 1.0))
            return
        exc = wrapped.exception()
        done(Outcome(True) if exc is None else _failure(exc, input_name))

    asyncio.wrap_future(future).add_done_callback(finished)
    return None
