"""Batch selection from per-clip scores (and clip embeddings): which clips to label next.

Scoring is `scores.py`; this module only chooses. Every function is deterministic: ties are broken by key
(ascending), so keys of one call must be of one sortable kind (all ints or all strings).

Distances between clip embeddings are Euclidean between L2-normalised vectors (the chord distance,
√(2 − 2·cos), in [0, 2]), so the scale of an embedding does not matter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ml_backend.acquisition.types import Key

DEFAULT_RELATIVE_DISTANCE = 0.25  # near-duplicate: closer than a quarter of the median pairwise distance
DUPLICATE_DISTANCE = 0.05  # ... or closer than this (cos ≥ 0.99875) whatever the pool: the same picture
_MAX_MEDIAN_SAMPLE = 2000  # candidates (best scores first) used to estimate the median pairwise distance


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"k must be an integer ≥ 0, not {k!r}")


def ranked(scores: Mapping[Key, float]) -> list[Key]:
    """All keys, best score first; equal scores in key order."""
    for key, value in scores.items():
        if not np.isfinite(value):
            raise ValueError(f"score of {key!r} must be a finite number, not {value!r}")
    return sorted(scores, key=lambda key: (-float(scores[key]), key))


def top_k(scores: Mapping[Key, float], k: int) -> list[Key]:
    """The k keys with the highest scores, best first (ties: by key)."""
    _check_k(k)
    return ranked(scores)[:k]


def normalised_embeddings(embeddings: Mapping[Key, Sequence[float] | np.ndarray], keys: Sequence[Key]) -> np.ndarray:
    """len(keys)×D float64 matrix of the keys' embeddings, each scaled to unit L2 norm (zero vectors stay zero).
    Raises ValueError for a missing key or vectors of different lengths."""
    if not keys:
        return np.zeros((0, 0))
    missing = [key for key in keys if key not in embeddings]
    if missing:
        raise ValueError(f"no embedding for {missing[:5]!r}")
    rows = [np.asarray(embeddings[key], dtype=np.float64).reshape(-1) for key in keys]
    if len({row.size for row in rows}) != 1:
        raise ValueError("clip embeddings must all have the same length")
    matrix = np.stack(rows)
    if not np.all(np.isfinite(matrix)):
        raise ValueError("clip embeddings must hold finite numbers")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def _distances(points: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Euclidean distance of each row of `points` (N×D) to `centre` (D,)."""
    return np.sqrt(np.maximum(((points - centre) ** 2).sum(axis=1), 0.0))


def k_center_greedy(
    embeddings: Mapping[Key, Sequence[float] | np.ndarray],
    k: int,
    *,
    already_selected: Iterable[Key] = (),
    scores: Mapping[Key, float] | None = None,
) -> list[Key]:
    """Greedy k-center (Sener & Savarese, "Active Learning for Convolutional Neural Networks: A Core-Set
    Approach", ICLR 2018, Algorithm 1): repeatedly pick the candidate farthest from its nearest centre, where the
    centres are `already_selected` (e.g. the labelled clips; not picked again) and the picks so far; a
    2-approximation of the k-center (minimax cover) problem.

    With no centre to start from, the first pick is the best-scored candidate when `scores` are given, else the
    candidate closest to the mean embedding. Ties: by key. Returns up to k keys in pick order; identical
    embeddings are picked only once every distinct one is.
    """
    _check_k(k)
    selected = set(already_selected)
    candidates = sorted(key for key in embeddings if key not in selected)
    if k == 0 or not candidates:
        return []
    points = normalised_embeddings(embeddings, candidates)
    centres = [key for key in sorted(selected) if key in embeddings]
    nearest = np.full(len(candidates), np.inf)
    if centres:
        for centre in normalised_embeddings(embeddings, centres):
            np.minimum(nearest, _distances(points, centre), out=nearest)
    picks: list[int] = []
    taken = np.zeros(len(candidates), dtype=bool)
    while len(picks) < min(k, len(candidates)):
        if not picks and not centres:
            if scores is not None:
                first = candidates.index(ranked({key: scores[key] for key in candidates})[0])
            else:
                first = int(np.argmin(_distances(points, points.mean(axis=0))))
            index = first
        else:
            index = int(np.argmax(np.where(taken, -np.inf, nearest)))  # first maximum: the smallest key
        picks.append(index)
        taken[index] = True
        np.minimum(nearest, _distances(points, points[index]), out=nearest)
    return [candidates[i] for i in picks]


@dataclass(frozen=True)
class Selection:
    """A chosen batch. keys: in pick order. near_duplicates: each candidate skipped for being too close to a
    clip already in the batch (or already labelled) -> that clip. min_distance: the threshold that was used."""

    keys: list[Key]
    near_duplicates: dict[Key, Key] = field(default_factory=dict)
    min_distance: float = 0.0


def score_weighted_diverse(
    scores: Mapping[Key, float],
    embeddings: Mapping[Key, Sequence[float] | np.ndarray],
    k: int,
    *,
    min_distance: float | None = None,
    relative_distance: float = DEFAULT_RELATIVE_DISTANCE,
    already_selected: Iterable[Key] = (),
    fill: bool = False,
) -> Selection:
    """Score first, diversity as a constraint: walk the candidates from the best score down and take each one
    unless its embedding lies within `min_distance` (≤) of a clip already taken or `already_selected` (then it is
    a near-duplicate and skipped), until k are taken. So a batch is not k seconds of the same video, while the
    most informative clip is always picked first (the "most uncertain, then representative" order of Yang et al.,
    "Suggestive Annotation", MICCAI 2017, with a distance threshold in place of their set cover).

    min_distance: in the chord distance of normalised embeddings (0..2); None: `relative_distance` × the median
    pairwise distance among the (best-scored, at most 2000) candidates, so the threshold adapts to how spread the
    embeddings are, but at least `DUPLICATE_DISTANCE` (so a pool of near-copies is still seen as one). Candidates without an embedding are never
    near-duplicates. Fewer than k keys come back when fewer than k candidates are mutually apart, unless `fill`:
    then the skipped ones complete the batch, farthest from the batch first (k-center greedy order).
    """
    _check_k(k)
    if min_distance is not None and (not np.isfinite(min_distance) or min_distance < 0):
        raise ValueError(f"min_distance must be a number ≥ 0, not {min_distance!r}")
    if not relative_distance >= 0:
        raise ValueError(f"relative_distance must be a number ≥ 0, not {relative_distance!r}")
    labelled = set(already_selected)
    order = [key for key in ranked(scores) if key not in labelled]
    embedded = [key for key in order if key in embeddings]
    known = embedded + sorted(key for key in labelled if key in embeddings)
    points = dict(zip(known, normalised_embeddings(embeddings, known), strict=True)) if known else {}
    if min_distance is None:
        sample = [points[key] for key in embedded[:_MAX_MEDIAN_SAMPLE]]
        relative = relative_distance * _median_pairwise(np.stack(sample) if sample else None)
        min_distance = max(DUPLICATE_DISTANCE, relative)
    taken: list[Key] = []
    centres: list[Key] = [key for key in sorted(labelled) if key in points]
    skipped: dict[Key, Key] = {}
    for key in order:
        if len(taken) == k:
            break
        if key in points and centres:
            matrix = np.stack([points[c] for c in centres])
            distances = _distances(matrix, points[key])
            nearest = int(np.argmin(distances))
            if distances[nearest] <= min_distance:
                skipped[key] = centres[nearest]
                continue
        taken.append(key)
        if key in points:
            centres.append(key)
    if fill and len(taken) < k and skipped:
        extra = k_center_greedy(
            {key: points[key] for key in list(skipped) + centres}, k - len(taken), already_selected=centres
        )
        for key in extra:
            skipped.pop(key)
        taken.extend(extra)
    return Selection(keys=taken, near_duplicates=skipped, min_distance=float(min_distance))


def _median_pairwise(points: np.ndarray | None) -> float:
    """Median Euclidean distance over the distinct pairs of rows of N×D `points`; 0 for fewer than two rows."""
    if points is None or len(points) < 2:
        return 0.0
    squared = (points**2).sum(axis=1)
    d2 = np.maximum(squared[:, None] + squared[None, :] - 2.0 * points @ points.T, 0.0)
    upper = np.triu_indices(len(points), k=1)
    return float(np.median(np.sqrt(d2[upper])))
