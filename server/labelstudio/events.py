"""Label Studio's webhooks: received (stored, queued: `webhook_receive`), then processed on a worker
(`webhook_event_process`, through `server.labelstudio.imports`).

Label Studio 1.23.2 creates a project webhook to `<ml url>/webhook` with every action when an ML backend is added;
the payload is `{"action", "project": {...}, <key>: ...}` (`webhooks.models.WebhookAction.ACTIONS`):
`ANNOTATION_CREATED` / `ANNOTATION_UPDATED` carry `annotation` (`completed_by` an id, `result`, `updated_at`) and
`task` (with `data`); `ANNOTATIONS_CREATED` lists of both; `ANNOTATIONS_DELETED` `annotations: [{"id"}]` (the
singular `ANNOTATION_DELETED` with `annotation: {"id"}` is accepted too). `START_TRAINING` is answered by the view
itself (it only queues a round). Any other action is answered 200 and not stored.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from server.core.errors import ApplicationError
from server.labelstudio.imports import EmailOf, ImportSkipped, annotation_import, annotation_retract
from server.labelstudio.models import AnnotationLink, Connection, WebhookEvent

logger = logging.getLogger(__name__)

IMPORT_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED")
RETRACT_ACTIONS = ("ANNOTATIONS_DELETED", "ANNOTATION_DELETED")
STORED_ACTIONS = IMPORT_ACTIONS + RETRACT_ACTIONS
TRAIN_ACTION = "START_TRAINING"


def ls_project_id_of(value: Any) -> int | None:
    """Label Studio's project reference as it sends it: an object with `id`, an id, or the ML API's
    `"<id>.<created timestamp>"`; None when it is none of these."""
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str):
        head = value.strip().split(".", 1)[0]
        return int(head) if head.isdigit() and int(head) > 0 else None
    return None


def connection_for(*, ls_project_id: int | None, avs_project: Any = None) -> Connection | None:
    """The connection of a Label Studio project id. Several Label Studio servers may number their projects alike:
    the AVS Studio project a task names (`data.avs_project`, pushed with every task) decides, else the connection
    pushed last."""
    if ls_project_id is None:
        return None
    connections = Connection.objects.select_related("project", "created_by").filter(ls_project_id=ls_project_id)
    if isinstance(avs_project, int) and not isinstance(avs_project, bool):
        chosen = connections.filter(project_id=avs_project).first()
        if chosen is not None:
            return chosen
    return connections.order_by(F("last_push_at").desc(nulls_last=True), "-id").first()


def _tasks_and_annotations(payload: dict[str, Any]) -> list[tuple[Any, Any]]:
    annotations, tasks = payload.get("annotation"), payload.get("task")
    if isinstance(annotations, list):  # ANNOTATIONS_CREATED: lists, paired by task id
        by_id = {t.get("id"): t for t in tasks if isinstance(t, dict)} if isinstance(tasks, list) else {}
        return [(by_id.get(a.get("task")) if isinstance(a, dict) else None, a) for a in annotations]
    return [(tasks, annotations)]


def _deleted_ids(payload: dict[str, Any]) -> list[Any]:
    items = payload.get("annotations")
    if items is None:
        items = [payload.get("annotation")]
    if not isinstance(items, list):
        return [items]
    return [item.get("id") if isinstance(item, dict) else item for item in items]


def _first_task_data(payload: dict[str, Any]) -> dict[str, Any]:
    task = payload.get("task")
    if isinstance(task, list):
        task = task[0] if task else None
    data = task.get("data") if isinstance(task, dict) else None
    return data if isinstance(data, dict) else {}


def webhook_payload_check(payload: Any) -> str:
    """The action of a webhook body; ApplicationError (400) naming what is wrong when it is no webhook of a stored
    action's shape (unknown actions pass: they are ignored)."""
    if not isinstance(payload, dict):
        raise ApplicationError("A webhook body is a JSON object with an 'action'.", {"field": "action"})
    action = payload.get("action")
    if not isinstance(action, str) or not action.strip() or len(action) > 64:
        raise ApplicationError("A webhook body is a JSON object with an 'action' string.", {"field": "action"})
    if action in IMPORT_ACTIONS:
        pairs = _tasks_and_annotations(payload)
        if not pairs or any(not isinstance(t, dict) or not isinstance(a, dict) for t, a in pairs):
            raise ApplicationError(
                f"{action} must carry the 'annotation' and its 'task' as objects.", {"field": "annotation"}
            )
    if action in RETRACT_ACTIONS:
        ids = _deleted_ids(payload)
        if not ids or any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
            raise ApplicationError(f"{action} must carry the deleted annotations' ids.", {"field": "annotations"})
    return action


def webhook_receive(*, payload: dict[str, Any]) -> WebhookEvent:
    """Store one annotation webhook (`payload` checked by `webhook_payload_check`) and, once committed, queue its
    processing. A project that no connection knows is stored as `ignored` (and logged), never queued."""
    action = payload["action"]
    ls_project = payload.get("project")
    if ls_project is None:
        first = _tasks_and_annotations(payload)[0][1] if action in IMPORT_ACTIONS else None
        ls_project = first.get("project") if isinstance(first, dict) else None
    ls_project_id = ls_project_id_of(ls_project)
    connection = connection_for(ls_project_id=ls_project_id, avs_project=_first_task_data(payload).get("avs_project"))
    # Label Studio sends its whole project record (label config, counts, task-data credentials): keep its id only.
    payload = {**payload, "project": {"id": ls_project_id}}
    with transaction.atomic():
        if connection is None:
            event = WebhookEvent.objects.create(
                action=action,
                payload=payload,
                status=WebhookEvent.Status.IGNORED,
                outcome=f"Label Studio project {ls_project_id} is connected to no AVS Studio project: ignored.",
                processed_at=timezone.now(),
            )
            logger.warning("labelstudio webhook %s (event %s): %s", action, event.pk, event.outcome)
            return event
        event = WebhookEvent.objects.create(connection=connection, action=action, payload=payload)
        transaction.on_commit(partial(_enqueue, event_id=event.pk))
    return event


def _enqueue(*, event_id: int) -> None:
    from kombu.exceptions import OperationalError as BrokerError

    from server.labelstudio.tasks import labelstudio_event_task

    try:
        labelstudio_event_task.delay(event_id)
    except BrokerError as exc:
        logger.exception("labelstudio: could not queue webhook event %s", event_id)
        WebhookEvent.objects.filter(pk=event_id, status=WebhookEvent.Status.QUEUED).update(
            status=WebhookEvent.Status.FAILED,
            outcome=f"Not queued: the task broker is unreachable ({exc}; setting CELERY_BROKER_URL). Run ls_pull "
            "once it is back: it imports what this event carried.",
            processed_at=timezone.now(),
        )


def webhook_event_process(*, event_id: int, email_of: EmailOf | None = None) -> WebhookEvent:
    """Import, update or retract what one stored webhook says; the event ends `done` (something was imported,
    updated, retracted or reported as a conflict), `ignored` (nothing of ours) or `failed` (a message per problem).
    An event already processed is left as it is (a second delivery of the task changes nothing)."""
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update(of=("self",)).select_related("connection").get(pk=event_id)
        if event.status != WebhookEvent.Status.QUEUED:
            return event
        lines, statuses = [], []
        if event.connection is None:
            lines, statuses = ["no connection"], [WebhookEvent.Status.IGNORED]
        elif event.action in IMPORT_ACTIONS:
            for task, annotation in _tasks_and_annotations(event.payload):
                lines.append(_import_one(event.connection, task, annotation, email_of, statuses))
        elif event.action in RETRACT_ACTIONS:
            for ls_id in _deleted_ids(event.payload):
                lines.append(_retract_one(event.connection, ls_id, statuses))
        else:
            lines, statuses = [f"{event.action} is not processed"], [WebhookEvent.Status.IGNORED]
        if WebhookEvent.Status.FAILED in statuses:
            event.status = WebhookEvent.Status.FAILED
        elif WebhookEvent.Status.DONE in statuses:
            event.status = WebhookEvent.Status.DONE
        else:
            event.status = WebhookEvent.Status.IGNORED
        event.outcome = "\n".join(lines)[:10_000]
        event.processed_at = timezone.now()
        event.save(update_fields=["status", "outcome", "processed_at"])
    return event


def _import_one(connection: Connection, task: Any, annotation: Any, email_of: EmailOf | None, out: list) -> str:
    ls_id = annotation.get("id") if isinstance(annotation, dict) else None
    try:
        with transaction.atomic():
            link = annotation_import(connection=connection, task=task, annotation=annotation, email_of=email_of)
    except ImportSkipped as exc:
        logger.info("labelstudio: %s", exc.message)
        out.append(WebhookEvent.Status.IGNORED)
        return exc.message
    except ApplicationError as exc:
        logger.warning("labelstudio: annotation %s not imported: %s", ls_id, exc.message)
        out.append(WebhookEvent.Status.FAILED)
        return f"Label Studio annotation {ls_id} not imported: {exc.message}"
    out.append(WebhookEvent.Status.DONE)
    if link.state == AnnotationLink.State.CONFLICT:
        return link.detail
    return (
        f"Label Studio annotation {ls_id} imported as version {link.imported_version} of annotation "
        f"{link.annotation_id}."
    )


def _retract_one(connection: Connection, ls_id: Any, out: list) -> str:
    try:
        with transaction.atomic():
            link = annotation_retract(connection=connection, ls_annotation_id=ls_id)
    except ApplicationError as exc:
        out.append(WebhookEvent.Status.FAILED)
        return f"Label Studio annotation {ls_id} not retracted: {exc.message}"
    if link is None:
        out.append(WebhookEvent.Status.IGNORED)
        return f"Label Studio annotation {ls_id} was never imported: nothing to retract."
    out.append(WebhookEvent.Status.DONE)
    return link.detail
