"""Strategies by name: defaults, validated settings, scoring a clip with one."""

from __future__ import annotations

import numpy as np
import pytest

from ml_backend.acquisition.registry import (
    DEFAULT_COMBINED_WEIGHTS,
    STRATEGY_NAMES,
    get_strategy,
    score_evidence,
    strategy_from_dict,
)
from ml_backend.acquisition.scores import MissingEvidenceError
from ml_backend.acquisition.types import ClipEvidence
from ml_backend.foundation.config import ConfigError


def clip(key="c1", **overrides) -> ClipEvidence:
    mask = np.zeros((16, 16), dtype=bool)
    mask[4:12, 4:12] = True
    moved = np.roll(mask, 4, axis=1)
    fields = {
        "probabilities": [np.where(mask, 0.6, 0.02).astype(np.float32), np.where(moved, 0.9, 0.05).astype(np.float32)],
        "second_masks": [mask, mask],
        "audio_tags": [[0.5, 0.4, 0.1], [0.9, 0.05, 0.05]],
    }
    fields.update(overrides)
    return ClipEvidence(key=key, **fields)


def test_every_named_strategy_scores_a_clip_in_zero_one():
    for name in STRATEGY_NAMES:
        result = score_evidence(clip(), get_strategy(name))
        assert 0.0 <= result.score <= 1.0
        assert result.strategy == name
        assert result.top_term in result.terms


def test_combined_score_is_the_sum_of_its_contributions_and_names_the_largest():
    result = score_evidence(clip(), get_strategy("combined"))
    assert set(result.terms) == set(DEFAULT_COMBINED_WEIGHTS)
    assert sum(t.contribution for t in result.terms.values()) == pytest.approx(result.score)
    largest = max(result.terms.values(), key=lambda t: t.contribution)
    assert result.terms[result.top_term] == largest
    for name, term in result.terms.items():  # each term alone gives the same value
        assert term.value == pytest.approx(score_evidence(clip(), get_strategy(name)).score)


def test_combined_leaves_out_terms_without_evidence_and_renormalises():
    no_student = clip(second_masks=None, audio_tags=None)
    result = score_evidence(no_student, get_strategy("combined"))
    assert result.missing == ("audio_entropy", "disagreement")
    assert set(result.terms) == {"entropy", "topk_entropy", "temporal"}
    assert sum(t.contribution for t in result.terms.values()) == pytest.approx(result.score)
    with pytest.raises(MissingEvidenceError, match="second proposal|two proposals"):
        score_evidence(no_student, get_strategy("disagreement"))
    with pytest.raises(MissingEvidenceError, match="no evidence for any"):
        score_evidence(ClipEvidence(key="empty"), get_strategy("combined"))


def test_custom_weights_change_the_top_term():
    only_audio = strategy_from_dict({"name": "combined", "weights": {"audio_entropy": 1.0, "entropy": 0.0}})
    result = score_evidence(clip(), only_audio)
    assert result.top_term == "audio_entropy" and set(result.terms) == {"audio_entropy"}


def test_random_strategy_is_deterministic_per_seed():
    keys = [f"clip-{i}" for i in range(20)]
    seed1 = strategy_from_dict({"name": "random", "seed": 1})
    first = [score_evidence(ClipEvidence(key=k), seed1).score for k in keys]
    assert first == [score_evidence(ClipEvidence(key=k), seed1).score for k in reversed(keys)][::-1]
    seed2 = strategy_from_dict({"name": "random", "seed": 2})
    assert first != [score_evidence(ClipEvidence(key=k), seed2).score for k in keys]


def test_settings_round_trip_through_a_dict():
    strategy = strategy_from_dict(
        {"name": "combined", "weights": {"temporal": 2.0}, "frame_reduction": "max", "min_distance": 0.1}
    )
    assert strategy_from_dict(strategy.to_dict()) == strategy
    assert strategy_from_dict("topk_entropy") == get_strategy("topk_entropy")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "uncertainty"}, "acquisition.name must be one of random, entropy"),
        ({}, "acquisition.name is required"),
        ({"name": "combined", "weights": {"temporal": -1}}, "acquisition.weights.temporal must be a number ≥ 0"),
        ({"name": "combined", "weights": {"colour": 1}}, "acquisition.weights.colour is not a term"),
        ({"name": "combined", "weights": {"temporal": 0}}, "acquisition.weights must give at least one term"),
        ({"name": "entropy", "weights": {"temporal": 1}}, "acquisition.weights applies to the combined strategy only"),
        ({"name": "topk_entropy", "top_fraction": 0}, r"acquisition.top_fraction must be a number in \(0, 1\]"),
        ({"name": "entropy", "frame_reduction": "median"}, "acquisition.frame_reduction must be one of mean, max"),
        ({"name": "temporal", "temporal_mode": "flow"}, "acquisition.temporal_mode must be one of iou, probability"),
        ({"name": "random", "seed": "7"}, "acquisition.seed must be an integer"),
        ({"name": "entropy", "diverse": "yes"}, "acquisition.diverse must be true or false"),
        ({"name": "entropy", "min_distance": -0.5}, "acquisition.min_distance must be null or a number ≥ 0"),
        ({"name": "entropy", "batch": 10}, "acquisition.batch is not an acquisition setting"),
    ],
)
def test_invalid_settings_are_refused_naming_the_setting(data, message):
    with pytest.raises(ConfigError, match=message):
        strategy_from_dict(data)


def test_every_strategy_reads_back_what_it_writes():
    for name in STRATEGY_NAMES:
        strategy = strategy_from_dict({"name": name})
        assert strategy_from_dict(strategy.to_dict()) == strategy
