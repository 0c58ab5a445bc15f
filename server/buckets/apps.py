from django.apps import AppConfig


class BucketsConfig(AppConfig):
    name = "server.buckets"
    label = "buckets"
    verbose_name = "Import from buckets"
