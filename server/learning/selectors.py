from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from server.core.permissions import project_object_access
from server.learning.models import ModelVersion


def model_version_list(*, project_id: int, filters: dict[str, Any] | None = None) -> QuerySet[ModelVersion]:
    """Newest first. `filters` may hold `kind`."""
    qs = ModelVersion.objects.filter(project_id=project_id)
    if filters and filters.get("kind"):
        qs = qs.filter(kind=filters["kind"])
    return qs.order_by("-created_at", "-id")


def model_version_get_for_user(*, user: AbstractBaseUser | AnonymousUser, model_version_id: int) -> ModelVersion:
    """For members of its project; 404 for everyone else, as if it did not exist."""
    version = ModelVersion.objects.filter(pk=model_version_id).first()
    project_object_access(user=user, project_id=version.project_id if version else None, entity="Model version")
    assert version is not None  # project_object_access raised otherwise
    return version
