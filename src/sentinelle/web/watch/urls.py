from __future__ import annotations

from django.urls import path

from sentinelle.web.watch import views

app_name = "watch"
urlpatterns = [
    path("probes/", views.probes, name="probes"),
    path("probes/<str:probe_id>/", views.probe_history, name="probe"),
    path("sources/", views.sources, name="sources"),
    path("sources/gaps/", views.gap_create, name="gap-create"),
    path("sources/gaps/<int:gap_id>/revoke/", views.gap_revoke, name="gap-revoke"),
    path("coverage/", views.coverage, name="coverage"),
]
