"""`manage.py ls_push --project NAME [--ls-url URL] [--ls-token TOKEN]`: push a project to Label Studio."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from server.core.errors import ApplicationError
from server.jobs.models import Job
from server.labelstudio.sync import PUSH, connection_set, labelstudio_job_request, labelstudio_job_run
from server.media.models import Project


def project_named(name: str) -> Project:
    project = Project.objects.filter(name=name).first()
    if project is None:
        names = list(Project.objects.order_by("name").values_list("name", flat=True)[:10])
        known = ", ".join(f'"{n}"' for n in names) if names else "none yet"
        raise CommandError(f'There is no project named "{name}" (projects: {known}).')
    return project


class Command(BaseCommand):
    help = (
        "Create or update the project's Label Studio project: label config, one task per ready frame (signed media "
        "URLs), the current proposer's proposals as predictions, the webhook and our ML backend. Re-running updates, "
        "never duplicates. --ls-url and --ls-token are remembered; later runs may leave them out. Runs here (no worker)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, metavar="NAME", help="Name of the AVS Studio project.")
        parser.add_argument("--ls-url", metavar="URL", help="Label Studio's base URL, e.g. http://127.0.0.1:8080.")
        parser.add_argument(
            "--ls-token", metavar="TOKEN", help="A Label Studio API token (Account & Settings → Access Token)."
        )

    def handle(self, *args: Any, project: str, ls_url: str | None, ls_token: str | None, **options: Any) -> None:
        target = project_named(project)
        started = time.monotonic()
        try:
            connection_set(project=target, url=ls_url, token=ls_token)
            job = labelstudio_job_request(project=target, action=PUSH, enqueue=False)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        job = labelstudio_job_run(job_id=job.pk)
        if job.status == Job.Status.FAILED:
            raise CommandError(job.error or job.message)
        self.stdout.write(f"{job.message} ({time.monotonic() - started:.1f} s, job {job.pk})")
