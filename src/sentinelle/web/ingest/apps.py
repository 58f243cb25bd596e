from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "sentinelle.web.ingest"
    label = "ingest"
