"""`manage.py seed_demo [--password P] [--clip VIDEO]`: the demo project, users, clip and proposal.

Idempotent: a second run adds only what is missing. Without --password (or AVS_DEMO_PASSWORD), new
users get a generated password that is printed once; existing users keep theirs.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from server.core.demo import DEMO_USERS, demo_seed
from server.core.errors import ApplicationError


class Command(BaseCommand):
    help = "Create the demo project 'Demo' with users manager/annotator/reviewer, one clip and a proposal."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--password", help="password of the three demo users (default: AVS_DEMO_PASSWORD, else generated)"
        )
        parser.add_argument("--clip", type=Path, help="a video to use instead of the shared demo clip")

    def handle(self, *args: Any, **options: Any) -> None:
        password = options["password"] or os.environ.get("AVS_DEMO_PASSWORD") or None
        generated = False
        missing = [u for u in DEMO_USERS if not get_user_model().objects.filter(username=u).exists()]
        if password is None and missing:
            password, generated = secrets.token_urlsafe(9), True
        try:
            demo = demo_seed(password=password, keep_existing_passwords=generated, clip_path=options["clip"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        frames = demo.clip.frames.count()
        self.stdout.write(
            f"Project '{demo.project.name}' (id {demo.project.pk}): clip '{demo.clip.name}' (id {demo.clip.pk}, "
            f"{frames} frames), proposal {demo.proposal.pk} by {demo.proposal.model_version.name}."
        )
        users = ", ".join(f"{name} ({role})" for name, role in DEMO_USERS.items())
        if generated:
            created = ", ".join(missing)
            self.stdout.write(self.style.WARNING(f"New users {created} have the password: {password} (shown once)."))
        elif password is not None:
            self.stdout.write(f"Users {users} have the password you gave.")
        else:
            self.stdout.write(f"Users {users} keep their passwords.")
