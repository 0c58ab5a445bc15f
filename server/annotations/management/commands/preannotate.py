"""`manage.py preannotate --project NAME [--clip ID ...] [--model-version ID] [--sync]`: propose masks for clips."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from server.annotations.preannotation import preannotate_request, preannotate_run, project_proposer
from server.core.errors import ApplicationError
from server.jobs.models import Job
from server.media.models import Project


class Command(BaseCommand):
    help = (
        "Pre-annotate a project's ready clips (or the --clip ones) with its proposer: OpenAVS from the project's "
        "model_config or AVS_MODEL_CONFIG, else the weight-free baseline. Clips that already have a proposal of "
        "the model version are skipped. Queued for the inference workers, or run here with --sync."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, metavar="NAME", help="Name of the project.")
        parser.add_argument(
            "--clip",
            type=int,
            action="append",
            dest="clips",
            metavar="ID",
            help="A clip id (repeatable); default: all.",
        )
        parser.add_argument("--model-version", type=int, metavar="ID", help="Re-run this model version of the project.")
        parser.add_argument(
            "--sync", action="store_true", help="Run in this process, clip after clip, instead of queueing (no worker)."
        )

    def handle(
        self, *args: Any, project: str, clips: list[int] | None, model_version: int | None, sync: bool, **options: Any
    ) -> None:
        target = Project.objects.filter(name=project).first()
        if target is None:
            names = list(Project.objects.order_by("name").values_list("name", flat=True)[:10])
            known = ", ".join(f'"{name}"' for name in names) if names else "none yet"
            raise CommandError(f'There is no project named "{project}" (projects: {known}).')
        if model_version is None:
            proposer = project_proposer(project=target)
            line = f"Proposer: {proposer['name']} ({proposer['kind']})"
            self.stdout.write(line + (f": {proposer['reason']}" if proposer["reason"] else ""))
        try:
            job = preannotate_request(project=target, clip_ids=clips, model_version_id=model_version, enqueue=not sync)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        if not sync:
            count = len(job.result["clips"])
            self.stdout.write(
                f"Queued job {job.pk}: {count} clip{'s' if count != 1 else ''} for the inference workers."
            )
            return

        def report(entry: dict[str, Any]) -> None:
            detail = entry.get("error") or ""
            self.stdout.write(
                f"clip {entry['clip']} ({entry['name']}): {entry['status']}{': ' + detail if detail else ''}"
            )

        job = preannotate_run(job_id=job.pk, on_clip=report)
        self.stdout.write(f"Job {job.pk} {job.status}: {job.message}")
        if job.status == Job.Status.FAILED:
            raise CommandError(job.error or job.message)
