"""Celery tasks of the learning app (queue `training`). Each takes ids and calls one service."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError

from server.jobs.deliveries import delivery_refused
from server.learning.training import training_round_fail, training_round_run

TRAINING_SOFT_TIME_LIMIT = settings.AVS_TRAINING_SOFT_TIME_LIMIT  # seconds per round
TRAINING_TIME_LIMIT = TRAINING_SOFT_TIME_LIMIT + 300  # leaves the soft limit's clean-up time to finish
TRAINING_MAX_RETRIES = 3


class TrainingRoundTask(Task):
    """Fails the round when the task gives up (retries exhausted, or an unexpected error)."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        round_id = int((kwargs or {}).get("round_id", args[0] if args else 0))
        if isinstance(exc, OperationalError | InterfaceError):
            error = (
                f"The training round failed: the database could not be reached after {TRAINING_MAX_RETRIES} retries "
                f"({type(exc).__name__}: {exc}). Start a new round."
            )
        else:
            error = f"The training round failed unexpectedly ({type(exc).__name__}: {exc})."
        training_round_fail(round_id=round_id, error=error)


@shared_task(
    bind=True,
    base=TrainingRoundTask,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=TRAINING_MAX_RETRIES,
    soft_time_limit=TRAINING_SOFT_TIME_LIMIT,
    time_limit=TRAINING_TIME_LIMIT,
)
def training_round_task(self: Task, round_id: int) -> None:
    """Run or resume one training round (`server.learning.training.training_round_run`); the round and its Job
    carry the outcome and the progress. Safe to redeliver: a finished round is left alone, a running one resumes from
    its last checkpoint; a round whose run killed its worker AVS_TASK_MAX_DELIVERIES times in a row fails instead of
    looping."""
    from server.learning.models import TrainingRound

    job_id = TrainingRound.objects.filter(pk=round_id).values_list("job_id", flat=True).first()
    if delivery_refused(
        self,
        job_id=job_id,
        item=f"round:{round_id}",
        what="The training round",
        fail=lambda error: training_round_fail(round_id=round_id, error=error),
    ):
        return
    try:
        training_round_run(round_id=round_id)
    except SoftTimeLimitExceeded:
        training_round_fail(
            round_id=round_id,
            error=(
                f"The training round was stopped after {TRAINING_SOFT_TIME_LIMIT // 60} minutes, its time limit "
                "(setting AVS_TRAINING_SOFT_TIME_LIMIT). Train on fewer frames (AVS_TRAINING_MAX_ITEMS, the student's "
                "epochs) or on a worker with a GPU. The proposer was kept."
            ),
        )


RESCORE_SOFT_TIME_LIMIT = 30 * 60  # seconds per project: scoring reads small files, a large pool takes minutes


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=3,
    soft_time_limit=RESCORE_SOFT_TIME_LIMIT,
    time_limit=RESCORE_SOFT_TIME_LIMIT + 60,
)
def project_rescore_task(project_id: int, model_version_id: int | None = None) -> dict[str, Any] | None:
    """Score a project's pool again (`server.learning.acquisition.project_rescore_pool`). Safe to redeliver: scoring
    again only adds a newer score per clip. A project or model version deleted meanwhile: nothing to do."""
    from server.learning.acquisition import project_rescore_pool
    from server.learning.models import ModelVersion
    from server.media.models import Project

    project = Project.objects.filter(pk=project_id).first()
    version = None
    if model_version_id is not None:
        version = ModelVersion.objects.filter(pk=model_version_id, project_id=project_id).first()
    if project is None or (model_version_id is not None and version is None):
        return None
    return project_rescore_pool(project=project, model_version=version)
