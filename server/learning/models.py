from __future__ import annotations

from django.db import models

from server.core.models import TimeStampedModel


class ModelVersion(TimeStampedModel):
    """A proposer or student the platform ran, identified by the hash of its configuration."""

    class Kind(models.TextChoices):
        OPENAVS = "openavs"
        STUDENT = "student"
        BASELINE = "baseline"

    project = models.ForeignKey("media.Project", on_delete=models.CASCADE, related_name="model_versions")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=200)
    config = models.JSONField(default=dict, blank=True)
    config_hash = models.CharField(max_length=64, help_text="SHA-256 of the canonical JSON config.")
    checkpoint_path = models.CharField(max_length=1000, blank=True, default="")
    metrics = models.JSONField(default=dict, blank=True)
    note = models.TextField(blank=True, default="", help_text="E.g. why the baseline ran instead.")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["project", "config_hash"], name="modelversion_unique_config_per_project")
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


class AcquisitionScore(models.Model):
    """How informative labelling a clip would be, per an acquisition function run with a model version
    (higher: review sooner). A clip keeps its history; the latest score orders the review queue."""

    clip = models.ForeignKey("media.Clip", on_delete=models.CASCADE, related_name="acquisition_scores")
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="acquisition_scores"
    )
    score = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["clip", "-created_at", "-id"], name="acqscore_latest_per_clip")]

    def __str__(self) -> str:
        return f"clip {self.clip_id}: {self.score:g}"
