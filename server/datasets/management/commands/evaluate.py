"""`manage.py evaluate --project NAME --model-version ID [--clips 1,2,3] [--name KEY]`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from server.core.errors import ApplicationError
from server.datasets.management.commands._common import project_named
from server.datasets.services.evaluation import ALL, evaluation_run, evaluation_split_key, evaluation_summary_text
from server.learning.models import ModelVersion


def _clip_ids(text: str) -> list[int]:
    try:
        ids = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise CommandError(f"--clips must be clip ids separated by commas, not {text!r}.") from None
    if not ids:
        raise CommandError("--clips lists no clip ids.")
    return ids


class Command(BaseCommand):
    help = (
        "Score a model version's proposals against the project's accepted annotations (official AVSBench mIoU and "
        "F with batches of 4 clips in id order, F at 0.5, per-class IoU, per-clip scores). The results go to the "
        'model version\'s metrics["evaluation"][KEY] and to an evaluation report.'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, metavar="NAME")
        parser.add_argument("--model-version", required=True, type=int, metavar="ID", dest="model_version")
        parser.add_argument(
            "--clips", metavar="IDS", help="Comma-separated clip ids; default: every clip with accepted annotations."
        )
        parser.add_argument(
            "--name", default="", metavar="KEY", help='Key of the results (default "all", or made from the ids).'
        )

    def handle(
        self, *args: Any, project: str, model_version: int, clips: str | None, name: str, **options: Any
    ) -> None:
        target = project_named(project)
        version = ModelVersion.objects.filter(pk=model_version, project=target).first()
        if version is None:
            raise CommandError(f'Model version {model_version} is not a model version of project "{target.name}".')
        split: str | list[int] = _clip_ids(clips) if clips else ALL
        try:
            key = evaluation_split_key(split=split, name=name)
            report = evaluation_run(model_version_id=version.pk, clip_ids=split, split=key)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        for row in report.per_clip:
            self.stdout.write(
                f"clip {row['clip_id']} {row['clip_name']}: mIoU {row['miou']:.4f}, F {row['fscore']:.4f}, "
                f"F at 0.5 {row['fscore_at_0_5']:.4f} ({row['n_frames']} frames)"
            )
        for label, iou in report.summary["per_class_iou"].items():
            self.stdout.write(f"class {label}: IoU {iou:.4f}")
        self.stdout.write(evaluation_summary_text(report))
