"""Projects and their media: clips decoded into frames at the project's frame rate + an audio track.

Frame timing rule (implemented by `ml_backend.media.video`): clip time is split into windows of 1/fps
seconds; frame k covers the window [k/fps, (k+1)/fps) and shows the picture on screen at
`(k + FRAME_POSITION)/fps` with FRAME_POSITION = 0.94, as AVSBench keeps the frame about
0.94 s into each second. Only whole windows are kept (a clip shorter than one window keeps one
frame). `Frame.timestamp` is the presentation time in seconds of the picture actually kept.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from server.core.models import TimeStampedModel


class Project(TimeStampedModel):
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True, default="")
    fps = models.FloatField(
        default=1.0, validators=[MinValueValidator(0.1), MaxValueValidator(60.0)], help_text="Frames kept per second."
    )
    frame_max_side = models.PositiveIntegerField(
        default=1280,
        validators=[MinValueValidator(64), MaxValueValidator(8192)],
        help_text="Frames are downscaled so that their longer side is at most this many pixels.",
    )
    audio_sample_rate = models.PositiveIntegerField(
        default=16000, validators=[MinValueValidator(8000), MaxValueValidator(96000)], help_text="Hz, mono."
    )
    model_config = models.CharField(
        max_length=1000,
        blank=True,
        default="",
        help_text="Path of the ML backend's model configuration (config.json) pre-annotation runs; "
        "blank: the AVS_MODEL_CONFIG setting.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Label(TimeStampedModel):
    """One entry of a project's open label vocabulary."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=120)
    color = models.CharField(
        max_length=7, validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "Colour must look like #RRGGBB.")]
    )

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="label_unique_name_per_project")]

    def __str__(self) -> str:
        return self.name


def clip_source_path(instance: Clip, filename: str) -> str:
    return f"projects/{instance.project_id}/sources/{instance.checksum[:16]}/{filename}"


class Clip(TimeStampedModel):
    class Status(models.TextChoices):
        UPLOADED = "uploaded"
        PROCESSING = "processing"
        READY = "ready"
        FAILED = "failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="clips")
    name = models.CharField(max_length=255, help_text="Original file name.")
    source = models.FileField(upload_to=clip_source_path, max_length=500, blank=True)
    checksum = models.CharField(max_length=64, help_text="SHA-256 of the source file.")
    size_bytes = models.BigIntegerField(default=0)
    duration = models.FloatField(null=True, blank=True, help_text="Seconds.")
    source_fps = models.FloatField(null=True, blank=True, help_text="Frame rate of the source video.")
    fps = models.FloatField(null=True, blank=True, help_text="Rate frames were kept at (the project's, at ingest).")
    width = models.PositiveIntegerField(
        null=True, blank=True, help_text="Source video width in pixels, as displayed (after its rotation)."
    )
    height = models.PositiveIntegerField(
        null=True, blank=True, help_text="Source video height in pixels, as displayed (after its rotation)."
    )
    rotation = models.PositiveSmallIntegerField(
        default=0,
        choices=[(0, "0°"), (90, "90°"), (180, "180°"), (270, "270°")],
        help_text="Degrees the source's pictures were turned clockwise to be shown upright (its display matrix or "
        "rotate tag, read at ingest): frames, their sizes and masks follow the upright picture.",
    )
    has_audio = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UPLOADED, db_index=True)
    error = models.TextField(blank=True, default="", help_text="Why processing failed, for people.")
    ingest_attempt = models.UUIDField(
        null=True,
        blank=True,
        editable=False,
        help_text="The ingest run that owns the clip while it is processing: only it may store frames or fail the "
        "clip (a duplicate or stale delivery finds another id and changes nothing).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["project", "checksum"], name="clip_unique_checksum_per_project")]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"


class Frame(models.Model):
    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="frames")
    index = models.PositiveIntegerField(help_text="0-based window index: covers [index/fps, (index+1)/fps).")
    timestamp = models.FloatField(help_text="Presentation time of the kept picture, in seconds.")
    image = models.ImageField(max_length=500, width_field="width", height_field="height")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()

    class Meta:
        ordering = ["clip_id", "index"]
        constraints = [models.UniqueConstraint(fields=["clip", "index"], name="frame_unique_index_per_clip")]

    def __str__(self) -> str:
        return f"clip {self.clip_id} frame {self.index}"


class AudioTrack(models.Model):
    clip = models.OneToOneField(Clip, on_delete=models.CASCADE, related_name="audio")
    file = models.FileField(max_length=500, help_text="Mono 16-bit PCM WAV.")
    sample_rate = models.PositiveIntegerField()
    duration = models.FloatField(help_text="Seconds.")
    num_samples = models.PositiveBigIntegerField()

    def __str__(self) -> str:
        return f"audio of clip {self.clip_id}"
