"""Label Studio annotations → ours: import, update and retract one annotation (webhooks and `ls_pull` share these).

One Label Studio annotation is one `AnnotationLink`. Its frame comes from the task's data (`clip_id`, `frame_index`,
pushed by `ls_push`), falling back to the pushed task's `TaskLink`; a task that is no frame of the connection's project
raises `ImportSkipped` (the caller logs it and moves on). Masks are the `brushlabels` results of the `mask` control
(`brush.instances_from_results`); keypoints and rectangles are SAM prompts and are not imported.

- Import is idempotent: the same Label Studio annotation id with the same `updated_at` changes nothing.
- A new or updated Label Studio annotation is written through `annotation_update` (optimistic locking, one
  `AnnotationRevision` per version), based on the version the last import wrote. If our annotation moved past it
  (someone edited it in AVS Studio), or the frame holds an annotation made here rather than by an import, nothing
  is overwritten: the link turns `conflict` and `detail` says what happened and what to do.
- A frame whose annotation was written by the import of another Label Studio annotation (several annotators on one
  task) and not edited since takes the newer one on top; `previous_version` remembers what was there.
- Status: the connection's `import_status`. `accepted` writes a submitted version and accepts it with a `Review`
  saying so (as a reviewer would), so it counts for training at once.
- Author: the AVS Studio user with the Label Studio annotator's email (case-insensitive), created without a usable
  password (and without project membership) when there is none. Label Studio's webhooks carry `completed_by` as a
  user id only (its `AnnotationWebhookSerializer` is `fields="__all__"`), exports may carry `{"id", "email", ...}`:
  an id is turned into an email by asking Label Studio's API (`GET /api/users/{id}/`) with the connection's token
  (`email_of` replaces that lookup, e.g. in tests). When it cannot be learned, the import fails with a message and
  nothing is stored (a later `ls_pull` imports it).
- Retract (annotation deleted in Label Studio): if our annotation is as the import left it, it is deleted when the
  import created it, else the version before the first import is written back as a new version; if it was edited
  here since, it is kept and the link turns `conflict`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from server.accounts.models import Role
from server.annotations.models import Annotation, AnnotationRevision, Review
from server.annotations.services import (
    EDITABLE_STATUSES,
    annotation_update,
    clip_annotations_changing,
    review_create,
)
from server.core.errors import ApplicationError
from server.labelstudio import label_config
from server.labelstudio.brush import instances_from_results
from server.labelstudio.models import AnnotationLink, Connection, TaskLink
from server.media.models import Frame

logger = logging.getLogger(__name__)

EXTERNAL_SOURCE = "labelstudio"
MASK_CONTROL = label_config.MASK  # the BrushLabels control of the pushed label config
ACCEPT_COMMENT = (
    "Accepted on import from Label Studio: this project's Label Studio connection imports annotations as accepted."
)

EmailOf = Callable[[int], str]


class ImportSkipped(ApplicationError):
    """A Label Studio annotation or task this connection has nothing to do with (logged and ignored)."""


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise ApplicationError(f"{what} must be an integer id, not {value!r}.", {"field": what})
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise ApplicationError(f"{what} must be an integer id, not {value!r}.", {"field": what})


# --- frames and authors -------------------------------------------------------------------------------------------


def task_frame(*, connection: Connection, task: dict[str, Any]) -> Frame:
    """The frame of ours a Label Studio task shows: `data.clip_id` + `data.frame_index` within the connection's
    project, else the frame pushed as that task (`TaskLink`). Raises ImportSkipped when it is neither."""
    if not isinstance(task, dict):
        raise ApplicationError("task must be a Label Studio task object.", {"field": "task"})
    data = task.get("data") if isinstance(task.get("data"), dict) else {}
    frames = Frame.objects.select_related("clip").filter(clip__project_id=connection.project_id)
    frame = None
    try:
        clip_id, index = _int(data.get("clip_id"), "task.data.clip_id"), _int(data.get("frame_index"), "frame_index")
    except ApplicationError:
        clip_id = index = None
    if clip_id is not None:
        frame = frames.filter(clip_id=clip_id, index=index).first()
    elif task.get("id") is not None:
        link = TaskLink.objects.filter(connection=connection, ls_task_id=_int(task["id"], "task.id")).first()
        frame = frames.filter(pk=link.frame_id).first() if link is not None else None
    if frame is None:
        raise ImportSkipped(
            f"Label Studio task {task.get('id')} (clip_id {data.get('clip_id')!r}, frame_index "
            f"{data.get('frame_index')!r}) is no frame of project {connection.project_id}: ignored.",
            {"task": task.get("id")},
        )
    return frame


_EMAILS: dict[tuple[str, int], str] = {}  # (Label Studio URL, user id) → email, learned from its API


def ls_user_email(*, connection: Connection, user_id: int) -> str:
    """The email of Label Studio user `user_id`, asked from the connection's Label Studio (remembered per process).
    Raises ApplicationError with a one-line reason when Label Studio cannot tell."""
    key = (connection.url, user_id)
    if key in _EMAILS:
        return _EMAILS[key]
    if not connection.token:
        raise ApplicationError(
            f"Label Studio user {user_id}'s email is unknown and the connection has no API token to ask for it; "
            "set the token in the project's Label Studio settings and pull again."
        )
    from label_studio_sdk import LabelStudio  # the bridge's dependency: imported on first use

    try:
        client = LabelStudio(base_url=connection.url, api_key=connection.token, timeout=settings.AVS_LS_TIMEOUT)
        email = client.users.get(id=user_id).email or ""
    except Exception as exc:  # network, auth, 404: one line either way
        raise ApplicationError(
            f"Could not learn Label Studio user {user_id}'s email from {connection.url} "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}); pull again later."
        ) from None
    if not email:
        raise ApplicationError(f"Label Studio user {user_id} has no email; give them one in Label Studio.")
    if len(_EMAILS) > 1024:
        _EMAILS.clear()
    _EMAILS[key] = email
    return email


def _author_email(*, connection: Connection, annotation: dict[str, Any], email_of: EmailOf | None) -> str:
    completed_by = annotation.get("completed_by")
    if isinstance(completed_by, dict):
        email = completed_by.get("email")
        if isinstance(email, str) and email.strip():
            return email.strip()
        completed_by = completed_by.get("id")
    if completed_by is None:
        raise ApplicationError(
            f"Label Studio annotation {annotation.get('id')} names no annotator (completed_by).",
            {"field": "completed_by"},
        )
    user_id = _int(completed_by, "annotation.completed_by")
    if email_of is not None:
        return email_of(user_id)
    return ls_user_email(connection=connection, user_id=user_id)


def author_for_email(email: str) -> Any:
    """The user with this email (case-insensitive; the oldest if several), else a new one named after the email,
    without a usable password (an administrator may set one) and without project membership."""
    User = get_user_model()
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError:
        raise ApplicationError(
            f"The Label Studio annotator's email {email[:100]!r} is not an email address; fix it in Label Studio.",
            {"field": "completed_by"},
        ) from None
    user = User.objects.filter(email__iexact=email).order_by("pk").first()
    if user is not None:
        return user
    username = email[:150]
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User(username=username, email=email)
        user.set_unusable_password()
        user.save()
    return user


# --- import -------------------------------------------------------------------------------------------------------


def _ls_updated_at(annotation: dict[str, Any]) -> str:
    return str(annotation.get("updated_at") or annotation.get("created_at") or "")[:64]


def _mark_external(annotation: Annotation, external_id: str) -> None:
    Annotation.objects.filter(pk=annotation.pk).update(
        external_source=EXTERNAL_SOURCE if external_id else "", external_id=external_id
    )


def _write(
    *, connection: Connection, frame: Frame, user: Any, instances: list[dict[str, Any]], version: int | None, ls_id: int
) -> Annotation:
    """One new version of the frame's annotation with these instances, in the connection's import status."""
    written = annotation_update(
        frame=frame,
        user=user,
        role=Role.MANAGER,  # an import may correct an accepted annotation, as a manager may
        instances=instances,
        version=version,
        status=Annotation.Status.SUBMITTED,
    )
    _mark_external(written, str(ls_id))
    if connection.import_status == Connection.ImportStatus.ACCEPTED:
        review_create(
            annotation_id=written.pk,
            reviewer=connection.created_by,
            verdict=Review.Verdict.ACCEPT,
            comment=ACCEPT_COMMENT,
            annotation_version=written.version,
        )
    return Annotation.objects.get(pk=written.pk)


def _importing_link(*, connection: Connection, annotation: Annotation, exclude: int | None) -> AnnotationLink | None:
    """The link whose import wrote `annotation`'s current version (None: it was made or edited in AVS Studio)."""
    return (
        AnnotationLink.objects.filter(
            connection=connection,
            annotation=annotation,
            imported_version=annotation.version,
            state=AnnotationLink.State.IMPORTED,
        )
        .exclude(pk=exclude)
        .first()
    )


def _who(annotation: Annotation) -> str:
    author = annotation.author
    return f" by {author.email or author.get_username()}" if author is not None else ""


def annotation_import(
    *, connection: Connection, task: dict[str, Any], annotation: dict[str, Any], email_of: EmailOf | None = None
) -> AnnotationLink:
    """Import (or update) one Label Studio annotation of `task` as the annotation of the task's frame.

    `task` and `annotation` are Label Studio's objects as its webhooks and exports give them (`task.data.clip_id`,
    `task.data.frame_index`; `annotation.id`, `updated_at`, `completed_by`, `result`). Returns the link, whose
    `state` says what happened (`imported`, or `conflict` with `detail`). Raises ImportSkipped for a task that is no
    frame of the connection's project or a skipped (cancelled) annotation, BrushError (400) for a mask of the wrong
    size or a malformed result, ApplicationError when the annotator's email cannot be learned: nothing is stored
    then. See the module docstring for the rules."""
    if not isinstance(annotation, dict):
        raise ApplicationError("annotation must be a Label Studio annotation object.", {"field": "annotation"})
    ls_id = _int(annotation.get("id"), "annotation.id")
    frame = task_frame(connection=connection, task=task)
    if annotation.get("was_cancelled"):
        raise ImportSkipped(f"Label Studio annotation {ls_id} is a skipped task, not an annotation: ignored.")
    updated_at = _ls_updated_at(annotation)
    existing = AnnotationLink.objects.filter(connection=connection, ls_annotation_id=ls_id).first()
    if (
        existing is not None
        and existing.state == AnnotationLink.State.IMPORTED
        and updated_at
        and existing.ls_updated_at == updated_at
    ):
        return existing  # delivered again: nothing new
    # Checked before anything is written: a bad mask refuses the whole annotation.
    instances = instances_from_results(
        annotation.get("result") or [], height=frame.height, width=frame.width, from_name=MASK_CONTROL
    )
    email = _author_email(connection=connection, annotation=annotation, email_of=email_of)

    with transaction.atomic():
        user = author_for_email(email)
        link, _ = AnnotationLink.objects.select_for_update().get_or_create(
            connection=connection, ls_annotation_id=ls_id, defaults={"frame": frame}
        )
        if link.state == AnnotationLink.State.IMPORTED and updated_at and link.ls_updated_at == updated_at:
            return link  # a concurrent delivery did it
        current = (
            Annotation.objects.select_for_update(of=("self",)).select_related("author").filter(frame=frame).first()
        )
        link.frame = frame
        link.ls_author_email = email
        ours = link.annotation_id is not None and current is not None and current.pk == link.annotation_id
        if ours and link.imported_version is not None and link.state != AnnotationLink.State.RETRACTED:
            if current.version != link.imported_version:
                link.state = AnnotationLink.State.CONFLICT
                link.detail = (
                    f"Label Studio annotation {ls_id} was updated ({updated_at or 'no date'}) but frame "
                    f"{frame.index} of clip {frame.clip.name} was edited in AVS Studio since it was imported "
                    f"(version {current.version}{_who(current)}, imported version {link.imported_version}); the "
                    "update was not applied. Reconcile the two by hand in one tool."
                )
                link.save()
                logger.info("labelstudio: %s", link.detail)
                return link
            written = _write(
                connection=connection, frame=frame, user=user, instances=instances, version=current.version, ls_id=ls_id
            )
        else:
            previous = None
            if current is not None:
                other = _importing_link(connection=connection, annotation=current, exclude=link.pk)
                if other is None:
                    link.state = AnnotationLink.State.CONFLICT
                    link.annotation = current
                    link.imported_version = None
                    link.previous_version = None
                    link.detail = (
                        f"Frame {frame.index} of clip {frame.clip.name} already has an annotation made in AVS Studio "
                        f"(version {current.version}{_who(current)}); Label Studio annotation {ls_id} by {email} was "
                        "not imported over it. Reconcile the two by hand in one tool."
                    )
                    link.save()
                    logger.info("labelstudio: %s", link.detail)
                    return link
                previous = current.version
            written = _write(
                connection=connection,
                frame=frame,
                user=user,
                instances=instances,
                version=current.version if current is not None else None,
                ls_id=ls_id,
            )
            link.previous_version = previous
        link.annotation = written
        link.imported_version = written.version
        link.ls_updated_at = updated_at
        link.state = AnnotationLink.State.IMPORTED
        link.detail = ""
        link.save()
    return link


# --- retract ------------------------------------------------------------------------------------------------------


def annotation_retract(*, connection: Connection, ls_annotation_id: int) -> AnnotationLink | None:
    """Withdraw what the import of a Label Studio annotation (now deleted there) wrote. Returns its link (`state`
    `retracted`, or `conflict` with `detail` when our annotation was edited since the import and is kept), None when
    that annotation was never imported. Idempotent: a retracted link is returned as it is."""
    ls_annotation_id = _int(ls_annotation_id, "annotation id")
    with transaction.atomic(), ExitStack() as counters:
        link = (
            AnnotationLink.objects.select_for_update()
            .filter(connection=connection, ls_annotation_id=ls_annotation_id)
            .first()
        )
        if link is None or link.state == AnnotationLink.State.RETRACTED:
            return link
        # The clip's counters follow the annotation (lock order of every annotation write: its clip first).
        clip_id = Annotation.objects.filter(pk=link.annotation_id).values_list("clip_id", flat=True).first()
        if clip_id is not None:
            counters.enter_context(clip_annotations_changing(clip_id=clip_id))
        current = (
            Annotation.objects.select_for_update(of=("self",))
            .select_related("author", "frame__clip")
            .filter(pk=link.annotation_id)
            .first()
            if link.annotation_id is not None
            else None
        )
        if link.imported_version is None or current is None:
            link.state = AnnotationLink.State.RETRACTED
            link.annotation = None
            link.detail = "Deleted in Label Studio; nothing it imported was left here to withdraw."
        elif current.version != link.imported_version:
            link.state = AnnotationLink.State.CONFLICT
            link.detail = (
                f"Label Studio annotation {ls_annotation_id} was deleted, but frame {current.frame.index} of clip "
                f"{current.frame.clip.name} was edited in AVS Studio since it was imported (version {current.version}"
                f"{_who(current)}, imported version {link.imported_version}); the annotation was kept. Delete or "
                "correct it in AVS Studio if it should go."
            )
            logger.info("labelstudio: %s", link.detail)
        elif link.previous_version is None:
            current.delete()
            link.annotation = None
            link.state = AnnotationLink.State.RETRACTED
            link.detail = "Deleted in Label Studio: the annotation its import created was deleted here too."
        else:
            _restore(connection=connection, link=link, current=current)
        link.save()
    return link


def _restore(*, connection: Connection, link: AnnotationLink, current: Annotation) -> None:
    """Write back the version before `link`'s first import as a new version (accepted or rejected ones come back
    submitted: they are reviewed again)."""
    revision = AnnotationRevision.objects.filter(annotation=current, version=link.previous_version).first()
    if revision is None:  # history pruned: nothing to restore from
        link.state = AnnotationLink.State.CONFLICT
        link.detail = (
            f"Deleted in Label Studio, but version {link.previous_version} of the annotation before the import is not "
            "in its history any more; the annotation was kept."
        )
        return
    frame = Frame.objects.select_related("clip").get(pk=current.frame_id)
    status = revision.status if revision.status in EDITABLE_STATUSES else Annotation.Status.SUBMITTED
    restored = annotation_update(
        frame=frame,
        user=revision.author,
        role=Role.MANAGER,
        instances=revision.instances,
        version=current.version,
        status=status,
    )
    # The link whose import wrote the restored version holds the frame again, as it was.
    other = (
        AnnotationLink.objects.select_for_update()
        .filter(connection=connection, annotation=current, imported_version=link.previous_version)
        .exclude(pk=link.pk)
        .filter(state=AnnotationLink.State.IMPORTED)
        .first()
    )
    if other is not None:
        other.imported_version = restored.version
        other.save(update_fields=["imported_version", "updated_at"])
    _mark_external(restored, str(other.ls_annotation_id) if other is not None else "")
    link.state = AnnotationLink.State.RETRACTED
    link.detail = (
        f"Deleted in Label Studio: version {link.previous_version}, from before the import, was written back as "
        f"version {restored.version}."
    )
