"""Batch selection: a batch of clips to label is not the same few seconds of video twice."""

from __future__ import annotations

import numpy as np
import pytest

from ml_backend.acquisition.select import k_center_greedy, score_weighted_diverse, top_k


def pool() -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Six clips: "dup-a" and "dup-b" are the same seconds of one video (identical embedding, same score, the best);
    "near" is one second later (an embedding a hair away); the others are other videos, scored lower."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=16)
    embeddings = {
        "dup-a": base,
        "dup-b": base.copy(),
        "near": base + 1e-3 * rng.normal(size=16),
        "other-1": rng.normal(size=16),
        "other-2": rng.normal(size=16),
        "other-3": rng.normal(size=16),
    }
    scores = {"dup-a": 0.9, "dup-b": 0.9, "near": 0.85, "other-1": 0.5, "other-2": 0.4, "other-3": 0.3}
    return scores, embeddings


def test_top_k_alone_picks_both_identical_clips():
    scores, _ = pool()
    assert top_k(scores, 3) == ["dup-a", "dup-b", "near"]  # ties broken by key


def test_identical_and_near_duplicate_clips_are_not_both_picked_by_the_diverse_batch():
    scores, embeddings = pool()
    selection = score_weighted_diverse(scores, embeddings, 3)
    assert selection.keys == ["dup-a", "other-1", "other-2"]  # the best first, then the best distinct ones
    assert selection.near_duplicates == {"dup-b": "dup-a", "near": "dup-a"}
    assert selection.min_distance > 0


def test_diverse_batch_with_an_absolute_threshold_and_already_labelled_clips():
    scores, embeddings = pool()
    labelled = {"labelled": embeddings["other-1"] * 2.0}  # the same view as other-1 (scale does not matter)
    selection = score_weighted_diverse(
        scores, {**embeddings, **labelled}, 2, min_distance=0.01, already_selected=["labelled"]
    )
    assert selection.keys == ["dup-a", "other-2"]
    assert selection.near_duplicates["other-1"] == "labelled"


def test_diverse_batch_returns_fewer_clips_unless_asked_to_fill():
    scores, embeddings = pool()
    only_copies = {key: scores[key] for key in ("dup-a", "dup-b", "near")}
    assert score_weighted_diverse(only_copies, embeddings, 3).keys == ["dup-a"]
    assert score_weighted_diverse(only_copies, embeddings, 3, fill=True).keys == ["dup-a", "near", "dup-b"]


def test_clips_without_embeddings_are_never_near_duplicates():
    scores, embeddings = pool()
    del embeddings["dup-b"]
    assert score_weighted_diverse(scores, embeddings, 2).keys == ["dup-a", "dup-b"]


def test_k_center_greedy_covers_the_pool_before_repeating_a_clip():
    _, embeddings = pool()
    picked = k_center_greedy(embeddings, 4)
    assert len(picked) == 4 and len({"dup-a", "dup-b", "near"} & set(picked)) == 1
    assert picked == k_center_greedy(embeddings, 4)  # deterministic
    assert set(k_center_greedy(embeddings, 6)) == set(embeddings)
    # the labelled set are the first centres: nothing near them is picked while other clips remain
    after = k_center_greedy(embeddings, 3, already_selected=["dup-a"])
    assert set(after) == {"other-1", "other-2", "other-3"}


def test_k_center_greedy_starts_from_the_best_score_when_given():
    scores, embeddings = pool()
    assert k_center_greedy(embeddings, 1, scores=scores) == ["dup-a"]


def test_selection_ties_are_broken_by_key():
    scores = {3: 0.5, 1: 0.5, 2: 0.5}
    assert top_k(scores, 3) == [1, 2, 3]
    same = {key: np.ones(4) for key in scores}
    assert score_weighted_diverse(scores, same, 3).keys == [1]


def test_bad_selection_arguments_are_refused():
    scores, embeddings = pool()
    with pytest.raises(ValueError, match="k must be"):
        top_k(scores, -1)
    with pytest.raises(ValueError, match="finite"):
        top_k({"a": float("nan")}, 1)
    with pytest.raises(ValueError, match="same length"):
        k_center_greedy({"a": np.ones(3), "b": np.ones(4)}, 1)
    with pytest.raises(ValueError, match="min_distance"):
        score_weighted_diverse(scores, embeddings, 2, min_distance=-1.0)
