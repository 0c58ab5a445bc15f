"""Reads for proposals, annotations, revisions and reviews, and the access checks in front of them.

Access follows `server.accounts.selectors.project_access`: an object in a project the user is not a
member of answers 404 exactly like a missing one; members lacking the role get 403.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Prefetch, QuerySet

from server.annotations.models import Annotation, AnnotationRevision, Proposal, Review
from server.core.permissions import project_object_access
from server.media.models import Clip, Frame

User = AbstractBaseUser | AnonymousUser


def clip_get_for_user(*, user: User, clip_id: int, roles: Iterable[str] | None = None) -> Clip:
    clip = Clip.objects.filter(pk=clip_id).first()
    project_object_access(user=user, project_id=clip.project_id if clip else None, entity="Clip", roles=roles)
    assert clip is not None  # project_object_access raised otherwise
    return clip


def frame_get_for_user(*, user: User, frame_id: int, roles: Iterable[str] | None = None) -> tuple[Frame, str]:
    """The frame (with its clip) and the user's role in its project."""
    frame = Frame.objects.select_related("clip").filter(pk=frame_id).first()
    role = project_object_access(
        user=user, project_id=frame.clip.project_id if frame else None, entity="Frame", roles=roles
    )
    assert frame is not None  # project_object_access raised otherwise
    return frame, role


def proposal_get_for_user(*, user: User, proposal_id: int) -> Proposal:
    proposal = Proposal.objects.select_related("clip", "model_version").filter(pk=proposal_id).first()
    project_object_access(user=user, project_id=proposal.clip.project_id if proposal else None, entity="Proposal")
    assert proposal is not None  # project_object_access raised otherwise
    return proposal


def annotation_get_for_user(*, user: User, annotation_id: int, roles: Iterable[str] | None = None) -> Annotation:
    annotation = Annotation.objects.select_related("clip").filter(pk=annotation_id).first()
    project_object_access(
        user=user, project_id=annotation.clip.project_id if annotation else None, entity="Annotation", roles=roles
    )
    assert annotation is not None  # project_object_access raised otherwise
    return annotation


def proposal_list(*, clip_id: int) -> QuerySet[Proposal]:
    return Proposal.objects.filter(clip_id=clip_id).select_related("model_version").order_by("id")


def _annotations() -> QuerySet[Annotation]:
    """Annotations with what their representation needs: frame index, author, reviews newest first
    (`reviews_newest_first`, from which the latest review is read)."""
    reviews = Review.objects.select_related("reviewer").order_by("-created_at", "-id")
    return Annotation.objects.select_related("frame", "author").prefetch_related(
        Prefetch("reviews", queryset=reviews, to_attr="reviews_newest_first")
    )


def annotation_list(*, clip_id: int, filters: dict[str, Any] | None = None) -> QuerySet[Annotation]:
    """A clip's annotations in frame order. `filters` may hold `status`."""
    qs = _annotations().filter(clip_id=clip_id)
    if filters and filters.get("status"):
        qs = qs.filter(status=filters["status"])
    return qs.order_by("frame__index")


PROJECT_ANNOTATION_ORDERINGS = {
    "updated_at": ("updated_at", "id"),
    "-updated_at": ("-updated_at", "-id"),
    "clip": ("clip_id", "frame__index"),
}


def annotation_list_for_project(*, project_id: int, filters: dict[str, Any] | None = None) -> QuerySet[Annotation]:
    """A project's annotations with their clip, frame, author and reviews (a constant number of queries).

    `filters` may hold `status`, `clip` (an id) and `ordering`: "updated_at" (default: the least recently
    changed first, the order a review queue is worked in), "-updated_at" or "clip" (clip, then frame).
    """
    filters = filters or {}
    qs = _annotations().select_related("clip").filter(clip__project_id=project_id)
    if filters.get("status"):
        qs = qs.filter(status=filters["status"])
    if filters.get("clip") is not None:
        qs = qs.filter(clip_id=filters["clip"])
    return qs.order_by(*PROJECT_ANNOTATION_ORDERINGS[filters.get("ordering") or "updated_at"])


def annotation_get(*, annotation_id: int) -> Annotation:
    return _annotations().get(pk=annotation_id)


def annotation_get_for_frame(*, frame_id: int) -> Annotation | None:
    return _annotations().filter(frame_id=frame_id).first()


def annotation_latest_review(*, annotation: Annotation) -> Review | None:
    """The newest review, from the prefetch when present."""
    prefetched = getattr(annotation, "reviews_newest_first", None)
    if prefetched is not None:
        return prefetched[0] if prefetched else None
    return annotation.reviews.select_related("reviewer").order_by("-created_at", "-id").first()


def annotation_revision_list(*, annotation_id: int) -> QuerySet[AnnotationRevision]:
    """Oldest first: revision k is the annotation as saved at version k."""
    return AnnotationRevision.objects.filter(annotation_id=annotation_id).select_related("author").order_by("version")


def review_list(*, annotation_id: int) -> QuerySet[Review]:
    """Newest first."""
    return Review.objects.filter(annotation_id=annotation_id).select_related("reviewer").order_by("-created_at", "-id")
