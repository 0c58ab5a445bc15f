from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Avg, Case, Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When

from server.annotations.models import Annotation, Proposal
from server.core.permissions import project_object_access
from server.core.queries import subquery_count
from server.learning.models import AcquisitionScore, ModelVersion
from server.media.models import Clip, Frame


def model_versions_with_edit_stats(qs: QuerySet[ModelVersion]) -> QuerySet[ModelVersion]:
    """Each version with `edit_annotations` (annotations started from its proposals) and `edit_mean_iou` (their
    mean `proposal_iou`: how much of its masks survived human editing, None without any), in the same query."""
    edited = Q(proposals__annotations__proposal_iou__isnull=False)
    return qs.annotate(
        edit_annotations=Count("proposals__annotations", filter=edited),
        edit_mean_iou=Avg("proposals__annotations__proposal_iou", filter=edited),
    )


def model_version_list(*, project_id: int, filters: dict[str, Any] | None = None) -> QuerySet[ModelVersion]:
    """Newest first, with edit statistics (`model_versions_with_edit_stats`). `filters` may hold `kind`."""
    qs = ModelVersion.objects.filter(project_id=project_id)
    if filters and filters.get("kind"):
        qs = qs.filter(kind=filters["kind"])
    return model_versions_with_edit_stats(qs).order_by("-created_at", "-id")


def model_version_get_for_user(*, user: AbstractBaseUser | AnonymousUser, model_version_id: int) -> ModelVersion:
    """For members of its project; 404 for everyone else, as if it did not exist."""
    version = model_versions_with_edit_stats(ModelVersion.objects.filter(pk=model_version_id)).first()
    project_object_access(user=user, project_id=version.project_id if version else None, entity="Model version")
    assert version is not None  # project_object_access raised otherwise
    return version


def review_queue_list(*, project_id: int, include_done: bool = False) -> QuerySet[Clip]:
    """A project's ready clips in the order annotators should work on them (one query).

    Order: the latest acquisition score, highest first (clips never scored come after the scored ones);
    then clips with proposals before clips without; then the fewest accepted annotations; then id. With no
    scores at all, that is "clips with proposals and the least accepted work first".

    Each clip carries `num_frames`, `proposal_count`, `annotated_count`, `accepted_count`,
    `submitted_count`, `rejected_count`, `acquisition_score` and `acquisition_scored_at` (None when never
    scored). Clips whose every frame is accepted are left out unless `include_done`.
    """
    latest = AcquisitionScore.objects.filter(clip=OuterRef("pk")).order_by("-created_at", "-id")
    status = Annotation.Status
    qs = Clip.objects.filter(project_id=project_id, status=Clip.Status.READY).annotate(
        num_frames=subquery_count(Frame, link="clip"),
        proposal_count=subquery_count(Proposal, link="clip"),
        annotated_count=subquery_count(Annotation, link="clip"),
        accepted_count=subquery_count(Annotation, link="clip", status=status.ACCEPTED),
        submitted_count=subquery_count(Annotation, link="clip", status=status.SUBMITTED),
        rejected_count=subquery_count(Annotation, link="clip", status=status.REJECTED),
        acquisition_score=Subquery(latest.values("score")[:1]),
        acquisition_scored_at=Subquery(latest.values("created_at")[:1]),
    )
    qs = qs.annotate(
        has_proposals=Case(When(proposal_count__gt=0, then=Value(1)), default=Value(0), output_field=IntegerField())
    )
    if not include_done:
        qs = qs.exclude(Q(num_frames__gt=0) & Q(accepted_count=F("num_frames")))
    return qs.order_by(F("acquisition_score").desc(nulls_last=True), "-has_proposals", "accepted_count", "id")
