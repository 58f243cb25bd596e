"""The route table. Every route's view declares its access policy (``sentinelle.web.access``);
the authorization tests are generated from this table, so a route without one fails them."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

from sentinelle.web.api import urls as api_urls

urlpatterns: list[URLPattern | URLResolver] = [
    *api_urls.urlpatterns,  # /healthz, /readyz, /metrics, /api/v1/ (the REST API)
]
