"""Project membership and roles. Superusers are admins of every project."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from server.core.models import TimeStampedModel


class Role(models.TextChoices):
    MANAGER = "manager"  # settings, members, uploads, every action below
    ANNOTATOR = "annotator"  # writes annotations, adds labels
    REVIEWER = "reviewer"  # reviews annotations


class Membership(TimeStampedModel):
    project = models.ForeignKey("media.Project", on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user_per_project")]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.project_id}:{self.role}"
