from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "sentinelle.web.incidents"
    label = "incidents"
