"""Every request body capped before Django reads it.

Django's ASGI handler reads a whole body (into memory, then a temporary file) before any view,
authentication or CSRF check runs, and has no cap of its own: one POST to the sign-in page
could fill the disk the journal stands on. So in front of Django (``web.asgi``), a body whose
announced length is over its route's cap is answered 413 before a byte of it is read, and one
that goes past it without announcing it (chunked) is cut off there.

A route's cap is what its forms may hold (Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` and a margin
for the multipart framing), unless its view declares its own with :func:`body_cap` (evidence
uploads: ``SENTINELLE_EVIDENCE_MAX_BYTES``); the ingest routes have theirs
(``InputLimits.max_body_bytes``, ``web.ingest.guard``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import orjson

Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]
V = TypeVar("V", bound=Callable[..., Any])

# Multipart boundaries, part headers and the small fields beside a file (the CSRF token...).
FORM_MARGIN = 64 * 1024


def body_cap(limit: Callable[[], int]) -> Callable[[V], V]:
    """Declare a view's own body cap (``limit()`` is read at each request: settings may
    change); put it outermost, above ``@access``."""

    def mark(view: V) -> V:
        view.max_body = limit  # type: ignore[attr-defined]
        return view

    return mark


def route_cap(path: str) -> int:
    """The body cap of the route ``path`` resolves to (the forms' cap for unknown paths)."""
    from django.conf import settings
    from django.urls import Resolver404, resolve

    try:
        limit = getattr(resolve(path).func, "max_body", None)
    except Resolver404:
        limit = None
    if limit is not None:
        return int(limit())
    return int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) + FORM_MARGIN


def content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def capped(
    app: App,
    scope: Scope,
    receive: Receive,
    send: Send,
    cap: int,
    over_cap: Callable[[], None] = lambda: None,
) -> None:
    """Run ``app`` on a body of at most ``cap`` bytes: 413 (and ``over_cap()``) for one
    announced or sent over it."""
    declared = content_length(scope)
    if declared is not None and declared > cap:
        over_cap()
        await too_large(send, cap)
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

    async def noting_send(message: Message) -> None:
        nonlocal started
        if message["type"] == "http.response.start":
            started = True
        await send(message)

    await app(scope, capped_receive, noting_send)
    if over and not started:
        over_cap()
        await too_large(send, cap)


async def too_large(send: Send, cap: int) -> None:
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
