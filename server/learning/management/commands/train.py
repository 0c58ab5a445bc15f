"""`manage.py train --project NAME [--student compact|av2t_sam] [--epochs N] [--sync]`: a self-training round."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from server.core.errors import ApplicationError
from server.learning.models import LearningSettings, TrainingRound
from server.learning.training import training_round_run, training_round_start
from server.media.models import Project

STUDENTS = {"compact": "compact", "av2t": "av2t_sam", "av2t_sam": "av2t_sam"}


class Command(BaseCommand):
    help = (
        "Start a self-training round for a project: a student trained on the train split's accepted annotations and "
        "the current proposer's pseudo-labels, judged against the proposer on the held-out split and promoted to "
        "proposer when it is better. Queued for the training workers, or run here with --sync."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, metavar="NAME", help="Name of the project.")
        parser.add_argument(
            "--student",
            choices=sorted(STUDENTS),
            help="Which student (av2t = av2t_sam); default: the project's learning settings.",
        )
        parser.add_argument("--epochs", type=int, metavar="N", help="Override the student's number of epochs.")
        parser.add_argument(
            "--sync", action="store_true", help="Run in this process (no worker), printing the progress."
        )

    def handle(
        self, *args: Any, project: str, student: str | None, epochs: int | None, sync: bool, **options: Any
    ) -> None:
        target = Project.objects.filter(name=project).first()
        if target is None:
            names = list(Project.objects.order_by("name").values_list("name", flat=True)[:10])
            known = ", ".join(f'"{name}"' for name in names) if names else "none yet"
            raise CommandError(f'There is no project named "{project}" (projects: {known}).')
        kind = STUDENTS[student] if student else None
        if kind is not None and kind not in LearningSettings.StudentKind.values:
            raise CommandError(f"Unknown student {student}.")
        try:
            training_round = training_round_start(
                project=target,
                student_kind=kind,
                config={"epochs": epochs} if epochs is not None else None,
                trigger=TrainingRound.Trigger.COMMAND,
                enqueue=not sync,
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"Training round {training_round.pk}: a {training_round.student_kind} student, against "
            f"{training_round.base_proposer.name if training_round.base_proposer else 'no proposer'}."
        )
        if not sync:
            self.stdout.write(f"Queued (job {training_round.job_id}) for the training workers.")
            return

        def report(progress: dict[str, Any]) -> None:
            if progress["step"] * progress["epochs"] == progress["epoch"] * progress["steps"]:
                self.stdout.write(f"epoch {progress['epoch']}/{progress['epochs']}: loss {progress['loss']:.4f}")

        finished = training_round_run(round_id=training_round.pk, on_progress=report)
        assert finished is not None
        if finished.status != TrainingRound.Status.SUCCEEDED:
            raise CommandError(f"Training round {finished.pk} {finished.status}: {finished.error or finished.reason}")
        self.stdout.write(f"Training round {finished.pk} succeeded: {finished.reason}")
