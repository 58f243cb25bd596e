from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "sentinelle.web.alerts"
    label = "alerts"
