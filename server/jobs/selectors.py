from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from server.core.permissions import project_object_access
from server.jobs.models import Job


def job_list(*, project_id: int, filters: dict[str, Any] | None = None) -> QuerySet[Job]:
    """Newest first. `filters` may hold `status` and `kind`."""
    qs = Job.objects.filter(project_id=project_id).select_related("created_by", "target_type")
    for field in ("status", "kind"):
        if filters and filters.get(field):
            qs = qs.filter(**{field: filters[field]})
    return qs.order_by("-created_at", "-id")


def job_get_for_user(*, user: AbstractBaseUser | AnonymousUser, job_id: int) -> Job:
    """For members of its project; 404 for everyone else, as if it did not exist."""
    job = Job.objects.select_related("created_by", "target_type").filter(pk=job_id).first()
    project_object_access(user=user, project_id=job.project_id if job else None, entity="Job")
    assert job is not None  # project_object_access raised otherwise
    return job
