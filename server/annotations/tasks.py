"""Celery tasks of the annotations app (queue `inference`). Each takes ids and calls one service."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError

from server.annotations.models import Propagation
from server.annotations.preannotation import clip_preannotate, clip_preannotate_fail
from server.annotations.propagation import propagation_fail, propagation_run
from server.jobs.deliveries import delivery_refused

PREANNOTATE_SOFT_TIME_LIMIT = settings.AVS_PREANNOTATE_SOFT_TIME_LIMIT  # seconds per clip
PREANNOTATE_TIME_LIMIT = PREANNOTATE_SOFT_TIME_LIMIT + 120  # leaves the soft limit's clean-up time to finish
PREANNOTATE_MAX_RETRIES = 3


class PreannotateTask(Task):
    """Fails the clip's entry of the job when the task gives up (retries exhausted, or an unexpected error)."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        job_id, clip_id = _ids(args, kwargs)
        if isinstance(exc, OperationalError | InterfaceError):
            error = (
                f"Pre-annotation failed: the database could not be reached after {PREANNOTATE_MAX_RETRIES} retries "
                f"({type(exc).__name__}: {exc}). Run the pre-annotation again: finished clips are skipped."
            )
        else:
            error = f"Pre-annotation failed unexpectedly ({type(exc).__name__}: {exc})."
        clip_preannotate_fail(job_id=job_id, clip_id=clip_id, error=error)


def _ids(args: Any, kwargs: Any) -> tuple[int, int]:
    params = dict(zip(("job_id", "clip_id"), args or (), strict=False))
    params.update(kwargs or {})
    return int(params["job_id"]), int(params["clip_id"])


@shared_task(
    bind=True,
    base=PreannotateTask,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=PREANNOTATE_MAX_RETRIES,
    soft_time_limit=PREANNOTATE_SOFT_TIME_LIMIT,
    time_limit=PREANNOTATE_TIME_LIMIT,
)
def clip_preannotate_task(self: Task, job_id: int, clip_id: int) -> None:
    """Pre-annotate one clip of a job (`server.annotations.preannotation.clip_preannotate`); the job row carries
    the clip's outcome and the job's progress. Safe to redeliver: a finished clip is not done twice; a clip whose
    run killed its worker AVS_TASK_MAX_DELIVERIES times in a row fails instead of looping."""
    if delivery_refused(
        self,
        job_id=job_id,
        item=f"clip:{clip_id}",
        what="Pre-annotation",
        fail=lambda error: clip_preannotate_fail(job_id=job_id, clip_id=clip_id, error=error),
    ):
        return
    try:
        clip_preannotate(job_id=job_id, clip_id=clip_id)
    except SoftTimeLimitExceeded:
        clip_preannotate_fail(
            job_id=job_id,
            clip_id=clip_id,
            error=(
                f"Pre-annotation was stopped after {PREANNOTATE_SOFT_TIME_LIMIT // 60} minutes, the time limit for "
                "one clip (setting AVS_PREANNOTATE_SOFT_TIME_LIMIT). The inference worker may be overloaded or "
                "have no GPU: try again later, or split the video into shorter clips."
            ),
        )


PROPAGATE_SOFT_TIME_LIMIT = settings.AVS_PROPAGATION_SOFT_TIME_LIMIT
PROPAGATE_TIME_LIMIT = PROPAGATE_SOFT_TIME_LIMIT + 120


class PropagateTask(Task):
    """Fails the propagation's job when the task gives up (retries exhausted, or an unexpected error)."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        propagation_id = int((kwargs or {}).get("propagation_id") or args[0])
        if isinstance(exc, OperationalError | InterfaceError):
            error = (
                f"Propagation failed: the database could not be reached after {PREANNOTATE_MAX_RETRIES} retries "
                f"({type(exc).__name__}: {exc}). Propagate again."
            )
        else:
            error = f"Propagation failed unexpectedly ({type(exc).__name__}: {exc})."
        propagation_fail(propagation_id=propagation_id, error=error)


@shared_task(
    bind=True,
    base=PropagateTask,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=PREANNOTATE_MAX_RETRIES,
    soft_time_limit=PROPAGATE_SOFT_TIME_LIMIT,
    time_limit=PROPAGATE_TIME_LIMIT,
)
def propagate_task(self: Task, propagation_id: int) -> None:
    """Propagate one annotator's masks through their range (`server.annotations.propagation.propagation_run`); the
    job carries progress and outcome. Safe to redeliver: a finished propagation is not run again; one whose run
    killed its worker AVS_TASK_MAX_DELIVERIES times in a row fails instead of looping."""
    job_id = Propagation.objects.filter(pk=propagation_id).values_list("job_id", flat=True).first()
    if delivery_refused(
        self,
        job_id=job_id,
        item=f"propagation:{propagation_id}",
        what="Propagation",
        fail=lambda error: propagation_fail(propagation_id=propagation_id, error=error),
    ):
        return
    try:
        propagation_run(propagation_id=propagation_id)
    except SoftTimeLimitExceeded:
        propagation_fail(
            propagation_id=propagation_id,
            error=(
                f"Propagation was stopped after {PROPAGATE_SOFT_TIME_LIMIT // 60} minutes, its time limit (setting "
                "AVS_PROPAGATION_SOFT_TIME_LIMIT). The inference worker may be overloaded or have no GPU: propagate "
                "a shorter range."
            ),
        )
