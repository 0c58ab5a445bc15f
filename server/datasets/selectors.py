"""Reads for exports and evaluations: which annotations and clips they cover, and access to their results."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Exists, OuterRef, QuerySet

from server.annotations.models import Annotation
from server.core.errors import ConflictError
from server.core.permissions import project_object_access
from server.datasets.models import EvaluationReport, Export
from server.jobs.models import Job
from server.media.models import Clip, Frame

User = AbstractBaseUser | AnonymousUser


def export_statuses(*, include_submitted: bool) -> list[str]:
    """Annotation statuses an export takes: accepted, plus submitted on request."""
    statuses = [Annotation.Status.ACCEPTED.value]
    if include_submitted:
        statuses.append(Annotation.Status.SUBMITTED.value)
    return statuses


def export_annotation_list(*, project_id: int, include_submitted: bool = False) -> QuerySet[Annotation]:
    """The annotations an export covers (ready clips only), by clip and frame index, with their authors."""
    return (
        Annotation.objects.filter(
            clip__project_id=project_id,
            clip__status=Clip.Status.READY,
            status__in=export_statuses(include_submitted=include_submitted),
        )
        .select_related("author", "frame")
        .order_by("clip_id", "frame__index")
    )


def export_clip_list(*, project_id: int, include_submitted: bool = False) -> QuerySet[Clip]:
    """The clips an export covers (ready clips of the project with an annotation it takes), by id, with their
    audio track and dataset origin."""
    exported = Annotation.objects.filter(
        clip_id=OuterRef("pk"), status__in=export_statuses(include_submitted=include_submitted)
    )
    return (
        Clip.objects.filter(Exists(exported), project_id=project_id, status=Clip.Status.READY)
        .select_related("audio", "dataset_origin")
        .order_by("id")
    )


def export_frame_list(*, clips: QuerySet[Clip]) -> QuerySet[Frame]:
    """Every frame of `clips`, by clip and index."""
    return Frame.objects.filter(clip__in=clips.values("pk")).order_by("clip_id", "index")


def export_get_for_user(*, user: User, job_id: int) -> Export:
    """The finished export of job `job_id`, for members of its project (404 for everyone else).

    Raises ConflictError (409) while the job runs, or when it failed (with its error).
    """
    export = Export.objects.select_related("job").filter(job_id=job_id).first()
    project_object_access(user=user, project_id=export.project_id if export else None, entity="Export")
    assert export is not None  # project_object_access raised otherwise
    job = export.job
    if job.status == Job.Status.FAILED:
        raise ConflictError(f"This export failed: {job.error}", {"job_status": job.status})
    if job.status != Job.Status.SUCCEEDED or not export.file:
        raise ConflictError(
            f"The export is not ready yet (job {job.pk} is {job.status}, {job.progress}%).", {"job_status": job.status}
        )
    return export


def evaluation_report_list(*, model_version_id: int) -> QuerySet[EvaluationReport]:
    """A model version's evaluation reports, newest first."""
    return EvaluationReport.objects.filter(model_version_id=model_version_id).order_by("-created_at", "-id")
