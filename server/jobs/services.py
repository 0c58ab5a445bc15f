"""Job lifecycle. Progress writes are plain UPDATEs so a worker can report often and cheaply."""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.utils import timezone

from server.jobs.models import Job, TaskDelivery


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


# --- deliveries of worker tasks (poison-loop guard, see server.jobs.deliveries) -----------------------


def task_delivery_begin(*, task: str, job_id: int | None, item: str = "") -> int:
    """Count one more delivery of `task` for (`job_id`, `item`) before it does any work, in its own transaction
    (committed when called outside one, as in a worker). Returns how many deliveries started since the last one
    that ended with its process alive, this one included (0 when the job is gone: nothing to count)."""
    now = timezone.now()
    try:
        with transaction.atomic():
            row, created = TaskDelivery.objects.get_or_create(
                task=task, job_id=job_id, item=item, defaults={"unfinished": 1, "total": 1}
            )
            if created:
                return 1
            TaskDelivery.objects.filter(pk=row.pk).update(
                unfinished=F("unfinished") + 1, total=F("total") + 1, updated_at=now
            )
            # The UPDATE holds the row's lock until commit: this reads our own increment.
            return TaskDelivery.objects.filter(pk=row.pk).values_list("unfinished", flat=True).get()
    except IntegrityError:
        if job_id is not None and not Job.objects.filter(pk=job_id).exists():
            return 0
        raise


def task_delivery_end(*, task: str, job_id: int | None, item: str = "") -> None:
    """A delivery of `task` for (`job_id`, `item`) ended with its process alive: the count starts again."""
    TaskDelivery.objects.filter(task=task, job_id=job_id, item=item, unfinished__gt=0).update(
        unfinished=0, updated_at=timezone.now()
    )
