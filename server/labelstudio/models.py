"""The Label Studio bridge's records: one connection per project, which frame is which Label Studio task, which
Label Studio annotation became which of ours, and the webhook inbox.

Label Studio ids are kept as plain integers (they live in another database). The connection's token is write-only:
it is stored to call Label Studio's API and never returned by our API.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from server.core.models import TimeStampedModel


class Connection(TimeStampedModel):
    """A project's link to one Label Studio project (created by the first push)."""

    class ImportStatus(models.TextChoices):
        SUBMITTED = "submitted"  # reviewed in AVS Studio like any annotator's work (default)
        ACCEPTED = "accepted"  # trusted as reviewed: counts for training at once

    project = models.OneToOneField("media.Project", on_delete=models.CASCADE, related_name="labelstudio")
    url = models.URLField(max_length=500, help_text="Label Studio's base URL, as this server reaches it.")
    token = models.CharField(max_length=200, blank=True, default="", help_text="Label Studio API token (write-only).")
    ls_project_id = models.PositiveBigIntegerField(null=True, blank=True)
    ml_backend_id = models.PositiveBigIntegerField(null=True, blank=True)
    webhook_id = models.PositiveBigIntegerField(null=True, blank=True)
    import_status = models.CharField(
        max_length=16,
        choices=ImportStatus.choices,
        default=ImportStatus.SUBMITTED,
        help_text="Status given to annotations imported from Label Studio.",
    )
    last_push_at = models.DateTimeField(null=True, blank=True)
    last_pull_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    counts = models.JSONField(default=dict, blank=True, help_text="Figures of the last push and pull.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["url", "ls_project_id"],
                condition=models.Q(ls_project_id__isnull=False),
                name="ls_connection_unique_remote_project",
            )
        ]

    def __str__(self) -> str:
        return f"{self.project} ↔ {self.url} project {self.ls_project_id}"


class TaskLink(models.Model):
    """One frame pushed as one Label Studio task."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="tasks")
    frame = models.ForeignKey("media.Frame", on_delete=models.CASCADE, related_name="+")
    ls_task_id = models.PositiveBigIntegerField()
    prediction_id = models.PositiveBigIntegerField(null=True, blank=True)
    prediction_key = models.CharField(
        max_length=200, blank=True, default="", help_text="What the pushed prediction was made of (version, proposal)."
    )
    pushed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "frame"], name="ls_task_unique_frame"),
            models.UniqueConstraint(fields=["connection", "ls_task_id"], name="ls_task_unique_remote_id"),
        ]


class AnnotationLink(TimeStampedModel):
    """A Label Studio annotation and the annotation of ours it was imported into."""

    class State(models.TextChoices):
        IMPORTED = "imported"
        CONFLICT = "conflict"  # a local edit came first: reported, not overwritten
        RETRACTED = "retracted"  # deleted in Label Studio and withdrawn here

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="annotation_links")
    ls_annotation_id = models.PositiveBigIntegerField()
    frame = models.ForeignKey("media.Frame", on_delete=models.CASCADE, related_name="+")
    annotation = models.ForeignKey(
        "annotations.Annotation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    imported_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="Our annotation's version written by the last import."
    )
    previous_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="Our annotation's version before the first import (null: the import made it)."
    )
    ls_updated_at = models.CharField(max_length=64, blank=True, default="", help_text="Label Studio's updated_at.")
    ls_author_email = models.EmailField(blank=True, default="")
    state = models.CharField(max_length=16, choices=State.choices, default=State.IMPORTED)
    detail = models.TextField(blank=True, default="", help_text="Why a conflict or a refusal, for people.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "ls_annotation_id"], name="ls_annotation_unique_remote_id")
        ]


class WebhookEvent(models.Model):
    """One webhook call received from Label Studio: stored, then processed on a worker (never inside the request)."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        DONE = "done"
        IGNORED = "ignored"
        FAILED = "failed"

    connection = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.CASCADE, related_name="webhook_events"
    )
    action = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    outcome = models.TextField(blank=True, default="")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
