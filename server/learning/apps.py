from django.apps import AppConfig


class LearningConfig(AppConfig):
    name = "server.learning"
    label = "learning"
