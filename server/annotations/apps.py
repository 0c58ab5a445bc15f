from django.apps import AppConfig


class AnnotationsConfig(AppConfig):
    name = "server.annotations"
    label = "annotations"
