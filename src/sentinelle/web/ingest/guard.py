"""In front of Django: every request body capped (``web.bodycap``), the ingest routes' by the
inputs' ``max_body_bytes``, with their counters: bodies refused as oversized, and requests
refused for their token (401 and 403 come from the access middleware, before any ingest view
runs).
"""

from __future__ import annotations

from sentinelle.service.inputs import metrics
from sentinelle.web.bodycap import App, Message, Receive, Scope, Send, capped, route_cap
from sentinelle.web.ingest.handover import current_limits


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
        path = scope.get("path", "")
        input_name = ingest_input(path)
        if input_name is None:
            await capped(self.app, scope, receive, send, route_cap(path))
            return
        name = input_name

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (401, 403):
                metrics.AUTH_FAILURES.labels(name).inc()
            await send(message)

        def oversized() -> None:
            metrics.OVERSIZED.labels(name, "body").inc()

        cap = current_limits().max_body_bytes
        await capped(self.app, scope, receive, counting_send, cap, oversized)
