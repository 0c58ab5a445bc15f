"""`manage.py uploads_expire`: expire resumable uploads left incomplete past AVS_UPLOAD_EXPIRY_SECONDS (their bytes
are deleted) and delete stray part files of AVS_UPLOAD_DIR. Run it from cron (e.g. hourly); each new upload also
expires a few stale ones."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from server.media.resumable import uploads_expire


class Command(BaseCommand):
    help = (
        "Expire incomplete resumable uploads idle longer than AVS_UPLOAD_EXPIRY_SECONDS: delete their bytes from "
        "AVS_UPLOAD_DIR (a client resuming one is told to start again), and part files no upload receives into."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        expired = uploads_expire()
        self.stdout.write(f"{expired} upload{'s' if expired != 1 else ''} expired.")
