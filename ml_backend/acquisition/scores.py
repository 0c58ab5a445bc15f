"""Per-clip acquisition scores: pure functions of a `ClipEvidence` (higher: more informative to label).

Every score lies in [0, 1], so a weighted combination compares like with like. Pixel maps are reduced to one number
per frame by a named pixel reduction, then frames to one number per clip by a named frame reduction (baal's
convention: the heuristic reduces a pixel map to one score per sample; selection is a separate step, `select.py`):

- pixel reductions: "mean" (all pixels), "max", "topk_mean" (mean of the `top_fraction` highest pixels, at least one
  pixel: a fraction, not a count, so that downsampled maps give the same answer);
- frame reductions: "mean", "max".

A score that lacks its evidence (no probability maps for an entropy, no second proposal for a disagreement) raises
`MissingEvidenceError`; a combined strategy leaves such terms out (`ml_backend.acquisition.registry`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from ml_backend.acquisition.types import ClipEvidence, Key, TermScore

PixelReduction = Literal["mean", "max", "topk_mean"]
FrameReduction = Literal["mean", "max"]
TemporalMode = Literal["iou", "probability"]
PIXEL_REDUCTIONS: tuple[str, ...] = ("mean", "max", "topk_mean")
FRAME_REDUCTIONS: tuple[str, ...] = ("mean", "max")
TEMPORAL_MODES: tuple[str, ...] = ("iou", "probability")
DEFAULT_TOP_FRACTION = 0.05  # "topk_mean": the 5 % most uncertain pixels of a frame


class MissingEvidenceError(ValueError):
    """The clip lacks what a score needs (e.g. probability maps, a second proposal, audio tags)."""


# --- building blocks -------------------------------------------------------------------------------------------


def binary_entropy(p: np.ndarray) -> np.ndarray:
    """Per-pixel binary entropy in bits, H(p) = −p·log2 p − (1 − p)·log2(1 − p), of a foreground probability map
    (any shape, float in [0, 1]): 0 where the model is sure (p ∈ {0, 1}), 1 at p = 0.5 (Shannon 1948; the
    max-entropy criterion of uncertainty sampling, Settles 2009 "Active Learning Literature Survey" §3.1)."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1.0 - 1e-12)
    h = -(p * np.log2(p) + (1.0 - p) * np.log2(1.0 - p))
    return np.clip(h, 0.0, 1.0)


def reduce_pixels(
    values: np.ndarray, reduction: PixelReduction = "mean", *, top_fraction: float = DEFAULT_TOP_FRACTION
) -> float:
    """One number from a per-pixel map (any shape): "mean", "max" or "topk_mean" (the mean of the
    ceil(top_fraction × pixels) largest values, at least one)."""
    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    assert flat.size > 0
    if reduction == "mean":
        return float(flat.mean())
    if reduction == "max":
        return float(flat.max())
    if reduction == "topk_mean":
        if not 0.0 < top_fraction <= 1.0:
            raise ValueError(f"top_fraction must lie in (0, 1], not {top_fraction!r}")
        k = max(1, math.ceil(top_fraction * flat.size))
        return float(np.partition(flat, flat.size - k)[flat.size - k :].mean())
    raise ValueError(f"unknown pixel reduction {reduction!r} (known: {', '.join(PIXEL_REDUCTIONS)})")


def reduce_frames(values: Sequence[float], reduction: FrameReduction = "mean") -> float:
    """One number per clip from one number per frame (or window): "mean" or "max"."""
    array = np.asarray(values, dtype=np.float64)
    assert array.size > 0
    if reduction == "mean":
        return float(array.mean())
    if reduction == "max":
        return float(array.max())
    raise ValueError(f"unknown frame reduction {reduction!r} (known: {', '.join(FRAME_REDUCTIONS)})")


def resize_nearest(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """H×W -> size (h, w) by nearest-neighbour sampling at pixel centres (any dtype; identity when equal)."""
    height, width = array.shape
    h, w = size
    if (height, width) == (h, w):
        return array
    rows = np.minimum(((np.arange(h) + 0.5) * height / h).astype(np.int64), height - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * width / w).astype(np.int64), width - 1)
    return array[rows[:, None], cols[None, :]]


def common_size(*arrays: np.ndarray) -> tuple[int, int]:
    """(H, W) at which maps of different sizes are compared: the smallest height and the smallest width."""
    return min(a.shape[0] for a in arrays), min(a.shape[1] for a in arrays)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU |a ∩ b| / |a ∪ b| of two H×W bool masks, compared at their `common_size`; 1.0 when both are empty
    (two proposals that both see nothing agree)."""
    size = common_size(a, b)
    a, b = resize_nearest(a, size), resize_nearest(b, size)
    union = np.logical_or(a, b).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(a, b).sum() / union)


def normalised_entropy(scores: Sequence[float] | np.ndarray) -> float:
    """Shannon entropy of scores ≥ 0 normalised to a distribution q_i = s_i / Σ s, divided by log(n): in [0, 1],
    0 for one dominant tag, 1 for equal scores. One score: 0. All scores 0 (nothing recognised): 1."""
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    n = s.size
    if n <= 1:
        return 0.0
    total = s.sum()
    if total <= 0.0:
        return 1.0
    q = s[s > 0] / total
    return float(np.clip(-(q * np.log(q)).sum() / math.log(n), 0.0, 1.0))


# --- scores ----------------------------------------------------------------------------------------------------


def pixel_entropy(
    evidence: ClipEvidence,
    *,
    reduction: PixelReduction = "mean",
    top_fraction: float = DEFAULT_TOP_FRACTION,
    frame_reduction: FrameReduction = "mean",
) -> float:
    """Entropy score: per frame, `binary_entropy` of the foreground probability map reduced over pixels by
    `reduction`, then reduced over frames by `frame_reduction`. In bits, in [0, 1].

    "mean" is the mean pixel entropy of baal's `Entropy` heuristic; "topk_mean" scores a clip by its most
    uncertain region, which a mean over mostly certain background dilutes. Needs `probabilities`.
    """
    if not evidence.probabilities:
        raise MissingEvidenceError(f"clip {evidence.key!r}: entropy needs per-frame probability maps")
    per_frame = [reduce_pixels(binary_entropy(p), reduction, top_fraction=top_fraction) for p in evidence.probabilities]
    return reduce_frames(per_frame, frame_reduction)


def mean_entropy(evidence: ClipEvidence, *, frame_reduction: FrameReduction = "mean") -> float:
    """`pixel_entropy` with the "mean" pixel reduction."""
    return pixel_entropy(evidence, reduction="mean", frame_reduction=frame_reduction)


def topk_entropy(
    evidence: ClipEvidence, *, top_fraction: float = DEFAULT_TOP_FRACTION, frame_reduction: FrameReduction = "mean"
) -> float:
    """`pixel_entropy` with the "topk_mean" pixel reduction (mean entropy of the `top_fraction` most uncertain
    pixels of each frame)."""
    return pixel_entropy(evidence, reduction="topk_mean", top_fraction=top_fraction, frame_reduction=frame_reduction)


def disagreement(evidence: ClipEvidence, *, frame_reduction: FrameReduction = "mean") -> float:
    """Teacher–student disagreement: per frame 1 − `mask_iou`(first proposal, second proposal), reduced over
    frames. 0 for identical proposals, 1 for disjoint ones. A two-member committee's vote disagreement (query by
    committee, Seung, Opper & Sompolinsky 1992), on masks. Needs both proposals (masks or probability maps)."""
    first, second = evidence.first_masks(), evidence.other_masks()
    if not first or not second:
        raise MissingEvidenceError(f"clip {evidence.key!r}: disagreement needs two proposals of its frames")
    return reduce_frames([1.0 - mask_iou(a, b) for a, b in zip(first, second, strict=True)], frame_reduction)


def temporal_inconsistency(
    evidence: ClipEvidence, *, mode: TemporalMode = "iou", frame_reduction: FrameReduction = "mean"
) -> float:
    """Temporal inconsistency of the first proposal across consecutive frames t, t+1, reduced over the T − 1 pairs:
    mode "iou": 1 − `mask_iou`(mask_t, mask_t+1); mode "probability": mean |p_t − p_t+1| over pixels (maps at their
    `common_size`). A sounding object seldom jumps between frames, so a proposal that does is likely wrong (the
    neighbouring frame acts as a second committee member). 0 for a clip of one frame. In [0, 1]."""
    if mode == "iou":
        frames = evidence.first_masks()
    elif mode == "probability":
        frames = evidence.probabilities
    else:
        raise ValueError(f"unknown temporal mode {mode!r} (known: {', '.join(TEMPORAL_MODES)})")
    if not frames:
        what = "masks or probability maps" if mode == "iou" else "probability maps"
        raise MissingEvidenceError(f"clip {evidence.key!r}: temporal inconsistency needs per-frame {what}")
    if len(frames) < 2:
        return 0.0
    changes = []
    for a, b in zip(frames[:-1], frames[1:], strict=True):
        if mode == "iou":
            changes.append(1.0 - mask_iou(a, b))
        else:
            size = common_size(a, b)
            changes.append(float(np.abs(resize_nearest(a, size) - resize_nearest(b, size)).mean()))
    return reduce_frames(changes, frame_reduction)


def audio_tag_entropy(evidence: ClipEvidence, *, frame_reduction: FrameReduction = "mean") -> float:
    """Audio-tag entropy: per audio window, `normalised_entropy` of its top tag scores (normalised to sum to 1),
    reduced over windows. High when the tagger cannot tell what sounds, so the prompts (and masks) built from its
    tags are guesses. In [0, 1]. Needs `audio_tags` with at least one window."""
    if not evidence.audio_tags:
        raise MissingEvidenceError(f"clip {evidence.key!r}: audio-tag entropy needs the audio tags of its windows")
    return reduce_frames([normalised_entropy(window) for window in evidence.audio_tags], frame_reduction)


def random_score(key: Key, *, seed: int = 0) -> float:
    """Uniform in [0, 1), a function of (seed, key) only (BLAKE2b of both): the random baseline, reproducible per
    seed and independent of the order in which clips are scored."""
    key = key.item() if isinstance(key, np.generic) else key  # numpy 7 and 7 draw alike
    digest = hashlib.blake2b(f"{seed}\x1f{key!r}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def combine(values: Mapping[str, float], weights: Mapping[str, float]) -> tuple[float, dict[str, TermScore], str]:
    """Weighted combination of term values in [0, 1]: score = Σ_i w_i·v_i / Σ_i w_i over the terms in `values`
    with a weight (a weighted mean, so the score stays in [0, 1]). Term i contributes c_i = w_i·v_i / Σ w, hence
    Σ c_i = score. Returns (score, terms by name, top_term): the term with the largest contribution (ties: the
    larger weight, then the name). Raises ValueError when no term has a positive weight."""
    used = {name: float(weights[name]) for name in sorted(values) if name in weights}
    total = sum(used.values())
    if total <= 0.0:
        raise ValueError(f"no term with a positive weight among {sorted(values)}")
    terms = {
        name: TermScore(value=float(values[name]), weight=w, contribution=w * float(values[name]) / total)
        for name, w in used.items()
        if w > 0.0
    }
    score = float(sum(t.contribution for t in terms.values()))
    top = min(terms, key=lambda name: (-terms[name].contribution, -terms[name].weight, name))
    return score, terms, top
