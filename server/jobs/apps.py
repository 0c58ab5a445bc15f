from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "server.jobs"
    label = "jobs"

    def ready(self) -> None:
        from django.core import checks

        from server.jobs.checks import check_broker_visibility_timeout

        checks.register(check_broker_visibility_timeout)
