"""Proposals (model output), annotations (human work, versioned) and reviews.

Instances are lists of dicts; every `mask` is a COCO RLE `{"size": [H, W], "counts": str}` whose
size equals its frame's `(height, width)` (checked by `server.core.masks.rle_validate`).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from server.core.models import TimeStampedModel


class Proposal(TimeStampedModel):
    """A model version's masks for one clip, with what the proposer knew about them.

    `frames` = `[{"frame_index": int, "instances": [{"mask", "label", "score", "confidence", "provenance"}],
    "probability_map": {"path": str, "size": [h, w], "scale": float}, "provenance": {...}}]`: `confidence` is the
    instance's mean foreground probability inside its mask (absent on proposals stored before it was kept),
    `probability_map` the frame's 8-bit probability map (PNG in media storage, longer side at most
    AVS_PROBABILITY_MAP_MAX_SIDE; absent when none was kept), `provenance` what the proposer heard in the frame's
    audio window (OpenAVS: `{"rms", "silent", "audio_tags", "nouns", "reason"?}`; absent before it was kept).
    `evidence`: the summary of the clip's evidence file (`{"path", "format", "bytes", "frames", "stride",
    "audio_tags": {"top_k"}, "audio_embedding": {"kind", "shape"} | None, "visual_embedding": ..., "dropped": [...]}`,
    `{}` when none), one per (clip, model version) like the proposal. The formats are
    `ml_backend.serving.records`'s; read them through `server.annotations.selectors.proposal_evidence_for_clip`.
    Every file lives under `records_folder` and is deleted with the proposal (`server.annotations.records`).
    """

    clip = models.ForeignKey("media.Clip", on_delete=models.CASCADE, related_name="proposals")
    model_version = models.ForeignKey("learning.ModelVersion", on_delete=models.PROTECT, related_name="proposals")
    frames = models.JSONField(default=list)
    records_folder = models.CharField(
        max_length=300,
        blank=True,
        default="",
        help_text="Media storage folder of the probability maps and the evidence file (deleted with the proposal).",
    )
    evidence = models.JSONField(default=dict, blank=True, help_text="Summary of the clip's evidence file.")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["clip", "model_version"], name="proposal_unique_per_clip_and_version")
        ]


class Annotation(TimeStampedModel):
    """The current human annotation of one frame. `version` increases by one on every write;
    a write must carry the version it was based on (optimistic locking, 409 when stale)."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        SUBMITTED = "submitted"
        ACCEPTED = "accepted"
        REJECTED = "rejected"

    clip = models.ForeignKey("media.Clip", on_delete=models.CASCADE, related_name="annotations")
    frame = models.OneToOneField("media.Frame", on_delete=models.CASCADE, related_name="annotation")
    instances = models.JSONField(default=list, help_text='[{"mask": RLE, "label": str}]')
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="annotations"
    )
    version = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    time_spent = models.FloatField(default=0.0, help_text="Seconds of annotator work, accumulated.")
    source_proposal = models.ForeignKey(
        Proposal, null=True, blank=True, on_delete=models.SET_NULL, related_name="annotations"
    )
    proposal_iou = models.FloatField(
        null=True,
        blank=True,
        help_text="IoU of the source proposal's masks and these masks (union per frame), kept up to date on save; "
        "null without a source proposal.",
    )
    external_source = models.CharField(max_length=64, blank=True, default="", help_text="e.g. labelstudio, avsbench")
    external_id = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["clip_id", "frame__index"]
        indexes = [
            # A project's annotations, least recently changed first (`annotation_list_for_project`), and by status.
            models.Index(fields=["updated_at", "id"], name="annotation_updated_order"),
            models.Index(fields=["status", "updated_at", "id"], name="annotation_status_updated"),
        ]


class AnnotationRevision(models.Model):
    """An immutable snapshot of an annotation as of one version (history, audit, undo across sessions)."""

    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="revisions")
    version = models.PositiveIntegerField()
    instances = models.JSONField(default=list)
    status = models.CharField(max_length=16, choices=Annotation.Status.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["annotation_id", "version"]
        constraints = [
            models.UniqueConstraint(fields=["annotation", "version"], name="revision_unique_version_per_annotation")
        ]


class Review(TimeStampedModel):
    class Verdict(models.TextChoices):
        ACCEPT = "accept"
        REJECT = "reject"

    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="reviews")
    annotation_version = models.PositiveIntegerField(help_text="The version the reviewer looked at.")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="reviews")
    verdict = models.CharField(max_length=8, choices=Verdict.choices)
    comment = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at"]


class Propagation(TimeStampedModel):
    """An annotator's masks on one frame, tracked through a range of the clip by the configured video mask tracker
    (`models.tracker`), each propagated mask checked against its frame's audio window: a proposal of kind
    "propagation" the annotator reviews and accepts per frame or for the range (`server.annotations.propagation`).

    `instances`: the prompts, `[{"track": k, "label": str, "mask": RLE}]`. `frames`: one entry per frame of the
    range in tracking order, the source frame first (`ml_backend.serving.propagation` documents the entry:
    `{"frame_index", "timestamp", "silent", "low_confidence", "provenance", "instances": [{"track", "label", "mask",
    "area", "confidence", "score", "sounding", "low_confidence", "provenance"}]}`); filled while the job runs.
    `start_frame_index` ≤ `end_frame_index`: the frames the tracker runs over, the source included. The job (kind
    "propagate", queue `inference`) carries status, progress and a readable error."""

    class Direction(models.TextChoices):
        FORWARD = "forward"
        BACKWARD = "backward"

    clip = models.ForeignKey("media.Clip", on_delete=models.CASCADE, related_name="propagations")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source_frame_index = models.PositiveIntegerField()
    direction = models.CharField(max_length=8, choices=Direction.choices)
    start_frame_index = models.PositiveIntegerField()
    end_frame_index = models.PositiveIntegerField()
    tracker = models.CharField(max_length=200, blank=True, default="", help_text="The tracker's short model name.")
    instances = models.JSONField(default=list, help_text='The prompts: [{"track", "label", "mask"}].')
    frames = models.JSONField(default=list, help_text="Per frame of the range, in tracking order.")

    class Meta:
        ordering = ["-created_at", "-id"]
