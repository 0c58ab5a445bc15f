"""Celery tasks of the media app (queue `ingest`). Each takes ids and calls one service."""

from __future__ import annotations

import uuid
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError

from server.jobs.deliveries import delivery_refused
from server.media.services import clip_ingest, clip_ingest_fail

INGEST_SOFT_TIME_LIMIT = 2 * 3600  # seconds: far above an hour of 4K video at the measured ingest speed
INGEST_TIME_LIMIT = INGEST_SOFT_TIME_LIMIT + 300  # seconds: leaves the soft limit's clean-up time to finish
INGEST_MAX_RETRIES = 3


class IngestTask(Task):
    """Fails the job and the clip when the task gives up (retries exhausted, or an error clip_ingest raised)."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        clip_id, job_id = _ids(args, kwargs)
        if isinstance(exc, OperationalError | InterfaceError):
            error = (
                f"Ingest failed: the database could not be reached after {INGEST_MAX_RETRIES} retries "
                f"({type(exc).__name__}: {exc}). Delete the clip and upload it again."
            )
        else:
            error = f"Ingest failed unexpectedly ({type(exc).__name__}: {exc})."
        clip_ingest_fail(clip_id=clip_id, job_id=job_id, error=error)


def _ids(args: Any, kwargs: Any) -> tuple[int, int]:
    params = dict(zip(("clip_id", "job_id"), args or (), strict=False))
    params.update(kwargs or {})
    return int(params["clip_id"]), int(params["job_id"])


@shared_task(
    bind=True,
    base=IngestTask,
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=INGEST_MAX_RETRIES,
    soft_time_limit=INGEST_SOFT_TIME_LIMIT,
    time_limit=INGEST_TIME_LIMIT,
)
def clip_ingest_task(self: Task, clip_id: int, job_id: int) -> None:
    """Ingest one clip (`server.media.services.clip_ingest`); the job row carries progress and outcome. A clip
    whose ingest killed its worker AVS_TASK_MAX_DELIVERIES times in a row fails instead of looping."""

    def fail(error: str) -> None:
        clip_ingest_fail(clip_id=clip_id, job_id=job_id, error=error)

    if delivery_refused(self, job_id=job_id, item=f"clip:{clip_id}", what="Ingest", fail=fail):
        return
    attempt = uuid.uuid4()  # this run's claim on the clip (`Clip.ingest_attempt`)
    try:
        clip_ingest(clip_id=clip_id, job_id=job_id, attempt=attempt)
    except SoftTimeLimitExceeded:
        clip_ingest_fail(
            clip_id=clip_id,
            job_id=job_id,
            attempt=attempt,
            error=(
                f"Ingest was stopped after {INGEST_SOFT_TIME_LIMIT // 60} minutes, the time limit for one clip. "
                "The worker may be overloaded: try again later, or split the video into shorter clips."
            ),
        )
