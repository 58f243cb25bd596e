"""The ASGI application (served by uvicorn inside ``sentinelle serve``)."""

from __future__ import annotations

from django.core.asgi import get_asgi_application

from sentinelle.web.ingest.guard import IngestGuard

# The guard caps every body before Django reads it (Django itself has no such cap).
application = IngestGuard(get_asgi_application())
