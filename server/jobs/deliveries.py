"""Poison-loop guard for worker tasks.

Tasks are acknowledged late and requeued when their worker dies (`acks_late`, `reject_on_worker_lost`), so no
work is lost to a crash; but a task that itself kills its worker (out of memory on a huge clip, a native crash)
would then be delivered again and again, forever. Every worker task calls `delivery_refused` first::

    if delivery_refused(self, job_id=job_id, item=f"clip:{clip_id}", what="Ingest", fail=...):
        return

It counts the delivery in the database (`TaskDelivery`, committed before any work starts); a delivery that ends
with its process alive (success, failure or retry: Celery's `task_postrun`) sets the count back to 0. When the
count exceeds AVS_TASK_MAX_DELIVERIES, that many deliveries died in a row: `fail(message)` marks the item failed
with a readable message and the task returns without running it (and its message is acknowledged).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Task, signals
from django.conf import settings

from server.jobs.services import task_delivery_begin, task_delivery_end

SETTING = "AVS_TASK_MAX_DELIVERIES"
_REQUEST_KEY = "avs_delivery"  # attribute of the task's request: the (task, job, item) to end at task_postrun


def poison_message(*, what: str, deliveries: int) -> str:
    """The readable error of an item whose last `deliveries` deliveries all died."""
    return (
        f"{what} stopped after {deliveries} deliveries: the worker died while running it (out of memory?) each time, "
        "so it is not tried again. Check the worker's log and memory limit before starting it again "
        f"(the number of tries is the setting {SETTING})."
    )


def delivery_refused(task: Task, *, job_id: int | None, item: Any = "", what: str, fail: Callable[[str], Any]) -> bool:
    """Count this delivery of `task` for (`job_id`, `item`); True when it is refused: the deliveries before it
    died AVS_TASK_MAX_DELIVERIES times in a row, and `fail(message)` has marked the item failed (`what` names the
    work in the message, e.g. "Ingest"; every refused delivery calls it with the same message). A direct call of
    the task function (not a delivery) is never counted."""
    if task.request.called_directly:
        return False
    key = {"task": task.name, "job_id": job_id, "item": str(item)}
    count = task_delivery_begin(**key)
    limit = max(1, int(settings.AVS_TASK_MAX_DELIVERIES))
    if count <= limit:
        setattr(task.request, _REQUEST_KEY, key)
        return False
    # Not reset at task_postrun: a further copy of this message is refused too (and fails the item the same way).
    fail(poison_message(what=what, deliveries=limit))
    return True


@signals.task_postrun.connect(dispatch_uid="server.jobs.deliveries.delivery_ended")
def _delivery_ended(sender: Task | None = None, task: Task | None = None, **_: Any) -> None:
    """The task returned, raised or retried in a live process: its deliveries start counting from 0 again."""
    request = getattr(task, "request", None)
    key = getattr(request, _REQUEST_KEY, None) if request is not None else None
    if key:
        setattr(request, _REQUEST_KEY, None)
        task_delivery_end(**key)
