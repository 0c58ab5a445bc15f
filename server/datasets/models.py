"""Datasets in and out of a project: where imported clips came from, export archives, evaluation reports."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from server.core.models import TimeStampedModel

PROTOCOL_CHOICES = [("s4", "S4"), ("ms3", "MS3"), ("avss", "AVSS")]


class DatasetClip(TimeStampedModel):
    """Where an imported clip came from in an AVSBench layout (read back by the AVSBench export).

    vid: S4/MS3 video id, AVSS uid. category: S4 category. subset: AVSS `label` column (v1s, v1m, v2).
    metadata: the clip's metadata CSV row as read (strings).
    """

    clip = models.OneToOneField("media.Clip", on_delete=models.CASCADE, related_name="dataset_origin")
    protocol = models.CharField(max_length=8, choices=PROTOCOL_CHOICES)
    split = models.CharField(max_length=32)
    vid = models.CharField(max_length=255)
    category = models.CharField(max_length=120, blank=True, default="")
    subset = models.CharField(max_length=32, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    source_root = models.CharField(max_length=1000, blank=True, default="", help_text="Dataset folder imported from.")

    class Meta:
        ordering = ["clip_id"]

    def __str__(self) -> str:
        return f"{self.protocol}:{self.split}:{self.vid}"


def export_file_path(instance: Export, filename: str) -> str:
    return f"projects/{instance.project_id}/exports/{instance.pk}/{filename}"


class Export(TimeStampedModel):
    """An export archive (zip) built by a job; downloaded by members of the project."""

    class Format(models.TextChoices):
        AVSBENCH = "avsbench"
        COCO = "coco"
        JSON = "json"

    project = models.ForeignKey("media.Project", on_delete=models.CASCADE, related_name="exports")
    job = models.OneToOneField("jobs.Job", on_delete=models.CASCADE, related_name="export")
    format = models.CharField(max_length=16, choices=Format.choices)
    protocol = models.CharField(max_length=8, choices=PROTOCOL_CHOICES, blank=True, default="")
    include_submitted = models.BooleanField(default=False)
    file = models.FileField(upload_to=export_file_path, max_length=500, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True, help_text="What the archive holds (counts).")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.format})"


class EvaluationReport(TimeStampedModel):
    """A model version's proposals scored against the accepted annotations of a set of clips.

    split: the key under `ModelVersion.metrics["evaluation"]` ("all", or the name given). summary: headline
    figures (binary mIoU, official F, F at 0.5, semantic mIoU/F, per-class IoU by label name, counts).
    per_clip: `[{"clip_id", "clip_name", "n_frames", "miou", "fscore", "fscore_at_0_5", "semantic_miou"}]`.
    """

    project = models.ForeignKey("media.Project", on_delete=models.CASCADE, related_name="evaluation_reports")
    model_version = models.ForeignKey(
        "learning.ModelVersion", on_delete=models.CASCADE, related_name="evaluation_reports"
    )
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    split = models.CharField(max_length=120)
    clip_ids = models.JSONField(default=list)
    summary = models.JSONField(default=dict)
    per_clip = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"evaluation {self.pk} of model version {self.model_version_id} on {self.split}"
