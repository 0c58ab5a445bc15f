"""Celery tasks of the datasets app (queue `ingest`: CPU work). Each takes ids and calls one service."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError

from server.datasets.models import Export
from server.datasets.services.evaluation import evaluation_job_run
from server.datasets.services.export import export_run
from server.jobs.deliveries import delivery_refused
from server.jobs.services import job_fail

SOFT_TIME_LIMIT = 2 * 3600  # seconds: exports copy every frame of a project
TIME_LIMIT = SOFT_TIME_LIMIT + 300
MAX_RETRIES = 3


def _failure_text(exc: BaseException) -> str:
    if isinstance(exc, OperationalError | InterfaceError):
        return (
            f"The database could not be reached after {MAX_RETRIES} retries ({type(exc).__name__}: {exc}). "
            "Start the job again."
        )
    return f"Stopped unexpectedly ({type(exc).__name__}: {exc})."


class ExportTask(Task):
    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        export_id = (args or [None])[0] if args else (kwargs or {}).get("export_id")
        job_id = Export.objects.filter(pk=export_id).values_list("job_id", flat=True).first()
        if job_id is not None:
            job_fail(job_id=job_id, error=f"Export failed: {_failure_text(exc)}", message="Export failed.")


class EvaluationTask(Task):
    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        job_id = (args or [None])[0] if args else (kwargs or {}).get("job_id")
        if job_id is not None:
            job_fail(job_id=job_id, error=f"Evaluation failed: {_failure_text(exc)}", message="Evaluation failed.")


@shared_task(
    bind=True,
    base=ExportTask,
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=MAX_RETRIES,
    soft_time_limit=SOFT_TIME_LIMIT,
    time_limit=TIME_LIMIT,
)
def export_run_task(self: Task, export_id: int) -> None:
    """Build an export archive (`server.datasets.services.export.export_run`); its job carries the outcome."""
    job_id = Export.objects.filter(pk=export_id).values_list("job_id", flat=True).first()
    if delivery_refused(
        self,
        job_id=job_id,
        item=f"export:{export_id}",
        what="The export",
        fail=lambda error: job_fail(job_id=job_id, error=error, message="Export failed.") if job_id else None,
    ):
        return
    export_run(export_id=export_id)


@shared_task(
    bind=True,
    base=EvaluationTask,
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=MAX_RETRIES,
    soft_time_limit=SOFT_TIME_LIMIT,
    time_limit=TIME_LIMIT,
)
def evaluation_run_task(
    self: Task, job_id: int, model_version_id: int, clip_ids: list[int], split: str, user_id: int | None = None
) -> None:
    """Score a model version's proposals (`server.datasets.services.evaluation.evaluation_job_run`)."""
    if delivery_refused(
        self,
        job_id=job_id,
        what="The evaluation",
        fail=lambda error: job_fail(job_id=job_id, error=error, message="Evaluation failed."),
    ):
        return
    evaluation_job_run(
        job_id=job_id, model_version_id=model_version_id, clip_ids=clip_ids, split=split, user_id=user_id
    )
