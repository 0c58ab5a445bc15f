"""Active learning on the server: a project's acquisition strategy, scoring its clips where the data is, and picking
a diverse batch to label next. The acquisition functions themselves are `ml_backend.serving`'s (`score_clip`,
`select_batch`, `check_strategy`: pure, no Django); this module feeds them what proposals kept and stores the result.

**Strategy.** One per project (`AcquisitionSettings.strategy`, default "combined"), validated by `check_strategy`
(errors name the setting, e.g. "acquisition.weights.temporal must be a number ≥ 0"); managers change it.

**When clips are scored** (`clip_score_acquisition`, one `AcquisitionScore` row each time):
- on the inference worker, right after pre-annotation stored the clip's proposal (`server.annotations.preannotation`);
- for the pool (ready clips not fully accepted) after a training round, on demand and after the strategy changed:
  `project_rescore_pool` (the `project_rescore_task` on the training queue, `manage.py score --project NAME`).

**What a score reads** (`clip_acquisition_evidence`), from the proposal of the scored model version:
- per frame, its 8-bit probability map; a frame without one (proposals stored before maps were kept, a missing
  file) counts with its hard masks as 0/1 probabilities, shrunk to AVS_PROBABILITY_MAP_MAX_SIDE like the maps. At
  most MAX_SCORED_FRAMES frames, evenly spaced, so a long clip stays cheap to score;
- the per-window audio tags and the clip embedding (the mean of its per-frame pooled visual embeddings) from the
  proposal's evidence file (`server.annotations.selectors.proposal_evidence_for_clip`);
- for teacher–student disagreement, a second proposal of the same clip when one exists: for a student's proposal,
  the current proposer's (or, when the student is the proposer or none is set, the newest non-student's); for any
  other proposal, the newest student's. Both must cover the scored frames, else the term is left out.
Terms without evidence drop out of "combined" (listed in `missing`); a one-term strategy without its evidence
stores no score for the clip.

**Review queue rule** (`server.learning.selectors.review_queue_list`): the latest score of each clip, highest first,
whatever model version or strategy produced it (all are in [0, 1]); clips never scored come after, clips with
proposals and the least accepted work first. The queue shows each clip's strategy and its top contributing term.

**Next batch** (`review_batch_select`): among the queue's scored clips (the best BATCH_CANDIDATES_PER_CLIP × size,
at least BATCH_MIN_CANDIDATES), `select_batch` with the project's strategy: by score, skipping near-duplicates (by
clip embedding) of a clip already picked or already fully labelled, when the strategy is `diverse`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.files.storage import Storage, default_storage
from django.db import transaction
from django.db.models import Exists, F, OuterRef, QuerySet, Subquery

from server.annotations.models import Proposal
from server.core.errors import ApplicationError, NotFoundError
from server.core.masks import rle_decode
from server.learning.models import AcquisitionScore, AcquisitionSettings, ModelVersion
from server.media.models import Clip, Project

logger = logging.getLogger(__name__)

MAX_SCORED_FRAMES = 300
"""At most this many frames (evenly spaced) of a clip enter its score: bounds memory and time on long clips."""
BATCH_MAX_SIZE = 100
BATCH_CANDIDATES_PER_CLIP = 20
BATCH_MIN_CANDIDATES = 200

TERM_LABELS = {
    "entropy": "mean pixel entropy",
    "topk_entropy": "top-k pixel entropy",
    "disagreement": "teacher–student disagreement",
    "temporal": "temporal inconsistency",
    "audio_entropy": "audio-tag entropy",
    "random": "random draw",
}
"""What each term measures, in words (the queue's reasons)."""


def clip_acquisition_refresh(*, clips: QuerySet[Clip]) -> int:
    """Store `acquisition_score` of `clips`: the score of each one's latest `AcquisitionScore` by (created_at, id),
    None without any, and `has_score` (one UPDATE); returns the clips updated. The review queue orders on them."""
    latest = AcquisitionScore.objects.filter(clip=OuterRef("pk")).order_by("-created_at", "-id")
    return clips.update(
        acquisition_score=Subquery(latest.values("score")[:1]),
        has_score=Exists(AcquisitionScore.objects.filter(clip=OuterRef("pk"))),
    )


def acquisition_score_store(*, clip: Clip, **fields: Any) -> AcquisitionScore:
    """Insert one `AcquisitionScore` of `clip` (`fields`: its other columns) and store the clip's latest score, in one
    transaction with the clip's row locked first (scores of one clip are written one at a time)."""
    with transaction.atomic():
        Clip.objects.select_for_update().filter(pk=clip.pk).values_list("pk", flat=True).first()
        score = AcquisitionScore.objects.create(clip=clip, **fields)
        clip_acquisition_refresh(clips=Clip.objects.filter(pk=clip.pk))
    return score


# --- the strategy setting ------------------------------------------------------------------------------------


def strategy_settings(strategy: Any) -> dict[str, Any]:
    """`check_strategy(strategy)`: every setting of the strategy, defaults filled in (to show or read, e.g.
    `diverse`); its ConfigError as an ApplicationError (400) whose `extra.setting` names the invalid setting."""
    from ml_backend.serving import ConfigError, check_strategy

    try:
        return check_strategy(strategy)
    except ConfigError as exc:
        message = str(exc)
        setting = message.split(" ", 1)[0] if message.startswith("acquisition") else "acquisition"
        raise ApplicationError(
            f"Invalid acquisition strategy: {message}.", {"field": "strategy", "setting": setting}
        ) from None


def _checked_strategy(strategy: Any) -> dict[str, Any]:
    """The strategy as given (a name becomes `{"name": name}`), once `strategy_settings` accepts it. The given form,
    not the completed one, is what is stored and handed to `ml_backend`: it reads back the same way."""
    strategy_settings(strategy)
    return {"name": strategy} if isinstance(strategy, str) else dict(strategy)


def project_acquisition_settings(*, project_id: int) -> AcquisitionSettings:
    """The project's acquisition settings; an unsaved row with the default strategy when none was stored."""
    found = AcquisitionSettings.objects.select_related("updated_by").filter(project_id=project_id).first()
    return found if found is not None else AcquisitionSettings(project_id=project_id)


def project_acquisition_strategy(*, project_id: int) -> dict[str, Any]:
    """The project's strategy as set (validated; `strategy_settings` completes it)."""
    return _checked_strategy(project_acquisition_settings(project_id=project_id).strategy)


def acquisition_strategy_update(
    *, project: Project, strategy: Any, user: AbstractBaseUser | None, rescore: bool = True
) -> AcquisitionSettings:
    """Set the project's acquisition strategy (a name or a settings dict, see `ml_backend.serving.check_strategy`),
    stored as given. Raises ApplicationError (400) naming the invalid setting; nothing changes then. With
    `rescore`, the pool is rescored with it once the change commits (`project_rescore_task`), so the review queue
    follows the new strategy."""
    checked = _checked_strategy(strategy)
    with transaction.atomic():
        current, _ = AcquisitionSettings.objects.select_for_update().get_or_create(project=project)
        changed = current.strategy != checked
        current.strategy = checked
        current.updated_by = user if user is not None and user.is_authenticated else None
        current.save()
        if changed and rescore:
            transaction.on_commit(lambda: _enqueue_rescore(project_id=project.pk))
    return current


def _enqueue_rescore(*, project_id: int) -> None:
    """Queue `project_rescore_task`; a broker that is down is logged (the strategy is set; `manage.py score` or the
    next change rescores)."""
    from kombu.exceptions import OperationalError as BrokerError

    from server.learning.tasks import project_rescore_task

    try:
        project_rescore_task.delay(project_id=project_id)
    except BrokerError:
        logger.exception("could not queue the rescoring of project %s (setting CELERY_BROKER_URL)", project_id)


# --- evidence and scores -------------------------------------------------------------------------------------


def _scored_positions(count: int) -> list[int]:
    if count <= MAX_SCORED_FRAMES:
        return list(range(count))
    return sorted({int(round(x)) for x in np.linspace(0, count - 1, MAX_SCORED_FRAMES)})


def _shrunk(values: np.ndarray, max_side: int) -> np.ndarray:
    """H×W float in [0, 1] -> h×w uint8 with the longer side at most `max_side` (box filter), as maps are stored."""
    from PIL import Image

    height, width = values.shape
    scale = min(1.0, max_side / max(height, width))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        values = np.asarray(Image.fromarray(values.astype(np.float32), mode="F").resize(size, Image.Resampling.BOX))
    return np.clip(np.round(values * 255.0), 0, 255).astype(np.uint8)


def _hard_probability(entry: dict[str, Any], frame_size: tuple[int, int] | None, max_side: int) -> np.ndarray:
    """A frame's hard masks as a 0/1 probability map (their union), shrunk like a stored map."""
    union = None
    for instance in entry.get("instances") or []:
        mask = rle_decode(instance["mask"])
        union = mask if union is None else (union | mask)
    if union is None:  # a frame without instances: nothing in front, with certainty
        height, width = frame_size or (1, 1)
        return _shrunk(np.zeros((height, width), dtype=np.float32), max_side)
    return _shrunk(union.astype(np.float32), max_side)


class _ProposalFrames:
    """One proposal's per-frame probabilities (maps, else hard masks), read a frame at a time."""

    def __init__(self, proposal: Proposal, *, storage: Storage, frame_sizes: dict[int, tuple[int, int]]) -> None:
        from server.annotations.selectors import ProbabilityMaps

        self.proposal = proposal
        self.entries = {int(e["frame_index"]): e for e in proposal.frames}
        self.maps = ProbabilityMaps(proposal, storage=storage)
        self.with_maps = set(self.maps)  # iterating lists the frames with a map without reading them
        self.frame_sizes = frame_sizes

    def indexes(self) -> list[int]:
        return sorted(self.entries)

    def probability(self, frame_index: int) -> np.ndarray:
        max_side = settings.AVS_PROBABILITY_MAP_MAX_SIDE
        if frame_index in self.with_maps:
            try:
                return self.maps[frame_index]
            except NotFoundError:
                logger.warning(
                    "proposal %s: the probability map of frame %s is missing; its masks count instead",
                    self.proposal.pk,
                    frame_index,
                )
        return _hard_probability(self.entries[frame_index], self.frame_sizes.get(frame_index), max_side)


def _clip_extras(*, clip: Clip, model_version: ModelVersion, storage: Storage) -> tuple[list[list[float]] | None, Any]:
    """(audio tag scores per window or None, clip embedding or None) from the proposal's evidence file; (None,
    None) when it kept none or the file cannot be read (logged: the maps still score the clip)."""
    from server.annotations.selectors import proposal_evidence_for_clip

    try:
        evidence = proposal_evidence_for_clip(clip=clip, model_version=model_version, storage=storage)
    except ApplicationError as exc:
        logger.warning("clip %s: the evidence of model version %s is unusable: %s", clip.pk, model_version.pk, exc)
        return None, None
    if evidence is None:
        return None, None
    tags = [[float(score) for _, score in window] for window in evidence.audio_tags if window]
    embedding = evidence.embeddings.clip_embedding() if evidence.embeddings is not None else None
    return (tags or None), embedding


def _counterpart(*, clip: Clip, primary: ModelVersion) -> Proposal | None:
    """The other proposal that teacher–student disagreement compares with (see the module docstring)."""
    others = (
        Proposal.objects.filter(clip_id=clip.pk)
        .exclude(model_version_id=primary.pk)
        .select_related("model_version")
        .order_by("-model_version__created_at", "-model_version_id")
    )
    student = ModelVersion.Kind.STUDENT
    if primary.kind != student:
        return others.filter(model_version__kind=student).first()
    from server.learning.selectors import learning_settings_of

    proposer_id = learning_settings_of(project_id=clip.project_id).proposer_id
    if proposer_id is not None and proposer_id != primary.pk:
        chosen = others.filter(model_version_id=proposer_id).first()
        if chosen is not None:
            return chosen
    return others.exclude(model_version__kind=student).first()


def clip_acquisition_evidence(
    *, clip: Clip, model_version: ModelVersion, storage: Storage | None = None
) -> tuple[dict[str, Any], ModelVersion | None] | None:
    """What `score_clip` scores for `clip` with the proposal of `model_version`: `(evidence dict, the second
    proposal's model version or None)` (module docstring), or None when the clip has no proposal of that version."""
    storage = storage or default_storage
    proposal = Proposal.objects.filter(clip_id=clip.pk, model_version_id=model_version.pk).first()
    if proposal is None:
        return None
    sizes = {index: (height, width) for index, height, width in clip.frames.values_list("index", "height", "width")}
    first = _ProposalFrames(proposal, storage=storage, frame_sizes=sizes)
    indexes = first.indexes()
    indexes = [indexes[i] for i in _scored_positions(len(indexes))]
    evidence: dict[str, Any] = {"key": clip.pk}
    if indexes:
        evidence["probabilities"] = [first.probability(i) for i in indexes]
    second_version = None
    other = _counterpart(clip=clip, primary=model_version) if indexes else None
    if other is not None:
        second = _ProposalFrames(other, storage=storage, frame_sizes=sizes)
        if set(indexes) <= set(second.entries):
            evidence["second_probabilities"] = [second.probability(i) for i in indexes]
            second_version = other.model_version
        else:
            logger.info(
                "clip %s: the proposal of model version %s covers other frames; no disagreement term",
                clip.pk,
                other.model_version_id,
            )
    tags, embedding = _clip_extras(clip=clip, model_version=model_version, storage=storage)
    if tags is not None:
        evidence["audio_tags"] = tags
    if embedding is not None:
        evidence["embedding"] = embedding
    return evidence, second_version


def clip_score_acquisition(
    *,
    clip: Clip,
    model_version: ModelVersion,
    strategy: dict[str, Any] | None = None,
    storage: Storage | None = None,
) -> AcquisitionScore | None:
    """Score `clip` from its proposal of `model_version` with the project's strategy (or `strategy`, checked) and
    store the score with its strategy, terms, top term and the second proposal's version.

    Returns None, storing nothing, when the clip has no proposal of that version or the strategy's terms have no
    evidence in it (logged). Raises ApplicationError for a model version of another project, an invalid strategy or
    unreadable evidence."""
    from ml_backend.serving import MissingEvidenceError, score_clip

    if model_version.project_id != clip.project_id:
        raise ApplicationError(
            f"Model version {model_version.pk} belongs to another project than clip {clip.pk}.",
            {"field": "model_version"},
        )
    chosen = (
        _checked_strategy(strategy)
        if strategy is not None
        else project_acquisition_strategy(project_id=clip.project_id)
    )
    found = clip_acquisition_evidence(clip=clip, model_version=model_version, storage=storage)
    if found is None:
        return None
    evidence, second = found
    try:
        result = score_clip(evidence, chosen)
    except MissingEvidenceError as exc:
        logger.info("clip %s not scored with %s: %s", clip.pk, chosen["name"], exc)
        return None
    except ValueError as exc:
        raise ApplicationError(f"Clip {clip.pk} cannot be scored: {exc}") from exc
    return acquisition_score_store(
        clip=clip,
        model_version=model_version,
        score=float(result["score"]),
        strategy=result["strategy"],
        terms=result["terms"],
        top_term=result["top_term"],
        missing=list(result["missing"]),
        compared_with=second,
    )


def _pool_clips(*, project_id: int) -> list[Clip]:
    """The project's ready clips that still need work (the review queue's clips: not every frame accepted), by id."""
    from server.learning.selectors import review_queue_list

    ids = list(review_queue_list(project_id=project_id).values_list("pk", flat=True))
    return list(Clip.objects.filter(pk__in=ids).order_by("id"))


def project_rescore_pool(
    *,
    project: Project,
    model_version: ModelVersion | None = None,
    storage: Storage | None = None,
    on_clip: Callable[[int, str], None] | None = None,
) -> dict[str, Any]:
    """Score every pool clip of the project again (ready, not fully accepted) with its strategy: after a training
    round (`model_version`: the round's student or the new proposer), on demand, or after the strategy changed.

    Each clip is scored from its proposal of `model_version` when it has one, else of the project's proposer, else
    of its newest model version; the teacher–student term uses the other proposal (module docstring). Clips
    without any proposal are left as they are. A clip that cannot be scored is reported, never stops the rest.
    `on_clip(clip_id, outcome)` sees each clip. Returns `{"strategy", "model_version", "scored", "unscored": [{"clip",
    "why"}], "failed": [{"clip", "error"}]}`."""
    from server.learning.selectors import learning_settings_of

    if model_version is not None and model_version.project_id != project.pk:
        raise ApplicationError(
            f"Model version {model_version.pk} is not a model version of this project.", {"field": "model_version"}
        )
    strategy = project_acquisition_strategy(project_id=project.pk)
    proposer_id = learning_settings_of(project_id=project.pk).proposer_id
    clips = _pool_clips(project_id=project.pk)
    versions: dict[int, list[int]] = {}
    rows = (
        Proposal.objects.filter(clip__in=[c.pk for c in clips])
        .order_by("clip_id", "-model_version__created_at", "-model_version_id")
        .values_list("clip_id", "model_version_id")
    )
    for clip_id, version_id in rows:
        versions.setdefault(clip_id, []).append(version_id)
    wanted = [model_version.pk] if model_version is not None else []
    if proposer_id is not None:
        wanted.append(proposer_id)
    by_id = {v.pk: v for v in ModelVersion.objects.filter(pk__in={v for vs in versions.values() for v in vs})}
    summary: dict[str, Any] = {
        "strategy": strategy["name"],
        "model_version": model_version.pk if model_version is not None else None,
        "scored": 0,
        "unscored": [],
        "failed": [],
    }
    for clip in clips:
        have = versions.get(clip.pk, [])
        if not have:
            summary["unscored"].append({"clip": clip.pk, "why": "no proposal"})
            outcome = "no proposal"
        else:
            primary = by_id[next((v for v in wanted if v in have), have[0])]
            try:
                score = clip_score_acquisition(clip=clip, model_version=primary, strategy=strategy, storage=storage)
            except ApplicationError as exc:
                summary["failed"].append({"clip": clip.pk, "error": exc.message})
                outcome = f"failed: {exc.message}"
            else:
                if score is None:
                    summary["unscored"].append({"clip": clip.pk, "why": f"no evidence for {strategy['name']}"})
                    outcome = f"no evidence for {strategy['name']}"
                else:
                    summary["scored"] += 1
                    outcome = f"{score.score:.4f} ({score_reason(score.strategy, score.top_term, score.terms)})"
        if on_clip is not None:
            on_clip(clip.pk, outcome)
    return summary


def score_reason(strategy: str | None, top_term: str | None, terms: dict[str, Any] | None) -> str | None:
    """Why a clip scored what it did, in words: "top-k pixel entropy 0.93 (combined)"; None for a score stored
    without its terms."""
    if not strategy or not top_term:
        return None
    value = ((terms or {}).get(top_term) or {}).get("value")
    label = TERM_LABELS.get(top_term, top_term)
    figure = f" {value:.2f}" if isinstance(value, int | float) else ""
    return f"{label}{figure} ({strategy})"


def top_term_value(top_term: str | None, terms: dict[str, Any] | None) -> float | None:
    value = ((terms or {}).get(top_term or "") or {}).get("value")
    return float(value) if isinstance(value, int | float) else None


# --- the next batch ------------------------------------------------------------------------------------------


def _clip_embeddings(
    *, clip_versions: dict[int, int | None], storage: Storage
) -> tuple[dict[int, np.ndarray], list[int]]:
    """{clip id: clip embedding} from each clip's proposal evidence (of the given model version, else its newest
    proposal's), and the clips without one (or with an embedding of another length than most clips')."""
    from server.annotations.selectors import proposal_evidence_for_clip

    newest: dict[int, int] = {}
    missing_version = [clip_id for clip_id, version in clip_versions.items() if version is None]
    if missing_version:
        rows = (
            Proposal.objects.filter(clip_id__in=missing_version)
            .order_by("clip_id", "-model_version__created_at", "-model_version_id")
            .values_list("clip_id", "model_version_id")
        )
        for clip_id, version_id in rows:
            newest.setdefault(clip_id, version_id)
    embeddings: dict[int, np.ndarray] = {}
    without: list[int] = []
    for clip_id, version_id in clip_versions.items():
        version_id = version_id if version_id is not None else newest.get(clip_id)
        embedding = None
        if version_id is not None:
            try:
                evidence = proposal_evidence_for_clip(clip=clip_id, model_version=version_id, storage=storage)
            except ApplicationError as exc:
                logger.warning("clip %s: no embedding, its evidence is unusable: %s", clip_id, exc)
                evidence = None
            if evidence is not None and evidence.embeddings is not None:
                embedding = evidence.embeddings.clip_embedding()
        if embedding is None:
            without.append(clip_id)
        else:
            embeddings[clip_id] = embedding
    if embeddings:  # proposers embed differently (OpenAVS: 256 values, the baseline: 48): keep the usual kind
        lengths = Counter(len(e) for e in embeddings.values())
        usual = max(lengths, key=lambda n: (lengths[n], n))
        without += [clip_id for clip_id, e in embeddings.items() if len(e) != usual]
        embeddings = {clip_id: e for clip_id, e in embeddings.items() if len(e) == usual}
    return embeddings, without


def review_batch_select(*, project: Project, size: int, storage: Storage | None = None) -> dict[str, Any]:
    """The next `size` clips to label (1..BATCH_MAX_SIZE), by the project's strategy: `select_batch` over the review
    queue's scored clips, skipping near-duplicates (clip embeddings) of a clip picked before or already fully
    labelled when the strategy is `diverse` (module docstring). Nothing is stored or assigned.

    Returns `{"size", "strategy", "method", "min_distance", "reason", "clips": [{"id", "name", "score", "strategy",
    "top_term", "top_term_value", "reason"}] in pick order, "near_duplicates": [{"id", "name", "duplicate_of",
    "duplicate_of_name"}], "unscored": number of queue clips without a score, "without_embedding": [ids]}`."""
    from ml_backend.serving import select_batch
    from server.learning.selectors import review_queue_list

    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= BATCH_MAX_SIZE:
        raise ApplicationError(f"size must be an integer from 1 to {BATCH_MAX_SIZE}.", {"field": "size"})
    storage = storage or default_storage
    strategy = project_acquisition_strategy(project_id=project.pk)
    queue = review_queue_list(project_id=project.pk)
    limit = max(BATCH_MIN_CANDIDATES, BATCH_CANDIDATES_PER_CLIP * size)
    scored = queue.filter(has_score=True).values(
        "pk",
        "name",
        "acquisition_score",
        "acquisition_strategy",
        "acquisition_top_term",
        "acquisition_terms",
        "acquisition_model_version",
    )
    candidates = {row["pk"]: row for row in scored[:limit]}  # the queue is ordered by score already
    names = {pk: row["name"] for pk, row in candidates.items()}
    labelled: dict[int, int | None] = {}
    embeddings: dict[int, np.ndarray] = {}
    without: list[int] = []
    if strategy_settings(strategy)["diverse"] and candidates:
        done = (
            review_queue_list(project_id=project.pk, include_done=True)
            .filter(num_frames__gt=0, accepted_count=F("num_frames"))
            .order_by("-id")
            .values_list("pk", "name", "acquisition_model_version")[:limit]
        )
        for pk, name, version in done:
            labelled[pk] = version
            names[pk] = name
        versions = {pk: row["acquisition_model_version"] for pk, row in candidates.items()} | labelled
        embeddings, without = _clip_embeddings(clip_versions=versions, storage=storage)
        without = [pk for pk in without if pk in candidates]
    try:
        picked = select_batch(
            {pk: float(row["acquisition_score"]) for pk, row in candidates.items()},
            size,
            embeddings=embeddings or None,
            strategy=strategy,
            already_selected=[pk for pk in labelled if pk in embeddings],
        )
    except ValueError as exc:  # e.g. embeddings of different kinds (lengths) across model versions
        raise ApplicationError(f"The batch cannot be selected: {exc}.") from exc
    clips = []
    for pk in picked["keys"]:
        row = candidates[pk]
        clips.append(
            {
                "id": pk,
                "name": row["name"],
                "score": row["acquisition_score"],
                "strategy": row["acquisition_strategy"] or None,
                "top_term": row["acquisition_top_term"] or None,
                "top_term_value": top_term_value(row["acquisition_top_term"], row["acquisition_terms"]),
                "reason": score_reason(
                    row["acquisition_strategy"], row["acquisition_top_term"], row["acquisition_terms"]
                ),
            }
        )
    duplicates = [
        {
            "id": item["key"],
            "name": names.get(item["key"], ""),
            "duplicate_of": item["duplicate_of"],
            "duplicate_of_name": names.get(item["duplicate_of"], ""),
        }
        for item in picked["near_duplicates"]
    ]
    return {
        "size": size,
        "strategy": strategy["name"],
        "method": picked["method"],
        "min_distance": picked["min_distance"],
        "reason": picked["reason"],
        "clips": clips,
        "near_duplicates": duplicates,
        "unscored": queue.filter(has_score=False).count(),
        "without_embedding": sorted(without),
    }
