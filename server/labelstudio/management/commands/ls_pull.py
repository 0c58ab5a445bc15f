"""`manage.py ls_pull --project NAME`: import the Label Studio annotations of a pushed project."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from server.core.errors import ApplicationError
from server.jobs.models import Job
from server.labelstudio.management.commands.ls_push import project_named
from server.labelstudio.sync import PULL, labelstudio_job_request, labelstudio_job_run


class Command(BaseCommand):
    help = (
        "Import every annotation of the project's Label Studio project as ours (idempotent: unchanged ones are "
        "left alone, updated ones become new versions, local edits are reported as conflicts, deleted ones are "
        "retracted). Runs here (no worker)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, metavar="NAME", help="Name of the AVS Studio project.")

    def handle(self, *args: Any, project: str, **options: Any) -> None:
        target = project_named(project)
        started = time.monotonic()
        try:
            job = labelstudio_job_request(project=target, action=PULL, enqueue=False)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        job = labelstudio_job_run(job_id=job.pk)
        if job.status == Job.Status.FAILED:
            raise CommandError(job.error or job.message)
        self.stdout.write(f"{job.message} ({time.monotonic() - started:.1f} s, job {job.pk})")
