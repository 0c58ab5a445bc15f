"""Acquisition for the server: score a clip, choose a batch. Plain data in, plain data out; imports no torch.

    score_clip(evidence, strategy="combined") -> {"key", "score", "strategy", "terms", "top_term", "missing"}
    select_batch(scores, k, *, embeddings=None, strategy="combined", method=None, already_selected=(), fill=False)
        -> {"keys", "method", "near_duplicates", "min_distance", "reason"}
    acquisition_strategies() -> {name: settings}
    check_strategy(data) -> settings

`evidence` is a `ClipEvidence` or a dict of the same fields (`ml_backend.acquisition.types`), where masks may be
COCO RLE dicts (as stored) and audio tags lists of scores or of `{"label", "score"}`. `strategy` is a name, a
settings dict (`ml_backend.acquisition.registry`) or a `Strategy`. Errors: `ConfigError` for invalid settings
(the message names the setting), `ValueError` for invalid evidence, `MissingEvidenceError` (a ValueError) when a
one-term strategy lacks its evidence (e.g. "disagreement" without a second proposal).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from typing import Any

import numpy as np

from ml_backend.acquisition.registry import STRATEGIES, Strategy, score_evidence, strategy_from_dict
from ml_backend.acquisition.select import k_center_greedy, score_weighted_diverse, top_k
from ml_backend.acquisition.types import ClipEvidence, Key

SELECTION_METHODS = ("top_k", "diverse", "k_center")


def _strategy(strategy: Strategy | Mapping[str, Any] | str) -> Strategy:
    return strategy if isinstance(strategy, Strategy) else strategy_from_dict(strategy)


def _mask(value: Any) -> np.ndarray:
    if isinstance(value, Mapping) and "counts" in value:
        from ml_backend.serving.encoding import rle_to_mask

        return rle_to_mask(dict(value))
    return np.asarray(value)


def _tag_scores(window: Any) -> list[float]:
    tags = getattr(window, "tags", window)  # ml_backend.types.AudioTags, or its list of tags
    return [float(t["score"] if isinstance(t, Mapping) else getattr(t, "score", t)) for t in tags]


def evidence_from_dict(data: Mapping[str, Any]) -> ClipEvidence:
    """A `ClipEvidence` from plain data: its field names as keys ("key" required); masks as arrays or COCO RLE;
    probability maps as arrays (uint8 or float) or nested lists; audio tags per window as scores or
    `{"label", "score"}` dicts. Raises ValueError naming a bad field."""
    known = [f.name for f in fields(ClipEvidence)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"unknown evidence field(s) {', '.join(unknown)} (known: {', '.join(known)})")
    if "key" not in data:
        raise ValueError("evidence needs a 'key' (the clip's identity)")

    def maps(name: str, convert) -> list[np.ndarray] | None:
        values = data.get(name)
        return None if values is None else [convert(v) for v in values]

    tags = data.get("audio_tags")
    return ClipEvidence(
        key=data["key"],
        probabilities=maps("probabilities", np.asarray),
        masks=maps("masks", _mask),
        second_probabilities=maps("second_probabilities", np.asarray),
        second_masks=maps("second_masks", _mask),
        audio_tags=None if tags is None else [_tag_scores(window) for window in tags],
        embedding=None if data.get("embedding") is None else np.asarray(data["embedding"], dtype=np.float32),
    )


def score_clip(
    evidence: ClipEvidence | Mapping[str, Any], strategy: Strategy | Mapping[str, Any] | str = "combined"
) -> dict[str, Any]:
    """A clip's acquisition score in [0, 1] (higher: review sooner) and why.

    Returns `{"key", "score": float, "strategy": name, "terms": {term: {"value", "weight", "contribution"}},
    "top_term": name of the largest contribution, "missing": [terms without evidence]}`; the contributions sum to
    the score.
    """
    chosen = _strategy(strategy)
    clip = evidence if isinstance(evidence, ClipEvidence) else evidence_from_dict(evidence)
    result = score_evidence(clip, chosen)
    return {
        "key": result.key,
        "score": result.score,
        "strategy": result.strategy,
        "terms": {
            name: {"value": term.value, "weight": term.weight, "contribution": term.contribution}
            for name, term in result.terms.items()
        },
        "top_term": result.top_term,
        "missing": list(result.missing),
    }


def select_batch(
    scores: Mapping[Key, float],
    k: int,
    *,
    embeddings: Mapping[Key, Sequence[float] | np.ndarray] | None = None,
    strategy: Strategy | Mapping[str, Any] | str = "combined",
    method: str | None = None,
    already_selected: Iterable[Key] = (),
    fill: bool = False,
) -> dict[str, Any]:
    """Up to k clips to label next, from their scores (`score_clip`'s "score") and, for diversity, embeddings.

    method: "top_k" (by score), "diverse" (by score, skipping near-duplicates of a picked or already-selected
    clip: `select.score_weighted_diverse`, with the strategy's min_distance / relative_distance) or "k_center"
    (k-center greedy on embeddings alone, among the scored clips that have one; scores only choose the first
    pick); None: "diverse" when the strategy
    says `diverse` and embeddings are given, else "top_k". already_selected: clips already labelled or queued
    (never picked; their embeddings count as picked). fill: complete a diverse batch with near-duplicates when
    fewer than k distinct clips remain.

    Returns `{"keys": [...] in pick order, "method": the method used, "near_duplicates": [{"key", "duplicate_of"}],
    "min_distance": the threshold used (None unless "diverse"), "reason": why "top_k" ran for a diverse strategy}`.
    """
    chosen = _strategy(strategy)
    if method is not None and method not in SELECTION_METHODS:
        raise ValueError(f"method must be one of {', '.join(SELECTION_METHODS)}, not {method!r}")
    labelled = list(already_selected)
    reason = ""
    if method is None:
        if not chosen.diverse:
            method = "top_k"
        elif not embeddings:
            method, reason = "top_k", "no clip embeddings: selected by score alone"
        else:
            method = "diverse"
    if method in ("diverse", "k_center") and not embeddings:
        raise ValueError(f"method {method!r} needs clip embeddings")
    if method == "top_k":
        excluded = set(labelled)
        remaining = {key: value for key, value in scores.items() if key not in excluded}
        return {
            "keys": top_k(remaining, k),
            "method": "top_k",
            "near_duplicates": [],
            "min_distance": None,
            "reason": reason,
        }
    assert embeddings is not None
    if method == "k_center":
        pool = {key: embeddings[key] for key in scores if key in embeddings}
        pool.update({key: embeddings[key] for key in labelled if key in embeddings})
        keys = k_center_greedy(pool, k, already_selected=labelled, scores=scores)
        return {"keys": keys, "method": "k_center", "near_duplicates": [], "min_distance": None, "reason": ""}
    selection = score_weighted_diverse(
        scores,
        embeddings,
        k,
        min_distance=chosen.min_distance,
        relative_distance=chosen.relative_distance,
        already_selected=labelled,
        fill=fill,
    )
    return {
        "keys": selection.keys,
        "method": "diverse",
        "near_duplicates": [{"key": key, "duplicate_of": near} for key, near in selection.near_duplicates.items()],
        "min_distance": selection.min_distance,
        "reason": "",
    }


def acquisition_strategies() -> dict[str, dict[str, Any]]:
    """Every strategy by name with its default settings (what a project may choose)."""
    return {name: strategy.to_dict() for name, strategy in STRATEGIES.items()}


def check_strategy(data: Mapping[str, Any] | str) -> dict[str, Any]:
    """Validate a strategy setting; returns it complete (defaults filled in). Raises ConfigError naming the
    setting."""
    return strategy_from_dict(data).to_dict()
