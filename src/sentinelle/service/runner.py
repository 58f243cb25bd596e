"""The ``serve`` process: who runs where, and the order of starting and stopping.

One process, one asyncio loop: uvicorn serves the Django app (ingest, API, health, metrics,
later the crisis room) and the listeners of ``service.inputs`` run beside it; the journal's
writer is a thread (its commit blocks on the disk's sync and must never block the loop); the
notifier is a thread (a slow channel never slows anything else). The detector is a separate
process: matching is CPU-bound and must not take the loop's core or hold the GIL the listeners
need, and a crash in it costs a restart, not the accepting side. It is started again when it
dies (with a growing delay if it keeps dying).

SIGTERM (or Ctrl-C) stops in a fixed order: not ready; the inputs stop accepting and drain
what they hold into the journal; HTTP stops; the journal commits what is queued and closes;
the detector finishes its slice and checkpoints; the notifier ends its message in hand.
SIGHUP asks the detector to load the rules again (switched at a journal position).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

from sentinelle.service.config import ServeConfig
from sentinelle.service.inputs import Inputs, InputsConfig
from sentinelle.service.journal import Journal
from sentinelle.service.log import log_event
from sentinelle.service.runtime import Runtime, install

log = logging.getLogger("sentinelle.service")
METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def answers_ready(url: str) -> bool:
    """Whether the service at ``url`` (``http://HOST:PORT``) answers ``/readyz`` with 200:
    what the demo, the tests and the bench wait for after starting one."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as answer:  # noqa: S310
            return bool(answer.status == 200)
    except OSError:
        return False


def setup_logging() -> None:
    """Structured lines on stderr: time, level, logger, then ``event=... key=value``."""
    root = logging.getLogger("sentinelle")
    if any(getattr(h, "_sentinelle", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    handler._sentinelle = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(os.environ.get("SENTINELLE_LOG_LEVEL", "INFO"))
    root.propagate = False


def prepare_metrics(data_dir: Path) -> Path:
    """The folder where every process of the service keeps its Prometheus counters
    (prometheus-client's multiprocess mode). Must run before prometheus_client is imported."""
    folder = data_dir / "metrics"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[METRICS_ENV] = str(folder)
    return folder


class DetectorSupervisor:
    """Starts the detector process, starts it again when it dies, stops it on request."""

    def __init__(self, config: ServeConfig, database_url: str | None) -> None:
        self.config = config
        self.database_url = database_url
        self._ctx = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._stopping = False
        self.restarts = 0
        self._delay = 0.25
        self._started_at = 0.0
        # A reload is asked through a shared flag, not a signal: a detector still starting (its
        # handlers not installed yet) would die of SIGHUP, and a flag waits for it to look.
        self._reload = self._ctx.Event()

    def stopping(self) -> bool:
        return self._stopping

    def start(self) -> None:
        from sentinelle.service.detector import detector_main

        self._process = self._ctx.Process(
            target=detector_main,
            args=(self.config, self.database_url, self._reload, os.getpid()),
            name="sentinelle-detector",
            daemon=False,
        )
        self._process.start()
        self._started_at = time.monotonic()
        log_event(log, "detector.spawned", pid=self._process.pid)

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    async def supervise(self) -> None:
        while not self._stopping:
            await asyncio.sleep(0.2)
            process = self._process
            if process is None or process.is_alive() or self._stopping:
                continue
            process.join()
            log_event(
                log,
                "detector.died",
                logging.ERROR,
                exitcode=process.exitcode,
                lived=round(time.monotonic() - self._started_at, 1),
            )
            # A detector that keeps dying soon after its start is started less and less often.
            lived = time.monotonic() - self._started_at
            self._delay = 0.5 if lived > 60 else min(30.0, self._delay * 2)
            await asyncio.sleep(self._delay)
            if self.stopping():
                return
            self.start()
            self.restarts += 1

    def reload_rules(self) -> None:
        """The detector loads the rules again at its next slice boundary (or, if it is being
        started again, loads the new ones anyway)."""
        self._reload.set()

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM: it finishes its slice and checkpoints; killed if it takes longer."""
        self._stopping = True
        process = self._process
        if process is None:
            return
        if process.is_alive():
            process.terminate()
            process.join(timeout)
            if process.is_alive():
                log_event(log, "detector.killed", logging.WARNING, timeout=timeout)
                process.kill()
                process.join()
        log_event(log, "detector.exited", exitcode=process.exitcode)


class Service:
    """The running service: the parts, and :meth:`run` until a stop signal."""

    def __init__(self, config: ServeConfig, database_url: str | None = None) -> None:
        self.config = config
        self.database_url = database_url or config.database_url or None
        self.journal: Journal | None = None
        self.runtime: Runtime | None = None
        self.detector = DetectorSupervisor(config, self.database_url)
        self.notifier: Any = None
        self.inputs_config: InputsConfig | None = None
        self.inputs: Inputs | None = None
        self.watch: Any = None  # probes and silent sources (sentinelle.watch.service)
        self._stop = asyncio.Event()

    def request_stop(self) -> None:
        self._stop.set()

    def prepare(self) -> None:
        """What runs before the loop: the store's schema brought up to date, the journal."""
        from sentinelle.web import configure

        # The listeners' settings checked first: a service that cannot listen as asked stops
        # before it has started anything (a detector spawned meanwhile died with a traceback).
        self.inputs_config = InputsConfig.from_serve(self.config)
        configure(self.config.data_path(), self.database_url, migrate=True)
        self.journal = Journal(self.config.journal_path(), self.config.journal.limits())

    async def run(self) -> None:
        import uvicorn

        config = self.config
        if self.journal is None:
            await asyncio.to_thread(self.prepare)
        assert self.journal is not None
        self.runtime = Runtime(sink=self.journal)
        self.runtime.extras.update(journal=self.journal, service=self)
        install(self.runtime)
        self.detector.start()
        from sentinelle.service.notify import Notifier

        self.notifier = Notifier(config.notifications)
        self.notifier.start()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.reload_rules)

        http = config.address("http")
        server = None
        serving: asyncio.Task[None] | None = None
        if http is not None:
            from sentinelle.web.asgi import application

            server = uvicorn.Server(
                uvicorn.Config(
                    application,
                    host=http[0],
                    port=http[1],
                    lifespan="off",
                    log_level="warning",
                    access_log=False,
                    timeout_graceful_shutdown=10,
                )
            )
            server.config.load()
            server.lifespan = server.config.lifespan_class(server.config)
            await server.startup()
            if server.should_exit:
                raise OSError(f"cannot listen on {http[0]}:{http[1]}")
            serving = asyncio.create_task(server.main_loop())
        self.inputs = await self._start_inputs()
        from sentinelle.watch.service import Watcher

        self.watch = Watcher(config)
        await self.watch.start()
        supervising = asyncio.create_task(self.detector.supervise())
        releasing = asyncio.create_task(self._release_consumed())
        # The crisis board follows the detector, containment and probes (web.crisis.board).
        from sentinelle.web.crisis.board import keep_fresh

        board = asyncio.create_task(keep_fresh())
        self.runtime.ready = True
        log_event(log, "service.ready", http=config.http, pid=os.getpid())
        try:
            await self._stop.wait()
        finally:
            await self._shutdown(server, serving, supervising, releasing, board)

    async def _start_inputs(self) -> Inputs:
        """The listeners (syslog, NetFlow, watched folder)."""
        assert self.journal is not None and self.inputs_config is not None
        inputs = Inputs(self.inputs_config, self.journal)
        await inputs.start()
        return inputs

    def reload_rules(self) -> None:
        log_event(log, "service.reload_rules")
        self.detector.reload_rules()

    async def _release_consumed(self) -> None:
        """Tell the journal how far the detector got, so retention may remove what is behind."""
        from sentinelle.service.detector import CHECKPOINT
        from sentinelle.web.pipeline.models import Checkpoint

        def position() -> int:
            from django.db import connection

            try:
                row = Checkpoint.objects.filter(name=CHECKPOINT).values_list("position").first()
            finally:
                connection.close()  # this worker thread's: the next call may run on another
            return int(row[0]) if row else 0

        while True:
            with contextlib.suppress(Exception):
                consumed = await asyncio.to_thread(position)
                if self.journal is not None:
                    self.journal.release(consumed)
            await asyncio.sleep(2.0)

    async def _shutdown(
        self,
        server: Any,
        serving: asyncio.Task[None] | None,
        *tasks: asyncio.Task[None],
    ) -> None:
        log_event(log, "service.stopping")
        if self.runtime is not None:
            self.runtime.ready = False
        if self.watch is not None:
            await self.watch.stop()  # the checks in flight end; what they found is stored
        if self.inputs is not None:
            await self.inputs.stop()  # stop accepting; what they hold goes to the journal
        if server is not None:
            server.should_exit = True
            if serving is not None:
                await serving
            await server.shutdown()
        if self.journal is not None:
            await asyncio.to_thread(self.journal.close)
        for task in tasks:
            task.cancel()
        await asyncio.to_thread(self.detector.stop)
        if self.notifier is not None:
            await asyncio.to_thread(self.notifier.stop)
        install(None)
        log_event(log, "service.stopped")


def serve(config: ServeConfig, database_url: str | None = None) -> None:
    """Run the service until SIGTERM or Ctrl-C (the ``serve`` command)."""
    setup_logging()
    service = Service(config, database_url)
    service.prepare()
    asyncio.run(service.run())
