"""Job lifecycle. Progress writes are plain UPDATEs so a worker can report often and cheaply."""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from server.jobs.models import Job


def job_create(
    *, project_id: int, kind: str, created_by: Any = None, target: models.Model | None = None, message: str = "Queued."
) -> Job:
    job = Job(project_id=project_id, kind=kind, created_by=created_by, message=message)
    if target is not None:
        job.target_type = ContentType.objects.get_for_model(target)
        job.target_id = target.pk
    job.save()
    return job


def job_start(*, job_id: int, message: str = "Running.") -> None:
    Job.objects.filter(pk=job_id).update(
        status=Job.Status.RUNNING, started_at=timezone.now(), message=message, error="", updated_at=timezone.now()
    )


def job_progress(*, job_id: int, progress: float, message: str | None = None) -> None:
    fields: dict[str, Any] = {"progress": max(0, min(100, int(progress))), "updated_at": timezone.now()}
    if message is not None:
        fields["message"] = message[:500]
    Job.objects.filter(pk=job_id).update(**fields)


def job_succeed(*, job_id: int, message: str = "Done.") -> None:
    Job.objects.filter(pk=job_id).update(
        status=Job.Status.SUCCEEDED,
        progress=100,
        message=message[:500],
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )


def job_fail(*, job_id: int, error: str, message: str = "Failed.") -> None:
    Job.objects.filter(pk=job_id).update(
        status=Job.Status.FAILED,
        error=error,
        message=message[:500],
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )
