"""Server-sent events: one poller per process and feed, fanned out to every open page.

A feed polls the store for what is new (its ``poll`` function, run in Django's thread pool),
then hands each batch to every subscriber's queue. Fifty viewers of the alert list cost one
query per tick, not fifty. The poller runs only while someone listens, and a subscriber too slow
to take its batches is dropped (its browser reconnects by itself: ``EventSource`` does).

:func:`stream` turns a subscription into a ``text/event-stream`` response; ``static/sentinelle/
app.js`` is the client side (an element with ``data-live`` gets the events' HTML inserted). The
crisis board (part 2) uses the same mechanism with its own feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.http import StreamingHttpResponse
from django.utils import translation

log = logging.getLogger("sentinelle.web.live")

T = TypeVar("T")
S = TypeVar("S")

HEARTBEAT_SECONDS = 15.0
STREAM_SECONDS = 1800.0  # then the browser reconnects (and the session is checked again)
QUEUE_BATCHES = 64


@dataclass(frozen=True, slots=True)
class Message:
    """One server-sent event: its name, its data (text, may span lines), its id."""

    event: str
    data: str
    id: str = ""

    def encode(self) -> bytes:
        lines = [f"event: {self.event}"]
        if self.id:
            lines.append(f"id: {self.id}")
        # A line break inside data would end the field: each line goes in its own data field.
        lines.extend(f"data: {line}" for line in self.data.replace("\r", "").split("\n"))
        return ("\n".join(lines) + "\n\n").encode("utf-8", "replace")


def language() -> str:
    """The language of the request being answered (one the app has), for a stream to pick its
    messages in: feeds render what they hand over once per language (:func:`per_language`)."""
    code = translation.get_language() or settings.LANGUAGE_CODE
    return code if code in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


def per_language(template: str, context: dict[str, Any]) -> dict[str, str]:
    """``template`` rendered with ``context`` in each language of the app, stripped: a feed
    renders what it hands over once, for every viewer whatever their language."""
    from django.template.loader import render_to_string

    out: dict[str, str] = {}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            out[code] = render_to_string(template, context).strip()
    return out


class Feed(Generic[T, S]):
    """Items of type ``T`` read by ``poll(state) -> (items, state)`` every ``interval`` seconds.

    ``initial()`` gives the state to start from (usually "now"), once, when the poller starts.
    """

    def __init__(
        self,
        name: str,
        poll: Callable[[S], tuple[Sequence[T], S]],
        initial: Callable[[], S],
        interval: float = 0.5,
    ) -> None:
        self.name = name
        self.poll = poll
        self.initial = initial
        self.interval = interval
        self.polls = 0  # counters (read by tests and the benchmark)
        self.dropped = 0
        self._subscribers: set[asyncio.Queue[Sequence[T] | None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # The poller's own thread keeps its database connection between ticks, and closes it
        # when nobody listens any more.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"feed-{name}")

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def subscribe(self) -> asyncio.Queue[Sequence[T] | None]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (a test, a restarted server): start over
            self._subscribers = set()
            self._task = None
            self._loop = loop
        queue: asyncio.Queue[Sequence[T] | None] = asyncio.Queue(QUEUE_BATCHES)
        self._subscribers.add(queue)
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run(), name=f"feed-{self.name}")
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Sequence[T] | None]) -> None:
        self._subscribers.discard(queue)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await self._loop_until_alone(loop)
        finally:
            await loop.run_in_executor(self._executor, connections.close_all)
            self._task = None

    async def _loop_until_alone(self, loop: asyncio.AbstractEventLoop) -> None:
        state = await loop.run_in_executor(self._executor, self.initial)
        while self._subscribers:
            started = time.monotonic()
            try:
                items, state = await loop.run_in_executor(self._executor, self.poll, state)
            except Exception:  # the store may be busy or restarting: log, wait, try again
                log.exception("feed %s: poll failed", self.name)
                items = ()
            self.polls += 1
            if items:
                for queue in list(self._subscribers):
                    try:
                        queue.put_nowait(items)
                    except asyncio.QueueFull:  # too slow: dropped, its browser reconnects
                        self._subscribers.discard(queue)
                        self.dropped += 1
                        with contextlib.suppress(asyncio.QueueFull):
                            queue.get_nowait()
                            queue.put_nowait(None)
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))


def stream(
    feed: Feed[T, Any],
    queue: asyncio.Queue[Sequence[T] | None],
    render: Callable[[Sequence[T]], Sequence[Message]],
    first: Sequence[Message] = (),
    *,
    seconds: float = STREAM_SECONDS,
) -> StreamingHttpResponse:
    """A ``text/event-stream`` response: ``first`` (a catch-up), then ``render(batch)`` for each
    batch the feed hands over on ``queue`` (subscribed before ``first`` was read, so nothing
    falls between them; the page drops rows it already has), heartbeats in between, and an end
    after ``seconds``."""

    async def events() -> AsyncIterator[bytes]:
        try:
            yield b"retry: 2000\n\n"
            for message in first:
                yield message.encode()
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0:
                try:
                    batch = await asyncio.wait_for(queue.get(), min(HEARTBEAT_SECONDS, left))
                except TimeoutError:
                    yield b": heartbeat\n\n"
                    continue
                if batch is None:
                    return
                for message in await sync_to_async(render, thread_sensitive=False)(batch):
                    yield message.encode()
        finally:
            feed.unsubscribe(queue)

    response = StreamingHttpResponse(events(), content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # a reverse proxy must not hold the events back
    return response
