"""The route table. Every route's view declares its access policy (``sentinelle.web.access``);
the authorization tests are generated from this table, so a route without one fails them."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
