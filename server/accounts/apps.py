from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "server.accounts"
    label = "accounts"

    def ready(self) -> None:
        from server.accounts import login_guard  # noqa: F401  (connects the sign-in failure/success receivers)
