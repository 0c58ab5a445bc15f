"""`manage.py score --project NAME [--model-version ID] [--sync]`: score a project's pool again for the review queue."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from server.core.errors import ApplicationError
from server.learning.acquisition import project_acquisition_strategy, project_rescore_pool
from server.learning.models import ModelVersion
from server.learning.tasks import project_rescore_task
from server.media.models import Project


class Command(BaseCommand):
    help = (
        "Score a project's pool (its ready clips not fully accepted) with its acquisition strategy, from the clips' "
        "proposals of --model-version (else the proposer's, else each clip's newest), so the review queue orders by "
        "the new scores. Queued for the training workers, or run here with --sync."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, metavar="NAME", help="Name of the project.")
        parser.add_argument("--model-version", type=int, metavar="ID", help="Score from this version's proposals.")
        parser.add_argument("--sync", action="store_true", help="Run in this process instead of queueing.")

    def handle(self, *args: Any, project: str, model_version: int | None, sync: bool, **options: Any) -> None:
        target = Project.objects.filter(name=project).first()
        if target is None:
            names = list(Project.objects.order_by("name").values_list("name", flat=True)[:10])
            known = ", ".join(f'"{name}"' for name in names) if names else "none yet"
            raise CommandError(f'There is no project named "{project}" (projects: {known}).')
        version = None
        if model_version is not None:
            version = ModelVersion.objects.filter(pk=model_version, project=target).first()
            if version is None:
                raise CommandError(f"Model version {model_version} is not a model version of this project.")
        try:
            strategy = project_acquisition_strategy(project_id=target.pk)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Strategy: {strategy['name']}")
        if not sync:
            project_rescore_task.delay(project_id=target.pk, model_version_id=model_version)
            self.stdout.write(f'Queued scoring of project "{target.name}" for the training workers.')
            return
        summary = project_rescore_pool(
            project=target,
            model_version=version,
            on_clip=lambda clip_id, outcome: self.stdout.write(f"clip {clip_id}: {outcome}"),
        )
        self.stdout.write(
            f"Scored {summary['scored']} clip{'s' if summary['scored'] != 1 else ''}; "
            f"{len(summary['unscored'])} without a score, {len(summary['failed'])} failed."
        )
        if summary["failed"] and not summary["scored"]:
            raise CommandError("No clip could be scored: " + summary["failed"][0]["error"])
