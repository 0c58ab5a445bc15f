"""`manage.py counters_rebuild [--project NAME]`: recompute the stored counters from the rows."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from server.learning.services import counters_rebuild
from server.media.models import Project


class Command(BaseCommand):
    help = (
        "Recompute the counters the lists read (clips: frames, proposals, annotations per status, latest acquisition "
        "score; projects: clips per status; model versions: edit statistics) from the rows, for one project or all. "
        "Every write keeps them in step; run this after loading rows in bulk, or to repair them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", metavar="NAME", help="Only this project (default: all).")

    def handle(self, *args: Any, project: str | None, **options: Any) -> None:
        project_id = None
        if project is not None:
            project_id = Project.objects.filter(name=project).values_list("pk", flat=True).first()
            if project_id is None:
                raise CommandError(f'There is no project named "{project}".')
        done = counters_rebuild(project_id=project_id)
        self.stdout.write(
            f"Counters recomputed: {done['clips']} clips, {done['projects']} projects, "
            f"{done['model_versions']} model versions."
        )
