"""Background work shown to users: status, progress 0–100, a message, a readable error."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models

from server.core.models import TimeStampedModel


class Job(TimeStampedModel):
    class Kind(models.TextChoices):
        INGEST = "ingest"
        PREANNOTATE = "preannotate"
        EXPORT = "export"
        IMPORT = "import"
        EVALUATE = "evaluate"
        TRAIN = "train"
        LABELSTUDIO = "labelstudio"
        PROPAGATE = "propagate"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    project = models.ForeignKey("media.Project", on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    progress = models.PositiveSmallIntegerField(default=0)
    message = models.CharField(max_length=500, blank=True, default="")
    error = models.TextField(blank=True, default="")
    result = models.JSONField(
        default=dict, blank=True, help_text="What the job produced, per kind (pre-annotation: one entry per clip)."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    target_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL)
    target_id = models.PositiveBigIntegerField(null=True, blank=True)
    target = GenericForeignKey("target_type", "target_id")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["target_type", "target_id"], name="job_target_idx")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} {self.status} {self.progress}%"


class TaskDelivery(TimeStampedModel):
    """How many deliveries of one worker task's item started and never finished (poison-loop guard).

    Tasks are acknowledged late and requeued when their worker dies, so a task that kills its worker (out of
    memory) would be delivered forever. Each delivery adds one to `unfinished` in its own committed transaction
    before it does any work; a delivery that ends with its process alive (success, failure, retry) sets it back to 0.
    A count that reaches AVS_TASK_MAX_DELIVERIES therefore means that many workers died running the item: the next
    delivery fails the item instead of running it (`server.jobs.deliveries`).

    Keyed by (task name, job, item): `item` names what the task works on within the job (e.g. "clip:12").
    """

    task = models.CharField(max_length=200)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.CASCADE, related_name="task_deliveries")
    item = models.CharField(max_length=100, blank=True, default="")
    unfinished = models.PositiveIntegerField(default=0, help_text="Deliveries started since the last one that ended.")
    total = models.PositiveIntegerField(default=0, help_text="Every delivery of this item, finished or not.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "job", "item"], name="task_delivery_unique_item"),
            models.UniqueConstraint(
                fields=["task", "item"], condition=models.Q(job__isnull=True), name="task_delivery_unique_jobless_item"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task} job {self.job_id} {self.item}: {self.unfinished} unfinished"
