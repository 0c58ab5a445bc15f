from django.apps import AppConfig


class MediaConfig(AppConfig):
    name = "server.media"
    label = "media"
