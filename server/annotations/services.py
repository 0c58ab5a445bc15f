"""Writes for annotations and reviews.

Optimistic locking: every write names the version it was based on. The check and the write are one
atomic step: the row is locked (`SELECT ... FOR UPDATE` on PostgreSQL) and the write itself is a
conditional `UPDATE ... WHERE version = N`, so of two writers starting from the same version exactly
one wins, on every database; the other gets a 409 carrying the current annotation, and nothing of
theirs is stored.
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, FloatField, IntegerField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Greatest, Lower
from django.utils import timezone

from server.accounts.models import Role
from server.accounts.selectors import ADMIN
from server.annotations.models import Annotation, AnnotationRevision, Proposal, Review
from server.annotations.records import records_delete_on_commit
from server.core.errors import ApplicationError, ConflictError, NotFoundError, ServiceUnavailableError
from server.core.masks import rle_union_iou, rle_validate
from server.core.queries import subquery_count
from server.learning.models import ModelVersion
from server.media.models import Clip, Frame, Label, Project

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
PROPOSAL_FALLBACK_LABEL = "sounding object"  # for proposal instances a proposer left unlabelled
SAM_MAX_POINTS = 64
TRACK_OF = re.compile(r"[1-9][0-9]{0,17}:[0-9]{1,4}")  # an instance's mask propagation track: "<propagation>:<track>"


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


# --- counters kept on clips and model versions ----------------------------------------------------


def clip_annotation_counts_refresh(*, clips: QuerySet[Clip]) -> int:
    """Store `proposal_count`, `has_proposals`, `annotated_count`, `accepted_count`, `submitted_count` and
    `rejected_count` of `clips` recomputed from their rows (one UPDATE); returns the clips updated."""
    status = Annotation.Status
    return clips.update(
        proposal_count=subquery_count(Proposal, link="clip"),
        has_proposals=Exists(Proposal.objects.filter(clip=OuterRef("pk"))),
        annotated_count=subquery_count(Annotation, link="clip"),
        accepted_count=subquery_count(Annotation, link="clip", status=status.ACCEPTED),
        submitted_count=subquery_count(Annotation, link="clip", status=status.SUBMITTED),
        rejected_count=subquery_count(Annotation, link="clip", status=status.REJECTED),
    )


def _edit_shares(*, clip_id: int) -> dict[int, tuple[int, float]]:
    """{model version id: (annotations, sum of their proposal_iou)} of the clip's annotations started from a
    proposal: the clip's share of each version's edit statistics."""
    rows = (
        Annotation.objects.filter(clip_id=clip_id, proposal_iou__isnull=False, source_proposal__isnull=False)
        .order_by()
        .values("source_proposal__model_version_id")
        .annotate(n=Count("pk"), total=Sum("proposal_iou"))
        .values_list("source_proposal__model_version_id", "n", "total")
    )
    return {version: (n, total) for version, n, total in rows}


def _edit_stats_move(before: dict[int, tuple[int, float]], after: dict[int, tuple[int, float]]) -> None:
    for version in sorted(before.keys() | after.keys()):
        n0, sum0 = before.get(version, (0, 0.0))
        n1, sum1 = after.get(version, (0, 0.0))
        if (n0, sum0) != (n1, sum1):
            ModelVersion.objects.filter(pk=version).update(
                edit_annotations=Greatest(F("edit_annotations") + (n1 - n0), 0),
                edit_iou_sum=F("edit_iou_sum") + (sum1 - sum0),
            )


# The clip's counters summed on its project: clip field -> project field.
_PROJECT_SUMS = {
    "annotated_count": "annotation_count",
    "submitted_count": "annotations_submitted",
    "accepted_count": "annotations_accepted",
    "rejected_count": "annotations_rejected",
}
_CLIP_STATE = ("project_id", "status", "num_frames", *_PROJECT_SUMS)


def _clip_state(clip_id: int, *, lock: bool = False) -> dict[str, Any] | None:
    rows = Clip.objects.select_for_update() if lock else Clip.objects.all()
    return rows.filter(pk=clip_id).values(*_CLIP_STATE).first()


def _done(state: dict[str, Any]) -> bool:
    """A ready clip whose every frame is accepted (it leaves the review queue)."""
    return state["status"] == Clip.Status.READY and 0 < state["num_frames"] == state["accepted_count"]


def _project_counts_move(before: dict[str, Any], after: dict[str, Any] | None) -> None:
    """Move the project's annotation counters and `clips_done` by the change of one clip (after None: deleted)."""
    changes = {}
    for clip_field, project_field in _PROJECT_SUMS.items():
        delta = (after[clip_field] if after else 0) - before[clip_field]
        if delta:
            changes[project_field] = Greatest(F(project_field) + delta, 0)
    done = int(bool(after) and _done(after)) - int(_done(before))
    if done:
        changes["clips_done"] = Greatest(F("clips_done") + done, 0)
    if changes:
        Project.objects.filter(pk=before["project_id"]).update(**changes)


@contextmanager
def clip_annotations_changing(*, clip_id: int) -> Iterator[None]:
    """Wraps every write of a clip's annotations, their status (reviews) or its proposals, in the write's transaction.

    Locks the clip's row first (writers of one clip take turns; lock order: the clip, its annotations, then its
    project and model versions), notes its counters and its share of the model versions' edit statistics, runs the
    block, then stores the clip's counters recomputed from its rows (`clip_annotation_counts_refresh`) and moves the
    project's counters (annotations per status, `clips_done`) and each version's `edit_annotations` / `edit_iou_sum`
    by the clip's change. Nothing is stored when the block raises (the transaction rolls back). Nested for the same
    clip (a service calling another), only the outermost block stores.
    """
    active = _CHANGING.__dict__.setdefault("clips", set())
    if clip_id in active:
        yield
        return
    with transaction.atomic(savepoint=False):
        before = _clip_state(clip_id, lock=True)
        shares = _edit_shares(clip_id=clip_id)
        active.add(clip_id)
        try:
            yield
        finally:
            active.discard(clip_id)
        if before is None:  # no such clip: nothing was counted
            return
        clip_annotation_counts_refresh(clips=Clip.objects.filter(pk=clip_id))
        _project_counts_move(before, _clip_state(clip_id))
        _edit_stats_move(shares, _edit_shares(clip_id=clip_id))


_CHANGING = threading.local()  # clips inside a clip_annotations_changing block, per thread


def clip_counts_remove(*, clip_id: int) -> None:
    """Take a clip that is about to be deleted (with its annotations) out of its project's annotation counters and
    the model versions' edit statistics."""
    with transaction.atomic(savepoint=False):
        before = _clip_state(clip_id, lock=True)
        if before is None:
            return
        _project_counts_move(before, None)
        _edit_stats_move(_edit_shares(clip_id=clip_id), {})


def clip_deleting(sender: Any, instance: Clip, origin: Any = None, **kwargs: Any) -> None:
    """pre_delete of a clip, however it is deleted (connected in AnnotationsConfig.ready): `clip_counts_remove`,
    unless its whole project is being deleted (its counters and model versions go with it)."""
    if isinstance(origin, Project) or (isinstance(origin, QuerySet) and origin.model is Project):
        return
    clip_counts_remove(clip_id=instance.pk)


def project_annotation_counts_refresh(*, projects: QuerySet[Project]) -> int:
    """Store the annotation counters of `projects` summed from their clips' counters (one UPDATE)."""
    sums = {}
    for clip_field, project_field in _PROJECT_SUMS.items():
        total = Clip.objects.filter(project=OuterRef("pk")).order_by().values("project").annotate(s=Sum(clip_field))
        sums[project_field] = Coalesce(Subquery(total.values("s"), output_field=IntegerField()), Value(0))
    return projects.update(**sums)


def model_version_edit_stats_refresh(*, versions: QuerySet[ModelVersion]) -> int:
    """Store `edit_annotations` and `edit_iou_sum` of `versions` recomputed from the annotations (one UPDATE)."""
    edited = Annotation.objects.filter(source_proposal__model_version=OuterRef("pk"), proposal_iou__isnull=False)
    n = edited.order_by().values("source_proposal__model_version").annotate(n=Count("pk")).values("n")
    total = edited.order_by().values("source_proposal__model_version").annotate(s=Sum("proposal_iou")).values("s")
    return versions.update(
        edit_annotations=Coalesce(Subquery(n, output_field=IntegerField()), Value(0)),
        edit_iou_sum=Coalesce(Subquery(total, output_field=FloatField()), Value(0.0)),
    )


# --- annotations ----------------------------------------------------------------------------------


def annotation_instances_clean(*, frame: Frame, instances: Any) -> list[dict[str, Any]]:
    """Validate client instances against the frame: `[{"mask": RLE (H×W of the frame), "label": str,
    "track_of"?: "<propagation id>:<track>"}]` (`track_of`: the mask propagation track the instance was accepted from,
    so a later accept of that propagation replaces it instead of adding a copy; kept as given by the client).

    Returns them normalised (string RLE counts, stripped labels, no other keys). Raises
    ApplicationError (400) naming the offending item.
    """
    if not isinstance(instances, list):
        raise ApplicationError("instances must be a list of {mask, label} objects.", {"field": "instances"})
    limit = settings.AVS_MAX_INSTANCES_PER_ANNOTATION
    if len(instances) > limit:
        raise ApplicationError(
            f"A frame's annotation holds at most {limit} instances; this one has {len(instances)} "
            "(setting AVS_MAX_INSTANCES_PER_ANNOTATION).",
            {"field": "instances", "limit": limit, "count": len(instances)},
        )
    cleaned = []
    for i, instance in enumerate(instances):
        field = f"instances[{i}]"
        if not isinstance(instance, dict):
            raise ApplicationError(f"{field} must be an object with 'mask' and 'label'.", {"field": field})
        label = instance.get("label")
        if not isinstance(label, str) or not label.strip():
            raise ApplicationError(f"{field}.label must be a non-empty string.", {"field": f"{field}.label"})
        label = label.strip()
        if "\x00" in label:  # PostgreSQL text cannot hold it
            raise ApplicationError(f"{field}.label cannot contain NUL characters.", {"field": f"{field}.label"})
        if len(label) > LABEL_MAX_LENGTH:
            raise ApplicationError(
                f"{field}.label is longer than {LABEL_MAX_LENGTH} characters.", {"field": f"{field}.label"}
            )
        mask = rle_validate(instance.get("mask"), height=frame.height, width=frame.width, field=f"{field}.mask")
        item: dict[str, Any] = {"mask": mask, "label": label}
        track = instance.get("track_of")
        if track is not None:
            if not isinstance(track, str) or not TRACK_OF.fullmatch(track):
                raise ApplicationError(
                    f"{field}.track_of must be '<propagation id>:<track>' (as a propagation's accept wrote it), or "
                    "left out.",
                    {"field": f"{field}.track_of"},
                )
            item["track_of"] = track
        cleaned.append(item)
    return cleaned


def project_labels_ensure(*, project_id: int, names: list[str], max_new: int | None = None) -> dict[str, str]:
    """Make every name part of the project's open vocabulary; return {name: vocabulary spelling}.

    Names match existing labels case-insensitively ("Dog" reuses "dog"); unknown names are added
    with the first palette colour the project does not use yet. With `max_new`, more than that many
    unknown names is an ApplicationError (400) and nothing is added.
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
    if max_new is not None and len(missing) > max_new:
        raise ApplicationError(
            f"One save may add at most {max_new} new labels to the project; this one adds {len(missing)} "
            f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}). Add labels to the project first, "
            "or save fewer at a time (setting AVS_MAX_NEW_LABELS_PER_REQUEST).",
            {"field": "instances", "limit": max_new, "new_labels": missing},
        )
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


def proposal_edit_iou(*, frame: Frame, proposal_frames: list[dict[str, Any]], instances: list[dict[str, Any]]) -> float:
    """How much of a proposal survived human editing on one frame: the IoU of the union of the proposal's masks
    on `frame` and the union of the annotation's masks (1.0: accepted as proposed; both empty also counts 1.0).

    `proposal_frames` is `Proposal.frames`, `instances` the annotation's `[{"mask", ...}]` (masks of the frame's
    size). Masks of another size than the frame (a proposal of an earlier ingest) compare as empty.
    """
    proposed = next((e.get("instances") or [] for e in proposal_frames if e.get("frame_index") == frame.index), [])
    size = [frame.height, frame.width]
    first = [i["mask"] for i in proposed if list(i["mask"].get("size", [])) == size]
    second = [i["mask"] for i in instances if list(i["mask"].get("size", [])) == size]
    return rle_union_iou(first, second, height=frame.height, width=frame.width)


def _edit_iou(*, frame: Frame, proposal_id: int | None, instances: list[dict[str, Any]]) -> float | None:
    if proposal_id is None:
        return None
    frames = Proposal.objects.filter(pk=proposal_id).values_list("frames", flat=True).first()
    return None if frames is None else proposal_edit_iou(frame=frame, proposal_frames=frames, instances=instances)


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
    `submitted`; None keeps the current status (a new annotation starts as draft). The annotation's
    `proposal_iou` is recomputed against its source proposal (`proposal_edit_iou`). An accepted
    annotation is locked for annotators (managers and admins may still correct it). Labels unknown
    to the project are added to its vocabulary.

    Raises ApplicationError (400) for invalid instances, more instances than
    AVS_MAX_INSTANCES_PER_ANNOTATION or more new labels than AVS_MAX_NEW_LABELS_PER_REQUEST (nothing is
    stored), AnnotationConflictError (409) for a stale `version`, ConflictError (409) when the annotation
    is accepted.
    """
    if status is not None and status not in EDITABLE_STATUSES:
        raise ApplicationError(f"status must be draft or submitted, not {status}.", {"field": "status"})
    if time_spent_delta < 0:
        raise ApplicationError("time_spent_delta cannot be negative.", {"field": "time_spent_delta"})
    cleaned = annotation_instances_clean(frame=frame, instances=instances)
    _source_proposal_check(frame=frame, source_proposal_id=source_proposal_id)
    # Inside the transaction: labels added here vanish again if the write loses the race below.
    vocabulary = project_labels_ensure(
        project_id=frame.clip.project_id,
        names=[i["label"] for i in cleaned],
        max_new=settings.AVS_MAX_NEW_LABELS_PER_REQUEST,
    )
    for instance in cleaned:
        instance["label"] = vocabulary[instance["label"]]

    with clip_annotations_changing(clip_id=frame.clip_id):  # the clip's counters, in this transaction
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
                        proposal_iou=_edit_iou(frame=frame, proposal_id=source_proposal_id, instances=cleaned),
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
            fields["proposal_iou"] = _edit_iou(
                frame=frame, proposal_id=source_proposal_id or current.source_proposal_id, instances=cleaned
            )
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
    # Lock order as for every write of a clip's annotations: the clip, then the annotation.
    clip_id = Annotation.objects.filter(pk=annotation_id).values_list("clip_id", flat=True).first()
    with clip_annotations_changing(clip_id=clip_id or 0):  # the clip's counters, in this transaction
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
            raise ApplicationError(
                "A rejection needs a comment telling the annotator what to fix.", {"field": "comment"}
            )
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
        review = Review.objects.create(
            annotation=annotation,
            annotation_version=annotation_version,
            reviewer=reviewer,
            verdict=verdict,
            comment=comment,
        )
    if verdict == Review.Verdict.ACCEPT:  # the project may start a training round after N accepted annotations
        transaction.on_commit(partial(_training_auto_check, clip_id=annotation.clip_id))
    return review


def _training_auto_check(*, clip_id: int) -> None:
    from server.learning.services import training_round_auto_check
    from server.media.models import Clip

    project_id = Clip.objects.filter(pk=clip_id).values_list("project_id", flat=True).first()
    if project_id is not None:
        training_round_auto_check(project_id=project_id)


# --- proposals ------------------------------------------------------------------------------------


def proposal_frames_clean(*, clip: Any, frames: list[dict[str, Any]], records_folder: str = "") -> list[dict[str, Any]]:
    """`frames` = `[{"frame_index", "instances": [{"mask", "label", "score", "confidence"?, "provenance"}],
    "probability_map"?: {"path", "size", "scale"}, "provenance"?: {...}}]` as `ml_backend.serving.propose_stored_clip`
    returns them (a frame's `provenance`: what the proposer heard in its audio window, kept as given),
    checked against the clip's frames and normalised (extra keys dropped, sorted by frame index). Every mask must
    have the size of its frame (ApplicationError otherwise); frame indexes must exist in the clip; a `confidence`
    must lie in [0, 1]; a probability map must lie in `records_folder` and be no larger than its frame."""
    sizes = {index: (height, width) for index, height, width in clip.frames.values_list("index", "height", "width")}
    cleaned = []
    for entry in frames:
        index = entry.get("frame_index")
        if index not in sizes:
            raise ApplicationError(f"The proposal has frame {index!r}, which clip {clip.pk} does not have.")
        height, width = sizes[index]
        instances = []
        for k, instance in enumerate(entry.get("instances") or []):
            mask = rle_validate(
                instance.get("mask"), height=height, width=width, field=f"frames[{index}].instances[{k}].mask"
            )
            cleaned_instance = {
                "mask": mask,
                "label": str(instance.get("label") or ""),
                "score": float(instance.get("score", 0.0)),
                "provenance": instance.get("provenance") or {},
            }
            if instance.get("confidence") is not None:
                cleaned_instance["confidence"] = _confidence(instance["confidence"], f"frames[{index}].instances[{k}]")
            instances.append(cleaned_instance)
        cleaned_entry: dict[str, Any] = {"frame_index": index, "instances": instances}
        if isinstance(entry.get("provenance"), dict) and entry["provenance"]:
            cleaned_entry["provenance"] = entry["provenance"]  # what the proposer heard in the window (silent?)
        if entry.get("probability_map") is not None:
            cleaned_entry["probability_map"] = _probability_map_record(
                entry["probability_map"], frame=(height, width), folder=records_folder, field=f"frames[{index}]"
            )
        cleaned.append(cleaned_entry)
    cleaned.sort(key=lambda e: e["frame_index"])
    return cleaned


def _confidence(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
        raise ApplicationError(f"{field}.confidence must be a number in [0, 1], not {value!r}.")
    return float(value)


def _probability_map_record(record: Any, *, frame: tuple[int, int], folder: str, field: str) -> dict[str, Any]:
    """`{"path", "size": [h, w], "scale"}`, the path inside `folder` (the proposal's records folder)."""
    if not isinstance(record, dict):
        raise ApplicationError(f"{field}.probability_map must be an object, not {type(record).__name__}.")
    path, size, scale = record.get("path"), record.get("size"), record.get("scale")
    if (
        not folder
        or not isinstance(path, str)
        or not path.startswith(f"{folder}/")
        or ".." in path.split("/")
        or "\\" in path
    ):
        raise ApplicationError(f"{field}.probability_map.path must be a file of this proposal's records folder.")
    if (
        not isinstance(size, list | tuple)
        or len(size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in size)
        or not (1 <= size[0] <= frame[0] and 1 <= size[1] <= frame[1])
    ):
        raise ApplicationError(f"{field}.probability_map.size must be [h, w] within the frame's {list(frame)}.")
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not 0.0 < float(scale) <= 1.0:
        raise ApplicationError(f"{field}.probability_map.scale must be a number in (0, 1].")
    return {"path": path, "size": [int(size[0]), int(size[1])], "scale": float(scale)}


def proposal_store(
    *,
    clip: Any,
    model_version: Any,
    frames: list[dict[str, Any]],
    records_folder: str = "",
    evidence: dict[str, Any] | None = None,
) -> Proposal:
    """Store (or replace) `model_version`'s proposal for `clip` (`frames` checked by `proposal_frames_clean`).
    `records_folder` / `evidence`: where its probability maps and evidence file are (`server.annotations.records`);
    a replaced proposal's folder, if another, is deleted once this commits."""
    cleaned = proposal_frames_clean(clip=clip, frames=frames, records_folder=records_folder)
    evidence = _evidence_record(evidence, folder=records_folder)
    with transaction.atomic(), clip_annotations_changing(clip_id=clip.pk):
        previous = (
            Proposal.objects.select_for_update()
            .filter(clip=clip, model_version=model_version)
            .values_list("records_folder", flat=True)
            .first()
        )
        proposal, _ = Proposal.objects.update_or_create(
            clip=clip,
            model_version=model_version,
            defaults={"frames": cleaned, "records_folder": records_folder, "evidence": evidence},
        )
        if previous and previous != records_folder:
            records_delete_on_commit(folder=previous)
    return proposal


def proposal_store_new(
    *,
    clip: Any,
    model_version: Any,
    frames: list[dict[str, Any]],
    records_folder: str = "",
    evidence: dict[str, Any] | None = None,
) -> Proposal | None:
    """Store `model_version`'s proposal for `clip` unless it has one already (then None: the stored one, which
    annotations may point at, is kept as it is, and the caller deletes the files it wrote). `frames` are checked by
    `proposal_frames_clean`; `records_folder` / `evidence` as for `proposal_store`."""
    cleaned = proposal_frames_clean(clip=clip, frames=frames, records_folder=records_folder)
    evidence = _evidence_record(evidence, folder=records_folder)
    try:
        with transaction.atomic(), clip_annotations_changing(clip_id=clip.pk):
            return Proposal.objects.create(
                clip=clip, model_version=model_version, frames=cleaned, records_folder=records_folder, evidence=evidence
            )
    except IntegrityError:  # the (clip, model version) constraint: it exists
        return None


def _evidence_record(evidence: dict[str, Any] | None, *, folder: str) -> dict[str, Any]:
    """The evidence summary as given (`ml_backend.serving.records`), its `path` inside `folder`; {} for none."""
    if not evidence:
        return {}
    path = evidence.get("path") if isinstance(evidence, dict) else None
    if not folder or not isinstance(path, str) or not path.startswith(f"{folder}/") or ".." in path.split("/"):
        raise ApplicationError("The proposal's evidence file must be a file of its records folder.")
    return dict(evidence)


def _proposal_of_clip(*, proposal_id: int, clip_id: int) -> Proposal:
    proposal = Proposal.objects.filter(pk=proposal_id, clip_id=clip_id).first()
    if proposal is None:
        raise ApplicationError(f"Proposal {proposal_id} is not a proposal of this clip.", {"field": "proposal"})
    return proposal


def _proposal_instances(*, proposal: Proposal, frame_index: int) -> list[dict[str, Any]]:
    """The proposal's instances on one frame as annotation instances `{"mask", "label"}` (in proposal order)."""
    for entry in proposal.frames:
        if entry.get("frame_index") == frame_index:
            return [
                {"mask": i["mask"], "label": (i.get("label") or "").strip() or PROPOSAL_FALLBACK_LABEL}
                for i in entry.get("instances") or []
            ]
    return []


def _same_instance(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a["label"].lower() == b["label"].lower() and a["mask"] == b["mask"]


def annotation_accept_proposal(
    *,
    frame: Frame,
    user: AbstractBaseUser,
    role: str,
    proposal_id: int,
    version: int | None,
    instance_indexes: list[int] | None = None,
) -> Annotation:
    """Merge a proposal's instances on `frame` into the frame's annotation (a new draft if there is none).

    `instance_indexes` picks instances by their index in the proposal's frame (None: all). Instances the
    annotation already has (same mask and label) are not added twice. The write goes through
    `annotation_update` based on `version`, so a stale version is a 409 exactly as for a save, and the
    annotation records the proposal as its `source_proposal`. Unlabelled proposal instances get the label
    "sounding object". Raises ApplicationError (400) for a proposal of another clip, an index the
    proposal's frame does not have, or nothing to accept.
    """
    proposal = _proposal_of_clip(proposal_id=proposal_id, clip_id=frame.clip_id)
    available = _proposal_instances(proposal=proposal, frame_index=frame.index)
    if instance_indexes is None:
        chosen = available
    else:
        for k, index in enumerate(instance_indexes):
            if not 0 <= index < len(available):
                raise ApplicationError(
                    f"instances[{k}] is {index}, but proposal {proposal.pk} has {len(available)} instance(s) "
                    f"on frame {frame.index}.",
                    {"field": f"instances[{k}]", "available": len(available)},
                )
        chosen = [available[index] for index in dict.fromkeys(instance_indexes)]
    if not chosen:
        raise ApplicationError(
            f"Proposal {proposal.pk} has no instances on frame {frame.index}: nothing to accept.",
            {"field": "instances"},
        )
    current = Annotation.objects.filter(frame_id=frame.pk).only("instances", "version").first()
    # Based on what is stored now; if that is not `version`, annotation_update refuses the write (409).
    merged = list(current.instances) if current is not None and current.version == version else []
    merged += [new for new in chosen if not any(_same_instance(new, old) for old in merged)]
    return annotation_update(
        frame=frame, user=user, role=role, instances=merged, version=version, source_proposal_id=proposal.pk
    )


CLIP_ACCEPT_TRIES = 3  # bulk inserts tried again when frames get annotated concurrently, before a 409


@transaction.atomic
def clip_accept_proposal(*, clip: Any, user: AbstractBaseUser, role: str, proposal_id: int) -> dict[str, Any]:
    """A draft from the proposal for every frame of `clip` that has no annotation yet (frames the proposal
    has nothing on get an empty draft). Frames already annotated, even concurrently, are left as they are.

    In bulk, whatever the clip's length: the drafts (version 1, `source_proposal` set) and their first revisions
    are inserted with `bulk_create`, so the request costs a bounded number of queries (one insert per 500 frames),
    not one save per frame. Every instance is checked as for a save (`annotation_instances_clean`); an invalid one
    is a 400 and nothing is stored. The frame's one-annotation constraint is the optimistic lock: when another
    writer annotates one of the frames meanwhile, the insert is rolled back and tried again without the frames
    annotated by then (a ConflictError, 409, after CLIP_ACCEPT_TRIES such races, with nothing stored).

    Returns `{"created": n, "skipped": m, "skipped_frames": [index, ...]}`: the frames left alone (already
    annotated), by frame index.
    """
    proposal = _proposal_of_clip(proposal_id=proposal_id, clip_id=clip.pk)
    by_index = {entry.get("frame_index"): entry for entry in proposal.frames}
    frames = list(Frame.objects.filter(clip_id=clip.pk).order_by("index"))
    annotated = set(Annotation.objects.filter(clip_id=clip.pk).values_list("frame_id", flat=True))
    drafts: dict[int, list[dict[str, Any]]] = {}
    for frame in frames:
        if frame.pk in annotated:
            continue
        frame.clip = clip
        entry = by_index.get(frame.index)
        instances = [
            {"mask": i["mask"], "label": (i.get("label") or "").strip() or PROPOSAL_FALLBACK_LABEL}
            for i in (entry or {}).get("instances") or []
        ]
        drafts[frame.pk] = annotation_instances_clean(frame=frame, instances=instances)
    vocabulary = project_labels_ensure(
        project_id=clip.project_id, names=sorted({i["label"] for cleaned in drafts.values() for i in cleaned})
    )
    for cleaned in drafts.values():
        for instance in cleaned:
            instance["label"] = vocabulary[instance["label"]]

    for _ in range(CLIP_ACCEPT_TRIES):
        todo = [frame for frame in frames if frame.pk in drafts and frame.pk not in annotated]
        try:
            with transaction.atomic(), clip_annotations_changing(clip_id=clip.pk):
                created = _drafts_insert(frames=todo, drafts=drafts, by_index=by_index, proposal=proposal, user=user)
        except IntegrityError:  # a frame was annotated since we looked: look again
            annotated = set(Annotation.objects.filter(clip_id=clip.pk).values_list("frame_id", flat=True))
            continue
        done = {frame.pk for frame in todo}
        skipped = [frame.index for frame in frames if frame.pk not in done]
        return {"created": created, "skipped": len(skipped), "skipped_frames": skipped}
    raise ConflictError(
        "Frames of this clip were being annotated by someone else while the proposal was accepted; nothing was "
        "stored. Try again.",
        {"proposal": proposal.pk},
    )


def _drafts_insert(
    *,
    frames: list[Frame],
    drafts: dict[int, list[dict[str, Any]]],
    by_index: dict[Any, dict[str, Any]],
    proposal: Proposal,
    user: AbstractBaseUser,
) -> int:
    """Insert one draft (version 1) and its first revision per frame; IntegrityError if a frame has one already."""
    annotations = Annotation.objects.bulk_create(
        [
            Annotation(
                clip_id=frame.clip_id,
                frame=frame,
                instances=drafts[frame.pk],
                author=user,
                version=1,
                status=Annotation.Status.DRAFT,
                source_proposal=proposal,
                proposal_iou=proposal_edit_iou(
                    frame=frame, proposal_frames=[by_index.get(frame.index) or {}], instances=drafts[frame.pk]
                ),
            )
            for frame in frames
        ],
        batch_size=500,
    )
    AnnotationRevision.objects.bulk_create(
        [
            AnnotationRevision(
                annotation=annotation, version=1, instances=annotation.instances, status=annotation.status, author=user
            )
            for annotation in annotations
        ],
        batch_size=500,
    )
    return len(annotations)


# --- interactive SAM ------------------------------------------------------------------------------

SAM_SETTING = "AVS_MODEL_CONFIG"


def _sam_prompt_check(*, frame: Frame, points: list[dict[str, Any]], box: list[float] | None) -> None:
    """Points and box must lie inside the frame (pixels: 0 <= x <= width, 0 <= y <= height)."""
    width, height = frame.width, frame.height
    if not points and box is None:
        raise ApplicationError("Give at least one point or a box.", {"field": "points"})
    if len(points) > SAM_MAX_POINTS:
        raise ApplicationError(f"At most {SAM_MAX_POINTS} points per prompt.", {"field": "points"})
    for k, point in enumerate(points):
        x, y = point["x"], point["y"]
        if not (math.isfinite(x) and math.isfinite(y) and 0 <= x <= width and 0 <= y <= height):
            raise ApplicationError(
                f"points[{k}] ({x:g}, {y:g}) is outside the frame, which is {width}x{height} pixels (WxH).",
                {"field": f"points[{k}]", "frame_size": [height, width]},
            )
    if box is not None:
        x0, y0, x1, y1 = box
        inside = all(math.isfinite(v) for v in box) and 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        if not inside:
            raise ApplicationError(
                f"box [{x0:g}, {y0:g}, {x1:g}, {y1:g}] must be [x0, y0, x1, y1] with x0 < x1 and y0 < y1 inside "
                f"the frame, which is {width}x{height} pixels (WxH).",
                {"field": "box", "frame_size": [height, width]},
            )


def frame_image_identity(*, frame: Frame) -> str:
    """What changes when a frame's image file does: its storage name, plus size and mtime when the storage
    is a local file system (a re-ingested clip reuses file names)."""
    name = frame.image.name
    try:
        stat = os.stat(frame.image.storage.path(name))
    except (NotImplementedError, OSError):
        return name
    return f"{name}:{stat.st_size}:{stat.st_mtime_ns}"


def _frame_image_bytes(frame: Frame) -> bytes:
    try:
        with frame.image.open("rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise NotFoundError("The frame's image is missing from media storage.") from None


def frame_sam_predict(*, frame: Frame, points: list[dict[str, Any]], box: list[float] | None) -> dict[str, Any]:
    """SAM's mask for click prompts on a frame: `{"mask": COCO RLE of the frame's size, "score", "cached"}`.

    points: `[{"x", "y", "positive"}]` and box `[x0, y0, x1, y1]` (or None), in pixels of the frame. The
    frame is embedded once per process (`ml_backend.serving.interactive`, cache bounded by
    AVS_SAM_CACHE_BYTES); later clicks on it run only SAM's prompt encoder and mask decoder (`cached` true).
    Raises ApplicationError (400) for a prompt outside the frame, ServiceUnavailableError (503) when no SAM
    is configured (AVS_MODEL_CONFIG) or it fails to load.
    """
    _sam_prompt_check(frame=frame, points=points, box=box)
    config = settings.AVS_MODEL_CONFIG
    if not config:
        raise ServiceUnavailableError(
            "SAM clicks are not available: no model configuration is set. Point the setting "
            f"{SAM_SETTING} at the ML backend's config.json (its models.sam names the SAM checkpoint).",
            {"setting": SAM_SETTING},
        )
    from ml_backend.serving.interactive import SamUnavailableError, sam_session  # imports torch: first click only

    try:
        session = sam_session(config, cache_bytes=settings.AVS_SAM_CACHE_BYTES)
    except SamUnavailableError as exc:
        raise ServiceUnavailableError(
            f"SAM clicks are not available: {exc}. Fix the file named by the setting {SAM_SETTING} ({config}).",
            {"setting": SAM_SETTING},
        ) from exc
    result = session.predict(
        key=f"frame:{frame.pk}:{frame_image_identity(frame=frame)}",
        image=lambda: _frame_image_bytes(frame),
        points=points,
        box=box,
    )
    if result["mask"]["size"] != [frame.height, frame.width]:
        raise ApplicationError(
            f"The frame's image is {result['mask']['size'][0]}x{result['mask']['size'][1]} (HxW) but the frame "
            f"record says {frame.height}x{frame.width}; re-ingest the clip.",
            status=500,
        )
    return result
