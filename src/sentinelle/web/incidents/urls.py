from __future__ import annotations

from django.urls import path

from sentinelle.web.incidents import views

app_name = "incidents"
urlpatterns = [
    path("", views.incident_list, name="list"),
    path("new/", views.incident_create, name="create"),
    path("<int:incident_id>/", views.incident_detail, name="detail"),
    path("<int:incident_id>/update/", views.incident_update, name="update"),
    path("<int:incident_id>/merge/", views.incident_merge, name="merge"),
    path("<int:incident_id>/split/", views.incident_split, name="split"),
    path("<int:incident_id>/tasks/", views.task_add, name="task-add"),
    path("<int:incident_id>/tasks/<int:task_id>/", views.task_state, name="task-state"),
    path("<int:incident_id>/notes/", views.note_add, name="note-add"),
    path("<int:incident_id>/indicators/", views.indicator_add, name="indicator-add"),
    path(
        "<int:incident_id>/indicators/<int:indicator_id>/remove/",
        views.indicator_remove,
        name="indicator-remove",
    ),
    path("<int:incident_id>/export/stix/", views.export_stix, name="export-stix"),
    path("<int:incident_id>/export/misp/", views.export_misp, name="export-misp"),
    path("<int:incident_id>/evidence/", views.evidence_upload, name="evidence-upload"),
    path(
        "<int:incident_id>/evidence/<int:evidence_id>/",
        views.evidence_download,
        name="evidence-download",
    ),
    path("<int:incident_id>/containment/", views.containment_simulate, name="containment-simulate"),
    path(
        "<int:incident_id>/containment/<int:action_id>/",
        views.containment_decide,
        name="containment-decide",
    ),
]
