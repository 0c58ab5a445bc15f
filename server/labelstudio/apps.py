from django.apps import AppConfig


class LabelStudioConfig(AppConfig):
    name = "server.labelstudio"
    label = "labelstudio"
    verbose_name = "Label Studio bridge"
