"""Routes of the API app: the REST API under ``/api/v1/`` and the probes at the root."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from sentinelle.web.access import mark_api_routes
from sentinelle.web.api import health
from sentinelle.web.api.rest import api

rest_patterns, app_name, namespace = api.urls

urlpatterns: list[URLPattern | URLResolver] = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    path("api/v1/", include((mark_api_routes(list(rest_patterns)), app_name), namespace=namespace)),
]
