"""Create the first admin account when none exists.

Credentials come from AVS_ADMIN_USERNAME / AVS_ADMIN_PASSWORD / AVS_ADMIN_EMAIL; without a
password one is generated and printed once (it is not stored anywhere in clear text).
"""

from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create an admin (superuser) from the environment if the database has none."

    def handle(self, *args: object, **options: object) -> None:
        user_model = get_user_model()
        if user_model.objects.filter(is_superuser=True).exists():
            self.stdout.write("Admin account exists.")
            return
        username = os.environ.get("AVS_ADMIN_USERNAME", "admin")
        email = os.environ.get("AVS_ADMIN_EMAIL", "")
        password = os.environ.get("AVS_ADMIN_PASSWORD", "")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        user_model.objects.create_superuser(username=username, email=email, password=password)
        if generated:
            self.stdout.write(
                self.style.WARNING(
                    f"Created admin account '{username}' with password: {password}\n"
                    "This password is shown once. Set AVS_ADMIN_PASSWORD to choose your own."
                )
            )
        else:
            self.stdout.write(f"Created admin account '{username}' (password from AVS_ADMIN_PASSWORD).")
