"""The ASGI application (served by uvicorn inside ``sentinelle serve``)."""

from __future__ import annotations

from django.core.asgi import get_asgi_application

application = get_asgi_application()
