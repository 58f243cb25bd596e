from __future__ import annotations

from django.urls import path

from sentinelle.web.alerts import views

app_name = "alerts"
urlpatterns = [
    path("", views.alert_list, name="list"),
    path("stream/", views.alert_stream, name="stream"),
    path("actions/", views.alert_action, name="action"),
    path("suppressions/", views.suppressions, name="suppressions"),
    path("suppressions/new/", views.suppression_create, name="suppression-create"),
    path(
        "suppressions/<int:suppression_id>/revoke/",
        views.suppression_revoke,
        name="suppression-revoke",
    ),
    path("<str:alert_id>/", views.alert_detail, name="detail"),
    path("<str:alert_id>/event.json", views.alert_event, name="event"),
]
