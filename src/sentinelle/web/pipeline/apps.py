from django.apps import AppConfig


class PipelineConfig(AppConfig):
    name = "sentinelle.web.pipeline"
    label = "pipeline"
