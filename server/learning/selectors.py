from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import (
    Case,
    ExpressionWrapper,
    F,
    FloatField,
    JSONField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)

from server.annotations.models import Review
from server.core.permissions import project_object_access
from server.datasets.models import DatasetClip
from server.learning.models import AcquisitionScore, LearningSettings, ModelVersion, TrainingRound
from server.learning.splits import clip_split, clip_splits
from server.media.models import Clip, Project


def model_versions_with_edit_stats(qs: QuerySet[ModelVersion]) -> QuerySet[ModelVersion]:
    """Each version with `edit_annotations` (annotations started from its proposals) and `edit_mean_iou` (their
    mean `proposal_iou`: how much of its masks survived human editing, None without any), from the version's stored
    counters (`ModelVersion.edit_annotations`, `edit_iou_sum`), in the same query."""
    mean = ExpressionWrapper(F("edit_iou_sum") / F("edit_annotations"), output_field=FloatField())
    return qs.annotate(
        edit_mean_iou=Case(When(edit_annotations__gt=0, then=mean), default=Value(None), output_field=FloatField())
    )


def model_version_list(*, project_id: int, filters: dict[str, Any] | None = None) -> QuerySet[ModelVersion]:
    """Newest first, with edit statistics (`model_versions_with_edit_stats`). `filters` may hold `kind`."""
    qs = ModelVersion.objects.filter(project_id=project_id)
    if filters and filters.get("kind"):
        qs = qs.filter(kind=filters["kind"])
    return model_versions_with_edit_stats(qs).order_by("-created_at", "-id")


def model_version_get_for_user(*, user: AbstractBaseUser | AnonymousUser, model_version_id: int) -> ModelVersion:
    """For members of its project; 404 for everyone else, as if it did not exist."""
    version = model_versions_with_edit_stats(ModelVersion.objects.filter(pk=model_version_id)).first()
    project_object_access(user=user, project_id=version.project_id if version else None, entity="Model version")
    assert version is not None  # project_object_access raised otherwise
    return version


def review_queue_list(*, project_id: int, include_done: bool = False) -> QuerySet[Clip]:
    """A project's ready clips in the order annotators should work on them (one query).

    Order: the latest acquisition score, highest first (clips never scored come after the scored ones);
    then clips with proposals before clips without; then the fewest accepted annotations; then id. With no
    scores at all, that is "clips with proposals and the least accepted work first".

    The latest score counts whatever model version or strategy produced it (every strategy scores in [0, 1]; see
    `server.learning.acquisition` for when clips are scored).

    The order reads the clip's stored counters (`Clip.has_score`, `acquisition_score`, `has_proposals`,
    `accepted_count`; see `server.media.models.Clip`), so a page is read in order from the index
    `clip_review_queue_order`, whatever the number of clips. Each clip carries its counters `num_frames`,
    `proposal_count`, `annotated_count`, `accepted_count`, `submitted_count`, `rejected_count` and
    `acquisition_score`, and from its latest score `acquisition_scored_at`, `acquisition_strategy`,
    `acquisition_top_term`, `acquisition_terms` and `acquisition_model_version` (None when never scored; subqueries
    run for the rows of the page only). Clips whose every frame is accepted are left out unless `include_done`;
    `review_queue_count` counts them from the project's counters.
    """
    latest = AcquisitionScore.objects.filter(clip=OuterRef("pk")).order_by("-created_at", "-id")
    qs = Clip.objects.filter(project_id=project_id, status=Clip.Status.READY).annotate(
        acquisition_scored_at=Subquery(latest.values("created_at")[:1]),
        acquisition_strategy=Subquery(latest.values("strategy")[:1]),
        acquisition_top_term=Subquery(latest.values("top_term")[:1]),
        acquisition_terms=Subquery(latest.values("terms")[:1], output_field=JSONField()),
        acquisition_model_version=Subquery(latest.values("model_version_id")[:1]),
    )
    if not include_done:
        qs = qs.exclude(Q(num_frames__gt=0) & Q(accepted_count=F("num_frames")))
    return qs.order_by(*REVIEW_QUEUE_ORDER)


def review_queue_count(*, project_id: int, include_done: bool = False) -> int:
    """How many clips `review_queue_list` returns, read from the project's counters (ready clips, less the done ones
    unless `include_done`)."""
    row = Project.objects.filter(pk=project_id).values("clips_ready", "clips_done").first()
    if row is None:
        return 0
    return row["clips_ready"] - (0 if include_done else row["clips_done"])


REVIEW_QUEUE_ORDER = ("-has_score", "-acquisition_score", "-has_proposals", "accepted_count", "id")
"""The review queue's order, as the index `clip_review_queue_order` stores it: scored clips first, by score."""


# --- self-training: settings, splits, rounds -------------------------------------------------------------


def learning_settings_of(*, project_id: int) -> LearningSettings:
    """The project's learning settings; an unsaved row with the defaults when none was stored yet."""
    found = LearningSettings.objects.select_related("proposer").filter(project_id=project_id).first()
    return found if found is not None else LearningSettings(project_id=project_id)


def project_clip_splits(
    *, project_id: int, settings: LearningSettings | None = None, clips: QuerySet[Clip] | None = None
) -> dict[int, str]:
    """{clip id: "train" | "heldout"} for the project's clips (or `clips`), per `server.learning.splits`."""
    settings = settings or learning_settings_of(project_id=project_id)
    qs = clips if clips is not None else Clip.objects.filter(project_id=project_id)
    rows = qs.values_list("pk", "checksum", "dataset_origin__split")
    return clip_splits(seed=settings.split_seed, fraction=settings.heldout_fraction, clips=rows.iterator())


def clip_split_of(*, clip: Clip, settings: LearningSettings | None = None) -> str:
    """ "train" or "heldout" for one clip. Uses the clip's `dataset_split` attribute when the query annotated it
    (`clip_list`), else reads its AVSBench origin."""
    settings = settings or learning_settings_of(project_id=clip.project_id)
    if hasattr(clip, "dataset_split"):
        dataset_split = clip.dataset_split
    else:
        dataset_split = DatasetClip.objects.filter(clip_id=clip.pk).values_list("split", flat=True).first()
    return clip_split(
        seed=settings.split_seed,
        fraction=settings.heldout_fraction,
        checksum=clip.checksum,
        dataset_split=dataset_split,
    )


def project_rounds_ran(*, project_id: int) -> bool:
    """Whether a training round of the project started training (its split is then fixed)."""
    return TrainingRound.objects.filter(project_id=project_id, started_at__isnull=False).exists()


def training_round_list(*, project_id: int) -> QuerySet[TrainingRound]:
    return (
        TrainingRound.objects.filter(project_id=project_id)
        .select_related("job", "model_version", "base_proposer", "created_by")
        .order_by("-created_at", "-id")
    )


def training_round_get_for_user(
    *, user: AbstractBaseUser | AnonymousUser, round_id: int, roles: Any = None
) -> TrainingRound:
    """For members of its project (`roles`: as `project_access`); 404 for everyone else."""
    found = (
        TrainingRound.objects.select_related("job", "model_version", "base_proposer", "created_by")
        .filter(pk=round_id)
        .first()
    )
    project_object_access(
        user=user, project_id=found.project_id if found else None, entity="Training round", roles=roles
    )
    assert found is not None
    return found


def accepted_since_last_round(*, project_id: int) -> int:
    """Annotations of the project accepted by a reviewer since its latest round was created (all of them when no
    round exists): what the automatic trigger counts."""
    reviews = Review.objects.filter(annotation__clip__project_id=project_id, verdict=Review.Verdict.ACCEPT)
    last = TrainingRound.objects.filter(project_id=project_id).order_by("-created_at").values("created_at").first()
    if last is not None:
        reviews = reviews.filter(created_at__gt=last["created_at"])
    return reviews.values("annotation_id").distinct().count()
