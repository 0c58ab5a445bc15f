"""Projects and their media: clips decoded into frames at the project's frame rate + an audio track.

Frame timing rule (implemented by `ml_backend.media.video`): clip time is split into windows of 1/fps
seconds; frame k covers the window [k/fps, (k+1)/fps) and shows the picture on screen at
`(k + FRAME_POSITION)/fps` with FRAME_POSITION = 0.94, as AVSBench keeps the frame about
0.94 s into each second. Only whole windows are kept (a clip shorter than one window keeps one
frame). `Frame.timestamp` is the presentation time in seconds of the picture actually kept.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from server.core.models import CountersModel, TimeStampedModel


class Project(CountersModel, TimeStampedModel):
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
    # Counters, stored in the transaction of every write that changes them, so that pages and list counts read them
    # instead of counting rows: clips per status and `clips_done` (ready, every frame accepted), by
    # `server.media.services.project_clip_counts_refresh` whenever a clip is created, changes status or is deleted,
    # and moved with every write of a clip's annotations (`server.annotations.services.clip_annotations_changing`);
    # annotations in all and per reviewed status, moved with those writes too.
    clip_count = models.PositiveIntegerField(default=0, editable=False)
    clips_uploaded = models.PositiveIntegerField(default=0, editable=False)
    clips_processing = models.PositiveIntegerField(default=0, editable=False)
    clips_ready = models.PositiveIntegerField(default=0, editable=False)
    clips_failed = models.PositiveIntegerField(default=0, editable=False)
    clips_done = models.PositiveIntegerField(default=0, editable=False)
    annotation_count = models.PositiveIntegerField(default=0, editable=False)
    annotations_submitted = models.PositiveIntegerField(default=0, editable=False)
    annotations_accepted = models.PositiveIntegerField(default=0, editable=False)
    annotations_rejected = models.PositiveIntegerField(default=0, editable=False)

    counter_fields = (
        "clip_count",
        "clips_uploaded",
        "clips_processing",
        "clips_ready",
        "clips_failed",
        "clips_done",
        "annotation_count",
        "annotations_submitted",
        "annotations_accepted",
        "annotations_rejected",
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


class Clip(CountersModel, TimeStampedModel):
    """A video of a project. Besides what ingest read from the file, a clip keeps counters of its rows, each stored in
    the transaction of the write that changes it, so that lists order and filter on columns instead of counting:

    - `num_frames` (`server.media.services.clip_num_frames_refresh`: ingest, its clean-up, dataset import);
    - `proposal_count`, `has_proposals`, `annotated_count` and the annotations per status
      (`server.annotations.services.clip_annotations_changing`: every write of the clip's annotations, reviews and
      proposals);
    - `acquisition_score`, the score of its latest `AcquisitionScore` by (created_at, id), None when never scored,
      and `has_score` (`server.learning.services.clip_acquisition_refresh`).

    `manage.py counters_rebuild` recomputes them all from the rows.
    """

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
    num_frames = models.PositiveIntegerField(default=0, editable=False, help_text="Frames kept (a counter).")
    proposal_count = models.PositiveIntegerField(default=0, editable=False, help_text="Proposals (a counter).")
    has_proposals = models.BooleanField(default=False, editable=False, help_text="proposal_count > 0.")
    annotated_count = models.PositiveIntegerField(default=0, editable=False, help_text="Frames with an annotation.")
    accepted_count = models.PositiveIntegerField(default=0, editable=False)
    submitted_count = models.PositiveIntegerField(default=0, editable=False)
    rejected_count = models.PositiveIntegerField(default=0, editable=False)
    acquisition_score = models.FloatField(
        null=True, blank=True, editable=False, help_text="The latest acquisition score; None: never scored."
    )
    has_score = models.BooleanField(default=False, editable=False, help_text="acquisition_score is not None.")

    counter_fields = (
        "num_frames",
        "proposal_count",
        "has_proposals",
        "annotated_count",
        "accepted_count",
        "submitted_count",
        "rejected_count",
        "acquisition_score",
        "has_score",
    )

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["project", "checksum"], name="clip_unique_checksum_per_project")]
        indexes = [
            # The clip list: a project's clips in each order it offers (descending: the same index read backwards).
            models.Index(fields=["project", "id"], name="clip_project_id_order"),
            models.Index(fields=["project", "name", "id"], name="clip_project_name_order"),
            models.Index(fields=["project", "created_at", "id"], name="clip_project_created_order"),
            models.Index(fields=["project", "duration", "id"], name="clip_project_duration_order"),
            models.Index(fields=["project", "status", "id"], name="clip_project_status_order"),
            # The review queue (`server.learning.selectors.review_queue_list`): its order, then what leaves a clip out
            # (every frame accepted), so that its count reads the index alone.
            models.Index(
                fields=[
                    "project",
                    "status",
                    "-has_score",
                    "-acquisition_score",
                    "-has_proposals",
                    "accepted_count",
                    "id",
                    "num_frames",
                ],
                name="clip_review_queue_order",
            ),
        ]

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


class Upload(TimeStampedModel):
    """A resumable upload (tus 1.0.0) of one video into a project, by one user (`server.media.resumable`).

    The bytes received so far are in a part file named after `id` in AVS_UPLOAD_DIR; `offset` is how many of them
    are stored for good (written and synced before the row says so), so a client that lost its connection, or a
    server that restarted, continues from it. Once `offset` reaches `length` the whole file's SHA-256 is checked
    against `sha256` and the file becomes a clip exactly as a one-request upload does (`status` done, with the clip
    and its ingest job), or the upload fails with a readable `error` and nothing is stored. An upload still
    receiving after `expires_at` expires: its part is deleted.
    """

    class Status(models.TextChoices):
        RECEIVING = "receiving"
        DONE = "done"
        FAILED = "failed"
        EXPIRED = "expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="uploads")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    filename = models.CharField(max_length=255, help_text="The clip's name: the file name the client sent.")
    length = models.BigIntegerField(help_text="Bytes of the whole file (tus Upload-Length).")
    offset = models.BigIntegerField(default=0, help_text="Bytes stored so far (tus Upload-Offset).")
    sha256 = models.CharField(max_length=64, help_text="SHA-256 (hex) of the whole file, as declared by the client.")
    metadata = models.TextField(blank=True, default="", help_text="The Upload-Metadata header sent at creation.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVING)
    error = models.TextField(blank=True, default="", help_text="Why the upload failed, for people.")
    expires_at = models.DateTimeField(help_text="An upload still receiving then expires (AVS_UPLOAD_EXPIRY_SECONDS).")
    clip = models.ForeignKey(Clip, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    duplicate = models.BooleanField(default=False, help_text="The project already had this file: nothing stored.")

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["status", "expires_at"], name="upload_expiry")]

    def __str__(self) -> str:
        return f"upload {self.pk} of {self.filename} ({self.status}, {self.offset}/{self.length})"
