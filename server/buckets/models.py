"""Objects of S3-compatible buckets a project imported videos from (`manage.py ingest s3://...`, "Add videos from
storage"): what each object was (bucket, key, ETag, size) and what became of it, so that a listing tells new objects
from imported ones without reading them again. The clip's SHA-256 (`Clip.checksum`) decides duplicates."""

from __future__ import annotations

from django.db import models

from server.core.models import TimeStampedModel


class BucketObject(TimeStampedModel):
    class Outcome(models.TextChoices):
        IMPORTED = "imported", "imported as a new clip"
        DUPLICATE = "duplicate", "the project already had this video (same SHA-256)"
        FAILED = "failed", "could not be imported"

    project = models.ForeignKey("media.Project", on_delete=models.CASCADE, related_name="bucket_objects")
    bucket = models.CharField(max_length=63)
    key = models.CharField(max_length=1024)
    etag = models.CharField(max_length=128, help_text="The object's ETag when it was read (changes with its content).")
    size_bytes = models.BigIntegerField(default=0)
    checksum = models.CharField(max_length=64, blank=True, default="", help_text="SHA-256 of the object's bytes.")
    clip = models.ForeignKey(
        "media.Clip",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The clip holding this video (new or already there); empty when it failed or was deleted since.",
    )
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "bucket", "key", "etag"], name="bucket_object_unique_version")
        ]

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key} ({self.outcome})"
