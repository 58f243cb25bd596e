"""Routes of the ingest app. ``/es/`` is the Elasticsearch-compatible root (clients are given
it as their URL or ``path``); ``_bulk`` is also at the root for clients that cannot set one."""

from __future__ import annotations

from django.urls import URLPattern, path

from sentinelle.web.ingest import elastic, events

urlpatterns: list[URLPattern] = [
    path("api/v1/events", events.events, name="ingest-events"),
    path("es", elastic.root, name="es"),
    path("es/", elastic.root, name="es-root"),
    path("es/_bulk", elastic.bulk, name="es-bulk"),
    path("es/_license", elastic.license_info, name="es-license"),
    path("es/_xpack", elastic.xpack, name="es-xpack"),
    path("es/_cluster/health", elastic.cluster_health, name="es-cluster-health"),
    path("es/<str:index>/_bulk", elastic.bulk, name="es-index-bulk"),
    path("es/<path:rest>", elastic.setup, name="es-setup"),
    path("_bulk", elastic.bulk, name="bulk"),
    path("<str:index>/_bulk", elastic.bulk, name="index-bulk"),
]
