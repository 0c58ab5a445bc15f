"""Celery task of import from a bucket (queue `ingest`). It takes ids and calls one service."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError

from server.buckets.services import bucket_import_run
from server.jobs.deliveries import delivery_refused
from server.jobs.services import job_fail

SOFT_TIME_LIMIT = 2 * 3600  # seconds: downloads every new video of a prefix
TIME_LIMIT = SOFT_TIME_LIMIT + 300
MAX_RETRIES = 3


class BucketImportTask(Task):
    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        job_id = (args or [None])[0] if args else (kwargs or {}).get("job_id")
        if job_id is not None:
            job_fail(
                job_id=job_id,
                error=f"Import stopped unexpectedly ({type(exc).__name__}: {exc}).",
                message="Import failed.",
            )


@shared_task(
    bind=True,
    base=BucketImportTask,
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=MAX_RETRIES,
    soft_time_limit=SOFT_TIME_LIMIT,
    time_limit=TIME_LIMIT,
)
def bucket_import_task(self: Task, job_id: int, project_id: int, url: str) -> None:
    """Import the new videos of `url` into the project (`server.buckets.services.bucket_import_run`). Objects already
    imported by an earlier delivery are not imported again (they are in the project by then)."""

    def fail(error: str) -> None:
        job_fail(job_id=job_id, error=error, message="Import failed.")

    if delivery_refused(self, job_id=job_id, item=f"project:{project_id}", what="Import", fail=fail):
        return
    bucket_import_run(job_id=job_id, project_id=project_id, url=url)
