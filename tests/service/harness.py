"""Running the inputs as the service does, for tests that talk to them with real clients.

The inputs run on an event loop in a background thread (the service's loop), submitting to a
real journal in a temporary folder; the test is the outside world: blocking sockets, ``logger``,
rsyslog, softflowd, an HTTP client. What arrived is read back through the journal's reader.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client import REGISTRY

from sentinelle.service.inputs import Inputs, InputsConfig
from sentinelle.service.journal import JournalReader
from sentinelle.service.records import Record, RecordSink, Refused

T = TypeVar("T")


class ServiceLoop:
    """An asyncio loop in a thread; :meth:`run` executes a coroutine there and waits for it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def call(self, function: Callable[[], T]) -> T:
        """Run a plain function on the loop (to read state the loop owns)."""

        async def wrapped() -> T:
            return function()

        return self.run(wrapped())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@contextmanager
def running_inputs(config: InputsConfig, sink: RecordSink) -> Iterator[tuple[Inputs, ServiceLoop]]:
    service = ServiceLoop()
    inputs = Inputs(config, sink)
    try:
        service.run(inputs.start())
        yield inputs, service
    finally:
        try:
            service.run(inputs.stop(timeout=5.0))
        finally:
            service.close()


def journal_records(directory: Path) -> list[Record]:
    reader = JournalReader(directory)
    try:
        return [entry.record for entry in reader.iter_records()]
    finally:
        reader.close()


def wait_records(
    directory: Path, count: int, timeout: float = 15.0, input_name: str | None = None
) -> list[Record]:
    """The journal's records once at least ``count`` are there (of ``input_name`` if given);
    what is there at the deadline otherwise (the caller's assertion then says what is missing).
    """
    deadline = time.monotonic() + timeout
    while True:
        found = journal_records(directory)
        if input_name is not None:
            found = [r for r in found if r.input == input_name]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def metric(name: str, **labels: str) -> float:
    """The current value of one counter series (0 when it was never touched)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Metrics:
    """Counter values relative to when this was made (the registry is process-wide)."""

    def __init__(self) -> None:
        self._start: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for family in REGISTRY.collect():
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                self._start[key] = sample.value

    def delta(self, counter: str, **labels: str) -> float:
        """The change of ``sentinelle_input_<counter>_total`` for these labels."""
        name = f"sentinelle_input_{counter}_total"
        key = (name, tuple(sorted(labels.items())))
        return metric(name, **labels) - self._start.get(key, 0.0)


class GatedSink:
    """A journal behind a gate, as a slow or full disk makes it: the contract's two refusals on
    demand (``refuse_next``: Refused at submit; ``fail_next``: the future fails with Refused)
    and ``hold`` (futures stay pending until ``release``: a disk slower than the senders)."""

    def __init__(self, inner: RecordSink) -> None:
        self.inner = inner
        self.refuse_next = 0
        self.fail_next = 0
        self.holding = False
        self.submitted = 0  # records handed to the journal
        self._held: list[tuple[Sequence[Record], Future[int]]] = []
        self._lock = threading.Lock()

    def submit(self, records: Sequence[Record]) -> Future[int]:
        with self._lock:
            if self.refuse_next:
                self.refuse_next -= 1
                raise Refused("test: disk full", retry_after=0.05)
            outer: Future[int] = Future()
            if self.fail_next:
                self.fail_next -= 1
                outer.set_exception(Refused("test: commit failed", retry_after=0.05))
                return outer
            if self.holding:
                self._held.append((records, outer))
                return outer
        self.submitted += len(records)
        return self.inner.submit(records)

    def hold(self) -> None:
        with self._lock:
            self.holding = True

    def held(self) -> int:
        with self._lock:
            return sum(len(records) for records, _ in self._held)

    def release(self) -> None:
        with self._lock:
            self.holding = False
            held, self._held = self._held, []
        for records, outer in held:
            self.submitted += len(records)
            inner = self.inner.submit(records)
            inner.add_done_callback(lambda f, o=outer: _copy(f, o))  # type: ignore[misc]


def _copy(source: Future[int], target: Future[int]) -> None:
    exc = source.exception()
    if exc is None:
        target.set_result(source.result())
    else:
        target.set_exception(exc)


@contextmanager
def serving(sink: RecordSink, **extras: Any) -> Iterator[str]:
    """The web app (ingest, API) served by uvicorn as ``sentinelle serve`` serves it, with a
    ready runtime submitting to ``sink``: the base URL."""
    import uvicorn

    from sentinelle.service.runtime import Runtime, install
    from sentinelle.web.asgi import application

    runtime = Runtime(sink=sink, ready=True)
    runtime.extras.update(extras)
    install(runtime)
    service = ServiceLoop()
    server = uvicorn.Server(
        uvicorn.Config(
            application,
            host="127.0.0.1",
            port=0,
            lifespan="off",
            log_level="warning",
            access_log=False,
        )
    )

    async def start() -> tuple[asyncio.Task[None], int]:
        server.config.load()
        server.lifespan = server.config.lifespan_class(server.config)
        await server.startup()
        task = asyncio.get_running_loop().create_task(server.main_loop())
        return task, int(server.servers[0].sockets[0].getsockname()[1])

    async def stop(task: asyncio.Task[None]) -> None:
        server.should_exit = True
        await task
        await server.shutdown()

    task, port = service.run(start())
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        try:
            service.run(stop(task))
        finally:
            service.close()
            install(None)
