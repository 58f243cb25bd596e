"""In front of Django, for the ingest routes: the body cap, and the count of refused tokens.

Django's ASGI handler reads a whole request body (into memory, then a temporary file) before
any view runs, with no cap of its own: a sender could fill the disk with one request. This
guard refuses an ingest request whose declared length is over ``max_body_bytes`` with 413
before reading it, and stops one that sends more than that without declaring it (chunked).

It also counts, per input, the ingest requests refused for their token (401 and 403 come from
the access middleware, before any ingest view runs).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

from sentinelle.service.inputs import metrics
from sentinelle.web.ingest.handover import current_limits

Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def ingest_input(path: str) -> str | None:
    """``http`` or ``bulk`` for an ingest route's path, None for any other."""
    if path == "/api/v1/events" or path.startswith("/api/v1/events/"):
        return "http"
    if path == "/es" or path.startswith("/es/") or path.endswith("/_bulk"):
        return "bulk"
    return None


class IngestGuard:
    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        input_name = ingest_input(scope.get("path", ""))
        if input_name is None:
            await self.app(scope, receive, send)
            return
        limits = current_limits()
        cap = limits.max_body_bytes
        declared = _content_length(scope)
        if declared is not None and declared > cap:
            metrics.OVERSIZED.labels(input_name, "body").inc()
            await _too_large(send, cap)
            return
        received = 0
        over = False
        started = False

        async def capped_receive() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    over = True
                    return {"type": "http.disconnect"}  # Django stops reading, and answers nothing
            return message

        async def counting_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if message["status"] in (401, 403):
                    metrics.AUTH_FAILURES.labels(input_name).inc()
            await send(message)

        await self.app(scope, capped_receive, counting_send)
        if over and not started:
            metrics.OVERSIZED.labels(input_name, "body").inc()
            await _too_large(send, cap)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(send: Send, cap: int) -> None:
    body = orjson.dumps({"error": f"request body larger than {cap} bytes"})
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
