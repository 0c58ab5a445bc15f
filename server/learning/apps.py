from django.apps import AppConfig


class LearningConfig(AppConfig):
    name = "server.learning"
    label = "learning"

    def ready(self) -> None:
        from server.learning.model_policy import model_policy_install

        # Every ml_backend.serving call of this process (web, workers, commands) applies the settings' policy.
        model_policy_install()
