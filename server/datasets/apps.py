from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "server.datasets"
    label = "datasets"
    verbose_name = "Datasets: import, export, evaluation"
