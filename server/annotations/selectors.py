"""Reads for proposals, annotations, revisions and reviews, and the access checks in front of them.

Access follows `server.accounts.selectors.project_access`: an object in a project the user is not a
member of answers 404 exactly like a missing one; members lacking the role get 403.

`proposal_evidence_for_clip(clip=, model_version=)` is what acquisition and training read of a proposal besides its
masks: its per-frame probability maps, the clip's audio tags and embeddings (no access check: for workers).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.files.storage import Storage, default_storage
from django.db.models import F, Prefetch, QuerySet

from server.annotations.models import Annotation, AnnotationRevision, Propagation, Proposal, Review
from server.core.errors import ApplicationError, NotFoundError
from server.core.permissions import project_object_access
from server.media.models import Clip, Frame, Project

User = AbstractBaseUser | AnonymousUser


def clip_get_for_user(*, user: User, clip_id: int, roles: Iterable[str] | None = None) -> Clip:
    clip = Clip.objects.filter(pk=clip_id).first()
    project_object_access(user=user, project_id=clip.project_id if clip else None, entity="Clip", roles=roles)
    assert clip is not None  # project_object_access raised otherwise
    return clip


def frame_get_for_user(*, user: User, frame_id: int, roles: Iterable[str] | None = None) -> tuple[Frame, str]:
    """The frame (with its clip) and the user's role in its project."""
    frame = Frame.objects.select_related("clip").filter(pk=frame_id).first()
    role = project_object_access(
        user=user, project_id=frame.clip.project_id if frame else None, entity="Frame", roles=roles
    )
    assert frame is not None  # project_object_access raised otherwise
    return frame, role


def proposal_get_for_user(*, user: User, proposal_id: int) -> Proposal:
    proposal = Proposal.objects.select_related("clip", "model_version").filter(pk=proposal_id).first()
    project_object_access(user=user, project_id=proposal.clip.project_id if proposal else None, entity="Proposal")
    assert proposal is not None  # project_object_access raised otherwise
    return proposal


def annotation_get_for_user(*, user: User, annotation_id: int, roles: Iterable[str] | None = None) -> Annotation:
    annotation = Annotation.objects.select_related("clip").filter(pk=annotation_id).first()
    project_object_access(
        user=user, project_id=annotation.clip.project_id if annotation else None, entity="Annotation", roles=roles
    )
    assert annotation is not None  # project_object_access raised otherwise
    return annotation


def proposal_list(*, clip_id: int) -> QuerySet[Proposal]:
    return Proposal.objects.filter(clip_id=clip_id).select_related("model_version").order_by("id")


def _annotations() -> QuerySet[Annotation]:
    """Annotations with what their representation needs: frame index, author, reviews newest first
    (`reviews_newest_first`, from which the latest review is read)."""
    reviews = Review.objects.select_related("reviewer").order_by("-created_at", "-id")
    return Annotation.objects.select_related("frame", "author").prefetch_related(
        Prefetch("reviews", queryset=reviews, to_attr="reviews_newest_first")
    )


def annotation_list(*, clip_id: int, filters: dict[str, Any] | None = None) -> QuerySet[Annotation]:
    """A clip's annotations in frame order. `filters` may hold `status`."""
    qs = _annotations().filter(clip_id=clip_id)
    if filters and filters.get("status"):
        qs = qs.filter(status=filters["status"])
    return qs.order_by("frame__index")


PROJECT_ANNOTATION_ORDERINGS = {
    "updated_at": ("updated_at", "id"),
    "-updated_at": ("-updated_at", "-id"),
    "clip": ("clip_id", "frame__index"),
}


def annotation_list_for_project(*, project_id: int, filters: dict[str, Any] | None = None) -> QuerySet[Annotation]:
    """A project's annotations with their clip (and its frame count, `clip_num_frames`), frame, author and reviews
    (a constant number of queries).

    `filters` may hold `status`, `clip` (an id) and `ordering`: "updated_at" (default: the least recently
    changed first, the order a review queue is worked in), "-updated_at" or "clip" (clip, then frame).
    """
    filters = filters or {}
    qs = (
        _annotations()
        .select_related("clip")
        .filter(clip__project_id=project_id)
        .annotate(clip_num_frames=F("clip__num_frames"))
    )
    if filters.get("status"):
        qs = qs.filter(status=filters["status"])
    if filters.get("clip") is not None:
        qs = qs.filter(clip_id=filters["clip"])
    return qs.order_by(*PROJECT_ANNOTATION_ORDERINGS[filters.get("ordering") or "updated_at"])


def annotation_count_for_project(*, project_id: int, filters: dict[str, Any] | None = None) -> int | None:
    """How many annotations `annotation_list_for_project` returns, read from the project's counters; None with a
    `clip` filter (counted then)."""
    filters = filters or {}
    if filters.get("clip") is not None:
        return None
    row = (
        Project.objects.filter(pk=project_id)
        .values("annotation_count", "annotations_submitted", "annotations_accepted", "annotations_rejected")
        .first()
    )
    if row is None:
        return 0
    by_status = {
        Annotation.Status.SUBMITTED: row["annotations_submitted"],
        Annotation.Status.ACCEPTED: row["annotations_accepted"],
        Annotation.Status.REJECTED: row["annotations_rejected"],
    }
    by_status[Annotation.Status.DRAFT] = row["annotation_count"] - sum(by_status.values())
    status = filters.get("status")
    return by_status[status] if status else row["annotation_count"]


def annotation_get(*, annotation_id: int) -> Annotation:
    return _annotations().get(pk=annotation_id)


def annotation_get_for_frame(*, frame_id: int) -> Annotation | None:
    return _annotations().filter(frame_id=frame_id).first()


def annotation_latest_review(*, annotation: Annotation) -> Review | None:
    """The newest review, from the prefetch when present."""
    prefetched = getattr(annotation, "reviews_newest_first", None)
    if prefetched is not None:
        return prefetched[0] if prefetched else None
    return annotation.reviews.select_related("reviewer").order_by("-created_at", "-id").first()


def annotation_revision_list(*, annotation_id: int) -> QuerySet[AnnotationRevision]:
    """Oldest first: revision k is the annotation as saved at version k."""
    return AnnotationRevision.objects.filter(annotation_id=annotation_id).select_related("author").order_by("version")


def review_list(*, annotation_id: int) -> QuerySet[Review]:
    """Newest first."""
    return Review.objects.filter(annotation_id=annotation_id).select_related("reviewer").order_by("-created_at", "-id")


# --- what a proposal keeps besides its masks (probability maps, evidence) ----------------------------------


def proposal_probability_map_path(*, proposal: Proposal, frame_index: int) -> str:
    """Media storage path of the proposal's probability map of frame `frame_index`. Raises NotFoundError when the
    proposal kept none for that frame (no such frame, or a proposal stored before maps were kept)."""
    for entry in proposal.frames:
        if entry.get("frame_index") == frame_index:
            record = entry.get("probability_map") or {}
            path = record.get("path")
            if path and proposal.records_folder and path.startswith(f"{proposal.records_folder}/"):
                return path
            break
    raise NotFoundError(f"Proposal {proposal.pk} has no probability map for frame {frame_index}.")


class ProbabilityMaps(Mapping[int, np.ndarray]):
    """A proposal's per-frame probability maps, read one at a time from media storage (nothing is held).

    `maps[frame_index]` -> h×w uint8 (probability ≈ value / 255, see `ml_backend.serving.records`), at the stored
    size (longer side at most AVS_PROBABILITY_MAP_MAX_SIDE); iterating yields the frame indexes that have a map, in
    order (`items()` reads each map as it goes). `size(i)`: (h, w) stored; `frame_size(i)`: (H, W) of the frame;
    `scale(i)`: h ≈ H · scale; `probability(i, size=None)`: float32 in [0, 1], bilinearly resized to `size`
    ((H, W); None: the stored size); `instances(i)`: the frame's stored instances (`mask` RLE, `label`, `score`,
    `confidence`). Raises KeyError for a frame without a map, NotFoundError when its file is missing from storage.
    """

    def __init__(self, proposal: Proposal, *, storage: Storage | None = None) -> None:
        self.proposal_id = proposal.pk
        self.storage = storage or default_storage
        self._entries = {
            int(entry["frame_index"]): entry
            for entry in sorted(proposal.frames, key=lambda e: e["frame_index"])
            if entry.get("probability_map")
        }
        self._all = {int(entry["frame_index"]): entry for entry in proposal.frames}

    def __getitem__(self, frame_index: int) -> np.ndarray:
        from ml_backend.serving import decode_png

        record = self._entries[frame_index]["probability_map"]
        try:
            with self.storage.open(record["path"], "rb") as handle:
                return decode_png(handle)
        except FileNotFoundError:
            raise NotFoundError(
                f"The probability map of frame {frame_index} (proposal {self.proposal_id}) is missing from media "
                "storage."
            ) from None

    def __iter__(self) -> Iterator[int]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def size(self, frame_index: int) -> tuple[int, int]:
        height, width = self._entries[frame_index]["probability_map"]["size"]
        return int(height), int(width)

    def scale(self, frame_index: int) -> float:
        return float(self._entries[frame_index]["probability_map"]["scale"])

    def frame_size(self, frame_index: int) -> tuple[int, int] | None:
        """(H, W) of the frame, from its instances' masks; None for a frame without instances."""
        for instance in self._all[frame_index].get("instances") or []:
            height, width = instance["mask"]["size"]
            return int(height), int(width)
        return None

    def instances(self, frame_index: int) -> list[dict[str, Any]]:
        return list(self._all[frame_index].get("instances") or [])

    def probability(self, frame_index: int, *, size: tuple[int, int] | None = None) -> np.ndarray:
        from PIL import Image

        values = self[frame_index]
        if size is None or tuple(size) == values.shape:
            return values.astype(np.float32) / np.float32(255.0)
        image = Image.fromarray(values.astype(np.float32) / np.float32(255.0), mode="F")
        resized = image.resize((int(size[1]), int(size[0])), Image.Resampling.BILINEAR)
        return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


@dataclass
class ProposalEmbeddings:
    """What the proposer computed per clip besides tags (`ml_backend.serving.records` documents the file):
    audio: G×D float32 per audio window (OpenAVS: CLAP unit embeddings; baseline: level and band energies, dB) or
    None; visual: G×C float32 per frame (OpenAVS: SAM image embedding mean-pooled, C = 256; baseline: 4×4 colour
    layout, C = 48; NaN rows: frames without one) or None; row g covers the frames at positions
    [g·stride, (g+1)·stride) of `frame_indexes` (stride 1 unless the file had to be bounded); audio_kind /
    visual_kind name them."""

    frame_indexes: np.ndarray
    audio: np.ndarray | None
    visual: np.ndarray | None
    stride: int
    audio_kind: str
    visual_kind: str

    def clip_embedding(self) -> np.ndarray | None:
        """(C,) float32: the mean of the visual rows that are present (None without any), e.g. for diversity."""
        if self.visual is None:
            return None
        rows = self.visual[~np.isnan(self.visual).any(axis=1)]
        return rows.mean(axis=0).astype(np.float32) if len(rows) else None


class ProposalEvidence(NamedTuple):
    """`proposal_evidence_for_clip`'s answer: unpack as `maps, audio_tags, embeddings = ...`.

    probability_maps: `ProbabilityMaps` (frame index -> h×w uint8, read on access);
    audio_tags: per audio window (one per frame, frame order), its tags as `(label, score)`, best first (empty
    lists for a proposer without tags, e.g. the baseline; [] when the proposal kept no evidence);
    embeddings: `ProposalEmbeddings`, None when the proposal kept no evidence file."""

    probability_maps: ProbabilityMaps
    audio_tags: list[list[tuple[str, float]]]
    embeddings: ProposalEmbeddings | None


def proposal_evidence_for_clip(
    *, clip: Clip | int, model_version: Any, storage: Storage | None = None
) -> ProposalEvidence | None:
    """What pre-annotation kept for `clip` (a Clip or its id) with `model_version` (a ModelVersion or its id), for
    acquisition and training to reuse without running the proposer again; None when the clip has no proposal of
    that version. Reads the evidence file (at most AVS_PROPOSAL_EVIDENCE_MAX_BYTES) now and each probability map
    only when asked for, so a caller holds one frame's map at a time. Two queries at most, no access check (for
    workers and services; API views check membership first).

    Raises NotFoundError when the proposal's evidence file is missing from media storage, ApplicationError when it
    is not a readable evidence file.
    """
    from ml_backend.serving import read_evidence

    clip_id = clip if isinstance(clip, int) else clip.pk
    version_id = model_version if isinstance(model_version, int) else model_version.pk
    proposal = Proposal.objects.filter(clip_id=clip_id, model_version_id=version_id).first()
    if proposal is None:
        return None
    storage = storage or default_storage
    maps = ProbabilityMaps(proposal, storage=storage)
    path = (proposal.evidence or {}).get("path")
    if not path:
        return ProposalEvidence(maps, [], None)
    try:
        with storage.open(path, "rb") as handle:
            arrays = read_evidence(handle)
    except FileNotFoundError:
        raise NotFoundError(f"The evidence file of proposal {proposal.pk} is missing from media storage.") from None
    except (ValueError, OSError) as exc:
        raise ApplicationError(f"The evidence file of proposal {proposal.pk} cannot be read: {exc}") from exc
    embeddings = ProposalEmbeddings(
        frame_indexes=arrays.frame_index,
        audio=arrays.audio_embedding,
        visual=arrays.visual_embedding,
        stride=arrays.stride,
        audio_kind=arrays.audio_kind,
        visual_kind=arrays.visual_kind,
    )
    return ProposalEvidence(maps, arrays.audio_tags(), embeddings)


def propagation_get_for_user(*, user: User, propagation_id: int, roles: Iterable[str] | None = None) -> Propagation:
    """A mask propagation (with its job and clip) of a project the user is a member of (with one of `roles`)."""
    propagation = (
        Propagation.objects.select_related("clip", "job", "job__created_by", "created_by")
        .filter(pk=propagation_id)
        .first()
    )
    project_object_access(
        user=user, project_id=propagation.clip.project_id if propagation else None, entity="Propagation", roles=roles
    )
    assert propagation is not None  # project_object_access raised otherwise
    return propagation


def propagation_list(*, clip_id: int) -> QuerySet[Propagation]:
    """A clip's mask propagations, newest first."""
    return (
        Propagation.objects.filter(clip_id=clip_id)
        .select_related("job", "job__created_by", "created_by")
        .order_by("-created_at", "-id")
    )


def annotation_list_by_ids(*, annotation_ids: Iterable[int]) -> dict[int, Annotation]:
    """{id: annotation} with what their representation needs, in a constant number of queries."""
    return {a.pk: a for a in _annotations().filter(pk__in=list(annotation_ids))}
