"""The ASGI application (served by uvicorn inside ``sentinelle serve``)."""

from __future__ import annotations

from django.core.asgi import get_asgi_application

from sentinelle.web.ingest.guard import IngestGuard

# The guard caps ingest bodies before Django reads them (Django itself has no such cap).
application = IngestGuard(get_asgi_application())
