"""The route table. Every route's view declares its access policy (``sentinelle.web.access``);
the authorization tests are generated from this table, so a route without one fails them."""

from __future__ import annotations

from django.conf import settings
from django.urls import URLPattern, URLResolver, include, path

from sentinelle.web import views
from sentinelle.web.api import urls as api_urls
from sentinelle.web.ingest import urls as ingest_urls

urlpatterns: list[URLPattern | URLResolver] = [
    *ingest_urls.urlpatterns,  # /api/v1/events, the Elasticsearch subset (/es/, /_bulk)
    *api_urls.urlpatterns,  # /healthz, /readyz, /metrics, /api/v1/ (the REST API)
    path("", views.home, name="home"),
    path("static/<path:path>", views.static_file, name="static"),
    path("i18n/setlang/", views.set_language, name="set_language"),
    path("", include("sentinelle.web.accounts.urls")),
    path("alerts/", include("sentinelle.web.alerts.urls")),
    path("incidents/", include("sentinelle.web.incidents.urls")),
    path("watch/", include("sentinelle.web.watch.urls")),
    path("crisis/", include("sentinelle.web.crisis.urls")),
]

if getattr(settings, "OIDC_ENABLED", False):
    from sentinelle.web.accounts.oidc import urlpatterns as oidc_urlpatterns

    urlpatterns += oidc_urlpatterns()
