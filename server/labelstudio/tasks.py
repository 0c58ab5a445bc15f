"""Celery tasks of the Label Studio bridge (queue `ingest`). Each takes ids and calls one service."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

# --- webhook events (server.labelstudio.events) ---------------------------------------------------------------------

EVENT_SOFT_TIME_LIMIT = 120  # seconds: a few imports, each a Label Studio API call at most
EVENT_MAX_RETRIES = 3


class LabelStudioEventTask(Task):
    """Fails the webhook event, with the reason, when the task gives up."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        from server.labelstudio.models import WebhookEvent

        event_id = int((kwargs or {}).get("event_id", args[0] if args else 0))
        WebhookEvent.objects.filter(pk=event_id, status=WebhookEvent.Status.QUEUED).update(
            status=WebhookEvent.Status.FAILED,
            outcome=f"Processing failed unexpectedly ({type(exc).__name__}: {str(exc)[:500]}).",
            processed_at=timezone.now(),
        )


@shared_task(
    bind=True,
    base=LabelStudioEventTask,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=EVENT_MAX_RETRIES,
    soft_time_limit=EVENT_SOFT_TIME_LIMIT,
    time_limit=EVENT_SOFT_TIME_LIMIT + 30,
)
def labelstudio_event_task(self: Task, event_id: int) -> None:
    """Process one stored Label Studio webhook (`server.labelstudio.events.webhook_event_process`). Safe to
    redeliver: a processed event is left as it is, and imports are idempotent."""
    from server.labelstudio.events import webhook_event_process

    webhook_event_process(event_id=event_id)


# --- push and pull (server.labelstudio.sync) ------------------------------------------------------------------------

SYNC_SOFT_TIME_LIMIT = 3600  # seconds: a push of many frames is one API call per task to refresh
SYNC_MAX_RETRIES = 3


class LabelStudioSyncTask(Task):
    """Fails the push or pull job, with the reason, when the task gives up."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        from server.jobs.services import job_fail

        job_id = int((kwargs or {}).get("job_id", args[0] if args else 0))
        job_fail(
            job_id=job_id,
            error=f"The Label Studio sync stopped unexpectedly ({type(exc).__name__}: {str(exc)[:500]}).",
            message="Label Studio sync failed.",
        )


@shared_task(
    bind=True,
    base=LabelStudioSyncTask,
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=SYNC_MAX_RETRIES,
    soft_time_limit=SYNC_SOFT_TIME_LIMIT,
    time_limit=SYNC_SOFT_TIME_LIMIT + 60,
)
def labelstudio_sync_task(self: Task, job_id: int) -> None:
    """Push or pull a project's Label Studio connection (`server.labelstudio.sync.labelstudio_job_run`); the job
    carries the outcome. Safe to redeliver: pushes and pulls reconcile with what Label Studio holds."""
    from server.labelstudio.sync import labelstudio_job_run

    labelstudio_job_run(job_id=job_id)
