from __future__ import annotations

from django.conf import settings
from django.db import models

from server.core.models import CountersModel, TimeStampedModel


class ModelVersion(CountersModel, TimeStampedModel):
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
    # Edit statistics of the annotations started from its proposals (those with a `proposal_iou`), kept by
    # `server.annotations.services.clip_annotations_changing` with every write of a clip's annotations.
    edit_annotations = models.PositiveIntegerField(default=0, editable=False)
    edit_iou_sum = models.FloatField(default=0.0, editable=False, help_text="Sum of their proposal_iou.")

    counter_fields = ("edit_annotations", "edit_iou_sum")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["project", "config_hash"], name="modelversion_unique_config_per_project")
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


class AcquisitionScore(models.Model):
    """How informative labelling a clip would be, per an acquisition strategy run on a model version's proposal
    (higher: review sooner). A clip keeps its history; the latest score orders the review queue.

    `terms` = `{term: {"value", "weight", "contribution"}}` (the contributions sum to `score`), `top_term` the term
    that contributed most, `missing` the strategy's terms the clip had no evidence for (`ml_backend.serving.
    score_clip`). `compared_with`: the other model version whose proposal the teacher–student disagreement term
    compared against (None when there was none). Scores recorded without a strategy have `strategy` "".
    """

    clip = models.ForeignKey("media.Clip", on_delete=models.CASCADE, related_name="acquisition_scores")
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="acquisition_scores"
    )
    score = models.FloatField()
    strategy = models.CharField(max_length=32, blank=True, default="", help_text="The strategy's name.")
    terms = models.JSONField(default=dict, blank=True, help_text="Each term's value, weight and contribution.")
    top_term = models.CharField(max_length=32, blank=True, default="", help_text="The largest contribution's term.")
    missing = models.JSONField(default=list, blank=True, help_text="Terms left out for lack of evidence.")
    compared_with = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The second proposal's model version (teacher–student disagreement).",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["clip", "-created_at", "-id"], name="acqscore_latest_per_clip")]

    def __str__(self) -> str:
        return f"clip {self.clip_id}: {self.score:g}"


def default_acquisition_strategy() -> dict:
    return {"name": "combined"}


class AcquisitionSettings(TimeStampedModel):
    """A project's acquisition strategy (one row per project, created when a manager first changes it): what
    scores its clips for the review queue and picks its batches. `strategy` is a settings dict of
    `ml_backend.serving.check_strategy` (`{"name": ..., "weights": ..., "diverse": ...}`), stored as validated."""

    project = models.OneToOneField("media.Project", on_delete=models.CASCADE, related_name="acquisition_settings")
    strategy = models.JSONField(default=default_acquisition_strategy)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"acquisition settings of project {self.project_id}"


class LearningSettings(TimeStampedModel):
    """A project's self-training settings (one row per project, created on first use with the defaults).

    Split: a clip is held out when `sha256(f"{split_seed}:{checksum}")`, read as a number in [0, 1), is below
    `heldout_fraction` (`server.learning.splits`); imported AVSBench clips keep their dataset split ("train" trains,
    any other split is held out). Held-out clips are never trained on: they judge each round. Changing the fraction
    or the seed is refused once a round has run (its figures would no longer compare with later rounds').

    `proposer`: the model version pre-annotation runs for the project when set (a promoted student, or a version a
    manager chose); None: the configured proposer (OpenAVS from the model configuration, else the baseline).
    """

    class StudentKind(models.TextChoices):
        COMPACT = "compact"
        AV2T_SAM = "av2t_sam"

    project = models.OneToOneField("media.Project", on_delete=models.CASCADE, related_name="learning_settings")
    heldout_fraction = models.FloatField(
        default=0.2, help_text="Share of the clips held out from training, in [0, 0.9] (AVSBench clips keep theirs)."
    )
    split_seed = models.PositiveIntegerField(default=0, help_text="Seed of the deterministic train/held-out split.")
    student_kind = models.CharField(
        max_length=16, choices=StudentKind.choices, default=StudentKind.COMPACT, help_text="Student a round trains."
    )
    student_config = models.JSONField(
        default=dict, blank=True, help_text="Overrides of the student's training settings (e.g. epochs)."
    )
    auto_round_after = models.PositiveIntegerField(
        default=0, help_text="Start a round once this many annotations were accepted since the last one (0: never)."
    )
    proposer = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="See above."
    )

    def __str__(self) -> str:
        return f"learning settings of project {self.project_id}"


class ProposerChange(models.Model):
    """One change of a project's proposer: a promotion (by a round or a manager) or a rollback. None on either
    side means the configured proposer."""

    class Action(models.TextChoices):
        PROMOTE = "promote"
        ROLLBACK = "rollback"

    project = models.ForeignKey("media.Project", on_delete=models.CASCADE, related_name="proposer_changes")
    action = models.CharField(max_length=16, choices=Action.choices)
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="proposer_changes"
    )
    previous = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    training_round = models.ForeignKey(
        "learning.TrainingRound", null=True, blank=True, on_delete=models.SET_NULL, related_name="proposer_changes"
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class TrainingRound(TimeStampedModel):
    """One self-training round (OpenAVS-ST): a student trained on the train split's accepted annotations and the
    base proposer's pseudo-labels, judged on the held-out split against that proposer, promoted when better.
    See `server.learning.training` for the flow."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Trigger(models.TextChoices):
        API = "api"
        AUTO = "auto"
        COMMAND = "command"
        LABELSTUDIO = "labelstudio"  # Label Studio's "Start training" (server.labelstudio)

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    project = models.ForeignKey("media.Project", on_delete=models.CASCADE, related_name="training_rounds")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.API)
    student_kind = models.CharField(max_length=16, choices=LearningSettings.StudentKind.choices)
    config = models.JSONField(default=dict, blank=True, help_text="The student's training settings (overrides).")
    base_proposer = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The proposer when the round started: its pseudo-labels train, its held-out figures compare.",
    )
    job = models.OneToOneField(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="training_round"
    )
    model_version = models.OneToOneField(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="training_round"
    )
    promoted = models.BooleanField(default=False)
    metrics = models.JSONField(default=dict, blank=True, help_text="Held-out figures of the student and proposer.")
    curve = models.JSONField(default=list, blank=True, help_text="Mean training loss per epoch.")
    plan = models.JSONField(
        default=dict, blank=True, help_text="The training items, fixed when training starts (resume needs them)."
    )
    checkpoint_dir = models.CharField(max_length=1000, blank=True, default="", help_text="Per-round folder.")
    reason = models.TextField(blank=True, default="", help_text="Why the student was promoted or not.")
    error = models.TextField(blank=True, default="")
    cancel_requested = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project"],
                condition=models.Q(status__in=["queued", "running"]),
                name="training_round_one_active_per_project",
            )
        ]

    def __str__(self) -> str:
        return f"round {self.pk} of project {self.project_id} ({self.status})"
