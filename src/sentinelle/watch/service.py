"""Watching inside ``sentinelle serve``: the probe scheduler and the silent-source evaluator on
the service's event loop, their writes to the store in a worker thread.

The runner starts one :class:`Watcher` after the listeners and stops it before the journal
closes. Probe results are kept in memory (:class:`~sentinelle.watch.state.ProbeBook`) and
written every ``flush_seconds`` in one transaction; a failed write is logged and retried with
the next drain's (the book is drained only when the write succeeded).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sentinelle.errors import SentinelleError
from sentinelle.hospital import HospitalModel, load_model
from sentinelle.hospital.probes import ProbeSpec
from sentinelle.service.log import log_event
from sentinelle.watch.outcome import Result
from sentinelle.watch.scheduler import Limits, Scheduler
from sentinelle.watch.state import ProbeBook

log = logging.getLogger("sentinelle.watch")
FLUSH_SECONDS = 5.0
SILENCE_SECONDS = 30.0


class Watcher:
    """Probes on schedule and silence evaluation, for one service."""

    def __init__(
        self,
        config: Any,
        *,
        flush_seconds: float = FLUSH_SECONDS,
        silence_seconds: float = SILENCE_SECONDS,
        limits: Limits | None = None,
    ) -> None:
        self.config = config
        self.flush_seconds = flush_seconds
        self.silence_seconds = silence_seconds
        self.model = self._model()
        self.specs: dict[str, ProbeSpec] = dict(self.model.probes) if self.model else {}
        self.book = ProbeBook.for_probes(self.specs.values())
        self.limits = limits or Limits()
        self.scheduler: Scheduler | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._prober: Any = None

    def _model(self) -> HospitalModel | None:
        try:
            return load_model(self.config.model_path())
        except SentinelleError as exc:
            log_event(log, "watch.model_unreadable", logging.ERROR, why=exc)
            return None

    async def start(self) -> None:
        from sentinelle.watch.checks import Prober

        self._prober = Prober()
        self.scheduler = Scheduler(
            self.specs.values(), self._prober.check, self._on_result, limits=self.limits
        )
        self._tasks = [
            asyncio.create_task(self.scheduler.run()),
            asyncio.create_task(self._flushing()),
            asyncio.create_task(self._silences()),
        ]
        log_event(log, "watch.started", probes=len(self.specs))

    def _on_result(self, spec: ProbeSpec, result: Result) -> None:
        flip = self.book.feed(result)
        if flip is not None:
            log_event(
                log,
                "watch.probe_state",
                probe=spec.id,
                old=flip.old or "",
                new=flip.new,
                reason=flip.reason,
            )

    async def _flushing(self) -> None:
        while True:
            await asyncio.sleep(self.flush_seconds)
            await self.flush()

    async def flush(self) -> None:
        """Write what the probes found since the last flush (kept for the next on failure)."""
        from sentinelle.web.watch.probestore import store_probes

        flips, tallies, results = self.book.drain()
        if not (flips or tallies or results):
            return
        states = {
            pid: (t.state, t.since, t.last.reason if t.last is not None else "")
            for pid, t in self.book.trackers.items()
            if pid in results
        }
        routes = self.config.notifications.routes
        try:
            await asyncio.to_thread(
                _in_thread, store_probes, self.specs, flips, tallies, results, states, self.model,
                routes,
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - the store may be down; keep what we hold
            log_event(log, "watch.store_failed", logging.WARNING, why=exc)
            self.book.flips[:0] = flips
            for key, tally in tallies.items():
                self.book.tallies.setdefault(key, type(tally)()).merge(tally)
            for pid, result in results.items():
                self.book.results.setdefault(pid, result)

    async def _silences(self) -> None:
        from sentinelle.web.watch.silencestore import evaluate_silences

        while True:
            await asyncio.sleep(self.silence_seconds)
            try:
                await asyncio.to_thread(
                    _in_thread, evaluate_silences, self.model, self.config.notifications.routes
                )
            except Exception as exc:  # noqa: BLE001 - logged; the next pass tries again
                log_event(log, "watch.silence_failed", logging.WARNING, why=exc)

    async def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
        runner = self._tasks[0] if self._tasks else None
        if runner is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(runner), 15)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.flush()
        if self._prober is not None:
            await self._prober.aclose()
        log_event(log, "watch.stopped")


def _in_thread(function: Any, *args: Any) -> Any:
    from django.db import close_old_connections

    close_old_connections()
    try:
        return function(*args)
    finally:
        close_old_connections()
