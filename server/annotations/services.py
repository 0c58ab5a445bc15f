"""Writes for annotations and reviews.

Optimistic locking: every write names the version it was based on. The check and the write are one
atomic step: the row is locked (`SELECT ... FOR UPDATE` on PostgreSQL) and the write itself is a
conditional `UPDATE ... WHERE version = N`, so of two writers starting from the same version exactly
one wins, on every database; the other gets a 409 carrying the current annotation, and nothing of
theirs is stored.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Lower
from django.utils import timezone

from server.accounts.models import Role
from server.accounts.selectors import ADMIN
from server.annotations.models import Annotation, AnnotationRevision, Proposal, Review
from server.core.errors import ApplicationError, ConflictError
from server.core.masks import rle_validate
from server.media.models import Frame, Label

LABEL_MAX_LENGTH = Label._meta.get_field("name").max_length

# 20 colours far apart for the eye (Sasha Trubetskoy's list); new labels take the first one unused.
LABEL_PALETTE = (
    "#e6194b",
    "#3cb44b",
    "#ffe119",
    "#4363d8",
    "#f58231",
    "#911eb4",
    "#46f0f0",
    "#f032e6",
    "#bcf60c",
    "#fabebe",
    "#008080",
    "#e6beff",
    "#9a6324",
    "#fffac8",
    "#800000",
    "#aaffc3",
    "#808000",
    "#ffd8b1",
    "#000075",
    "#808080",
)

EDITABLE_STATUSES = (Annotation.Status.DRAFT, Annotation.Status.SUBMITTED)


class AnnotationConflictError(ConflictError):
    """A write based on a stale version. `current` is the annotation as stored now (None if there
    is none); the API adds its representation to `extra["current"]`."""

    def __init__(self, *, current: Annotation | None, based_on: int | None):
        current_version = current.version if current is not None else None
        super().__init__(
            "Your changes were not saved: someone else saved this frame first "
            f"(you edited version {based_on or 0}, it is now at version {current_version or 0}). "
            "Reload the frame, then apply your changes again.",
            {"current_version": current_version},
        )
        self.current = current


def annotation_instances_clean(*, frame: Frame, instances: Any) -> list[dict[str, Any]]:
    """Validate client instances against the frame: `[{"mask": RLE (H×W of the frame), "label": str}]`.

    Returns them normalised (string RLE counts, stripped labels, no other keys). Raises
    ApplicationError (400) naming the offending item.
    """
    if not isinstance(instances, list):
        raise ApplicationError("instances must be a list of {mask, label} objects.", {"field": "instances"})
    cleaned = []
    for i, instance in enumerate(instances):
        field = f"instances[{i}]"
        if not isinstance(instance, dict):
            raise ApplicationError(f"{field} must be an object with 'mask' and 'label'.", {"field": field})
        label = instance.get("label")
        if not isinstance(label, str) or not label.strip():
            raise ApplicationError(f"{field}.label must be a non-empty string.", {"field": f"{field}.label"})
        label = label.strip()
        if len(label) > LABEL_MAX_LENGTH:
            raise ApplicationError(
                f"{field}.label is longer than {LABEL_MAX_LENGTH} characters.", {"field": f"{field}.label"}
            )
        mask = rle_validate(instance.get("mask"), height=frame.height, width=frame.width, field=f"{field}.mask")
        cleaned.append({"mask": mask, "label": label})
    return cleaned


def project_labels_ensure(*, project_id: int, names: list[str]) -> dict[str, str]:
    """Make every name part of the project's open vocabulary; return {name: vocabulary spelling}.

    Names match existing labels case-insensitively ("Dog" reuses "dog"); unknown names are added
    with the first palette colour the project does not use yet.
    """
    wanted = {name.lower(): name for name in names}
    if not wanted:
        return {}
    existing = {
        lowered: name
        for name, lowered in Label.objects.filter(project_id=project_id)
        .annotate(lowered=Lower("name"))
        .filter(lowered__in=list(wanted))
        .values_list("name", "lowered")
    }
    # Sorted: concurrent writers adding the same new labels take their row locks in one order (no deadlock).
    missing = sorted(name for lowered, name in wanted.items() if lowered not in existing)
    if missing:
        used = {c.lower() for c in Label.objects.filter(project_id=project_id).values_list("color", flat=True)}
        free = [colour for colour in LABEL_PALETTE if colour not in used]
        count = Label.objects.filter(project_id=project_id).count()
        for k, name in enumerate(missing):
            colour = free[k] if k < len(free) else LABEL_PALETTE[(count + k) % len(LABEL_PALETTE)]
            label, _ = Label.objects.get_or_create(project_id=project_id, name=name, defaults={"color": colour})
            existing[name.lower()] = label.name
    return {name: existing[name.lower()] for name in names}


def _source_proposal_check(*, frame: Frame, source_proposal_id: int | None) -> None:
    if source_proposal_id is None:
        return
    if not Proposal.objects.filter(pk=source_proposal_id, clip_id=frame.clip_id).exists():
        raise ApplicationError(
            f"source_proposal {source_proposal_id} is not a proposal of this frame's clip.",
            {"field": "source_proposal"},
        )


@transaction.atomic
def annotation_update(
    *,
    frame: Frame,
    user: AbstractBaseUser,
    role: str,
    instances: Any,
    version: int | None,
    status: str | None = None,
    time_spent_delta: float = 0.0,
    source_proposal_id: int | None = None,
) -> Annotation:
    """Create or update the annotation of `frame`, based on `version` (None/0 when there is none yet).

    Every successful write increments `version`, appends an `AnnotationRevision`, adds
    `time_spent_delta` seconds to `time_spent` and makes `user` the author. `status` is `draft` or
    `submitted`; None keeps the current status (a new annotation starts as draft). An accepted
    annotation is locked for annotators (managers and admins may still correct it). Labels unknown
    to the project are added to its vocabulary.

    Raises ApplicationError (400) for invalid instances, AnnotationConflictError (409) for a stale
    `version`, ConflictError (409) when the annotation is accepted.
    """
    if status is not None and status not in EDITABLE_STATUSES:
        raise ApplicationError(f"status must be draft or submitted, not {status}.", {"field": "status"})
    if time_spent_delta < 0:
        raise ApplicationError("time_spent_delta cannot be negative.", {"field": "time_spent_delta"})
    cleaned = annotation_instances_clean(frame=frame, instances=instances)
    _source_proposal_check(frame=frame, source_proposal_id=source_proposal_id)
    # Inside the transaction: labels added here vanish again if the write loses the race below.
    vocabulary = project_labels_ensure(project_id=frame.clip.project_id, names=[i["label"] for i in cleaned])
    for instance in cleaned:
        instance["label"] = vocabulary[instance["label"]]

    current = Annotation.objects.select_for_update().filter(frame_id=frame.pk).first()
    if current is None:
        if version not in (None, 0):
            raise AnnotationConflictError(current=None, based_on=version)
        try:
            with transaction.atomic():
                annotation = Annotation.objects.create(
                    clip_id=frame.clip_id,
                    frame=frame,
                    instances=cleaned,
                    author=user,
                    version=1,
                    status=status or Annotation.Status.DRAFT,
                    time_spent=time_spent_delta,
                    source_proposal_id=source_proposal_id,
                )
        except IntegrityError:  # another writer created it between our read and our insert
            raise AnnotationConflictError(
                current=Annotation.objects.filter(frame_id=frame.pk).first(), based_on=version
            ) from None
    else:
        if current.status == Annotation.Status.ACCEPTED and role not in (Role.MANAGER, ADMIN):
            raise ConflictError(
                "This annotation was accepted by a reviewer and can no longer be edited by annotators; "
                "ask a manager if it needs a correction.",
                {"status": current.status, "current_version": current.version},
            )
        if version != current.version:
            raise AnnotationConflictError(current=current, based_on=version)
        fields: dict[str, Any] = {
            "instances": cleaned,
            "version": F("version") + 1,
            "status": status or current.status,
            "author": user,
            "time_spent": F("time_spent") + time_spent_delta,
            "updated_at": timezone.now(),
        }
        if source_proposal_id is not None:
            fields["source_proposal_id"] = source_proposal_id
        if not Annotation.objects.filter(pk=current.pk, version=version).update(**fields):
            raise AnnotationConflictError(current=Annotation.objects.get(pk=current.pk), based_on=version)
        annotation = Annotation.objects.get(pk=current.pk)

    AnnotationRevision.objects.create(
        annotation=annotation,
        version=annotation.version,
        instances=annotation.instances,
        status=annotation.status,
        author=user,
    )
    return annotation


@transaction.atomic
def review_create(
    *, annotation_id: int, reviewer: AbstractBaseUser, verdict: str, comment: str, annotation_version: int
) -> Review:
    """Accept or reject the submitted annotation as of `annotation_version`.

    Accept sets the annotation accepted (locked for annotators); reject sets it rejected and sends
    it back to its annotator with the comment, which is required. The annotation's version does not
    change: versions count edits of the masks, and the review records which one it judged.
    Raises ConflictError (409) if the annotation changed since `annotation_version`,
    ApplicationError (400) if it is not submitted or a rejection has no comment.
    """
    annotation = Annotation.objects.select_for_update().get(pk=annotation_id)
    if annotation.version != annotation_version:
        raise ConflictError(
            f"The annotation changed since you looked at it (you reviewed version {annotation_version}, "
            f"it is now at version {annotation.version}); reload it and review again.",
            {"current_version": annotation.version},
        )
    if annotation.status != Annotation.Status.SUBMITTED:
        raise ApplicationError(
            f"Only submitted annotations can be reviewed; this one is {annotation.status}.",
            {"status": annotation.status},
        )
    if verdict not in Review.Verdict.values:
        raise ApplicationError(f"verdict must be accept or reject, not {verdict}.", {"field": "verdict"})
    comment = comment.strip()
    if verdict == Review.Verdict.REJECT and not comment:
        raise ApplicationError("A rejection needs a comment telling the annotator what to fix.", {"field": "comment"})
    new_status = Annotation.Status.ACCEPTED if verdict == Review.Verdict.ACCEPT else Annotation.Status.REJECTED
    updated = Annotation.objects.filter(
        pk=annotation.pk, version=annotation_version, status=Annotation.Status.SUBMITTED
    ).update(status=new_status, updated_at=timezone.now())
    if not updated:
        current = Annotation.objects.get(pk=annotation.pk)
        raise ConflictError(
            "The annotation changed while you were reviewing it; reload it and review again.",
            {"current_version": current.version},
        )
    return Review.objects.create(
        annotation=annotation,
        annotation_version=annotation_version,
        reviewer=reviewer,
        verdict=verdict,
        comment=comment,
    )
