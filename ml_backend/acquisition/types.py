"""Plain inputs and outputs of the acquisition functions (`ml_backend.acquisition`).

Conventions (those of `ml_backend.types`, plus what stored confidence records look like):
- a probability map is H×W, either uint8 in 0..255 (an 8-bit PNG as stored: p = value / 255) or float in [0, 1];
  it may be downsampled: maps of one clip need not share a size, nor match the size of the masks;
- a mask is H×W bool (any size; masks compared with each other are brought to a common size first);
  where a clip has probability maps but no masks, its masks are `probability > 0.5` (uint8: value ≥ 128);
- frames are in clip order (frame index ascending); a second proposal covers the same frames, in the same order;
- audio tag scores: one sequence per audio window (one window per frame), the top tags' scores ≥ 0, any order;
- a clip embedding is a (D,) float vector (e.g. the pooled visual embedding of its frames).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

Key = Hashable  # a clip's identity (e.g. its database id); keys of one call are of one kind and sortable


def as_probability(array: np.ndarray, *, what: str = "probability map") -> np.ndarray:
    """H×W uint8 (0..255) or float in [0, 1] -> H×W float32 in [0, 1]. Raises ValueError for another shape,
    dtype or range."""
    array = np.asarray(array)
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"{what} must be a non-empty H×W array, not shape {array.shape}")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / np.float32(255.0)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{what} must be uint8 (0..255) or float in [0, 1], not dtype {array.dtype}")
    out = array.astype(np.float32)
    if not np.all(np.isfinite(out)) or out.min() < 0.0 or out.max() > 1.0:
        raise ValueError(f"{what} must hold values in [0, 1] (or be uint8 0..255)")
    return out


def as_mask(array: np.ndarray, *, what: str = "mask") -> np.ndarray:
    """H×W bool (or 0/1 integers) -> H×W bool. Raises ValueError for another shape or values other than 0/1."""
    array = np.asarray(array)
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"{what} must be a non-empty H×W array, not shape {array.shape}")
    if array.dtype != bool:
        if not np.issubdtype(array.dtype, np.number) or not np.isin(array, (0, 1)).all():
            raise ValueError(f"{what} must be boolean (or 0/1), not dtype {array.dtype}")
        array = array.astype(bool)
    return array


@dataclass(frozen=True)
class ClipEvidence:
    """What one proposer (and optionally a second one) said about one clip: the input of every score.

    key: the clip's identity; breaks ties and seeds the "random" strategy.
    probabilities: T maps, each H_t×W_t uint8 (0..255) or float in [0, 1], the per-pixel foreground probability
        (the union of the frame's instances); None when the proposal kept hard masks only.
    masks: T masks, each H_t×W_t bool, the proposal's foreground; None to derive them from `probabilities`.
    second_probabilities / second_masks: the same for a second proposal of the same T frames (teacher vs
        student); either may be None.
    audio_tags: one sequence of tag scores (≥ 0) per audio window, e.g. the top-5 CLAP scores of each frame's
        window; None when the proposer tagged no audio.
    embedding: optional (D,) float clip embedding, for diverse batch selection (not used by the scores).

    Arrays are validated and converted on construction: `probabilities` become float32 in [0, 1], masks bool.
    """

    key: Key
    probabilities: Sequence[np.ndarray] | None = None
    masks: Sequence[np.ndarray] | None = None
    second_probabilities: Sequence[np.ndarray] | None = None
    second_masks: Sequence[np.ndarray] | None = None
    audio_tags: Sequence[Sequence[float]] | None = None
    embedding: np.ndarray | None = None

    def __post_init__(self) -> None:
        name = f"clip {self.key!r}"

        def maps(values: Sequence[np.ndarray] | None, label: str, convert) -> tuple[np.ndarray, ...] | None:
            if values is None:
                return None
            return tuple(convert(v, what=f"{name}: {label}[{t}]") for t, v in enumerate(values))

        first_p = maps(self.probabilities, "probabilities", as_probability)
        first_m = maps(self.masks, "masks", as_mask)
        second_p = maps(self.second_probabilities, "second_probabilities", as_probability)
        second_m = maps(self.second_masks, "second_masks", as_mask)
        counts = {
            label: len(v)
            for label, v in (
                ("probabilities", first_p),
                ("masks", first_m),
                ("second_probabilities", second_p),
                ("second_masks", second_m),
            )
            if v is not None
        }
        if len(set(counts.values())) > 1:
            raise ValueError(f"{name}: every per-frame sequence must cover the same frames, got {counts}")
        object.__setattr__(self, "probabilities", first_p)
        object.__setattr__(self, "masks", first_m)
        object.__setattr__(self, "second_probabilities", second_p)
        object.__setattr__(self, "second_masks", second_m)
        if self.audio_tags is not None:
            windows = []
            for w, scores in enumerate(self.audio_tags):
                row = np.asarray(scores, dtype=np.float64).reshape(-1)
                if not np.all(np.isfinite(row)) or (row < 0).any():
                    raise ValueError(f"{name}: audio_tags[{w}] must hold finite scores ≥ 0")
                windows.append(row)
            object.__setattr__(self, "audio_tags", tuple(windows))
        if self.embedding is not None:
            vector = np.asarray(self.embedding, dtype=np.float32).reshape(-1)
            if vector.size == 0 or not np.all(np.isfinite(vector)):
                raise ValueError(f"{name}: embedding must be a non-empty vector of finite numbers")
            object.__setattr__(self, "embedding", vector)

    @property
    def num_frames(self) -> int:
        """T, the number of frames with a proposal (0 when the clip has no per-frame evidence)."""
        for values in (self.probabilities, self.masks, self.second_probabilities, self.second_masks):
            if values is not None:
                return len(values)
        return 0

    def first_masks(self) -> tuple[np.ndarray, ...] | None:
        """The first proposal's T masks: `masks`, else `probabilities > 0.5`, else None."""
        return _masks(self.masks, self.probabilities)

    def other_masks(self) -> tuple[np.ndarray, ...] | None:
        """The second proposal's T masks: `second_masks`, else `second_probabilities > 0.5`, else None."""
        return _masks(self.second_masks, self.second_probabilities)


def _masks(
    masks: Sequence[np.ndarray] | None, probabilities: Sequence[np.ndarray] | None
) -> tuple[np.ndarray, ...] | None:
    if masks is not None:
        return tuple(masks)
    if probabilities is not None:
        return tuple(p > 0.5 for p in probabilities)
    return None


@dataclass(frozen=True)
class TermScore:
    """One term of a clip's score: its value in [0, 1], its weight in the strategy, and its contribution
    `weight × value / Σ weights` (the contributions of a score's terms sum to the score)."""

    value: float
    weight: float
    contribution: float


@dataclass(frozen=True)
class ClipScore:
    """A clip's acquisition score (higher: label it sooner) under a strategy, and why.

    terms: the terms the strategy used, by name. top_term: the name of the term with the largest contribution
    (ties: the larger weight, then the name). missing: terms of the strategy that had no evidence for this clip
    (left out, the remaining weights renormalised).
    """

    key: Key
    score: float
    strategy: str
    terms: Mapping[str, TermScore]
    top_term: str
    missing: tuple[str, ...] = field(default_factory=tuple)
