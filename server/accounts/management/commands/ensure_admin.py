"""Create the first admin account when none exists.

Credentials come from AVS_ADMIN_USERNAME / AVS_ADMIN_PASSWORD / AVS_ADMIN_EMAIL; without a
password one is generated and printed once (it is not stored anywhere in clear text). Both pass
Django's password validators (AUTH_PASSWORD_VALIDATORS): a weak AVS_ADMIN_PASSWORD is refused.
"""

from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError


def _password_generate(user: object) -> str:
    """A random password (96 bits) that passes the validators for `user`."""
    while True:
        password = secrets.token_urlsafe(12)
        try:
            validate_password(password, user=user)
        except ValidationError:  # e.g. too similar to the username: astronomically rare, draw again
            continue
        return password


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
        candidate = user_model(username=username, email=email)
        generated = not password
        if generated:
            password = _password_generate(candidate)
        else:
            try:
                validate_password(password, user=candidate)
            except ValidationError as exc:
                raise CommandError(f"AVS_ADMIN_PASSWORD is too weak: {' '.join(exc.messages)}") from None
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
