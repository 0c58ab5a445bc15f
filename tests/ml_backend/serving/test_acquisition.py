"""The server's acquisition entry points: plain data (RLE masks, 8-bit maps, tag dicts) in, plain data out."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from ml_backend import serving
from ml_backend.serving.encoding import mask_to_rle


def stored_clip(key: int, *, shift: int = 0) -> dict:
    """A clip as the server keeps it: 8-bit probability maps at half resolution, RLE masks, tags as dicts."""
    mask = np.zeros((32, 32), dtype=bool)
    mask[8:24, 8 + shift : 24 + shift] = True
    probability = np.where(mask, 200, 120).astype(np.uint8)[::2, ::2]
    return {
        "key": key,
        "probabilities": [probability, probability],
        "masks": [mask_to_rle(mask), mask_to_rle(mask)],
        "second_masks": [mask_to_rle(np.roll(mask, 4, axis=0))] * 2,
        "audio_tags": [[{"label": "dog", "score": 0.6}, {"label": "cat", "score": 0.3}]] * 2,
        "embedding": [1.0, 0.0, float(shift)],
    }


def test_score_clip_returns_the_score_and_why():
    result = serving.score_clip(stored_clip(7), "combined")
    assert set(result) == {"key", "score", "strategy", "terms", "top_term", "missing"}
    assert result["key"] == 7 and result["strategy"] == "combined" and result["missing"] == []
    assert sum(t["contribution"] for t in result["terms"].values()) == pytest.approx(result["score"])
    assert result["top_term"] == max(result["terms"], key=lambda name: result["terms"][name]["contribution"])
    json.dumps(result)  # storable as is
    assert serving.score_clip(stored_clip(7), {"name": "disagreement"})["score"] > 0


def test_score_clip_refuses_bad_input_with_a_clear_message():
    with pytest.raises(serving.ConfigError, match="acquisition.name"):
        serving.score_clip(stored_clip(1), "bald")
    with pytest.raises(ValueError, match="unknown evidence field"):
        serving.score_clip({**stored_clip(1), "frames": []}, "entropy")
    with pytest.raises(serving.MissingEvidenceError, match="two proposals"):
        serving.score_clip({"key": 1, "masks": stored_clip(1)["masks"]}, "disagreement")


def test_select_batch_skips_the_same_seconds_of_video():
    clips = [stored_clip(1), stored_clip(2), stored_clip(3, shift=6)]
    scored = {c["key"]: serving.score_clip(c, "combined")["score"] for c in clips}
    assert len(set(scored.values())) == 1  # equally informative: ties go by key
    embeddings = {c["key"]: c["embedding"] for c in clips}  # clips 1 and 2 are identical
    diverse = serving.select_batch(scored, 2, embeddings=embeddings)
    assert diverse["method"] == "diverse" and diverse["keys"] == [1, 3]
    assert diverse["near_duplicates"] == [{"key": 2, "duplicate_of": 1}]
    by_score = serving.select_batch(scored, 2, embeddings=embeddings, strategy={"name": "combined", "diverse": False})
    assert by_score["method"] == "top_k" and by_score["keys"] == [1, 2]  # score alone picks both copies
    no_embeddings = serving.select_batch(scored, 2)
    assert no_embeddings["method"] == "top_k" and "no clip embeddings" in no_embeddings["reason"]
    assert serving.select_batch(scored, 3, embeddings=embeddings, method="k_center")["keys"] == [1, 3, 2]
    assert serving.select_batch(scored, 2, already_selected=[1])["keys"] == [2, 3]
    json.dumps(diverse)


def test_strategies_are_listed_and_checked():
    strategies = serving.acquisition_strategies()
    assert {"random", "entropy", "topk_entropy", "disagreement", "temporal", "audio_entropy", "combined"} == set(
        strategies
    )
    assert serving.check_strategy({"name": "random", "seed": 3})["seed"] == 3
    with pytest.raises(serving.ConfigError, match="acquisition.weights.temporal"):
        serving.check_strategy({"name": "combined", "weights": {"temporal": "high"}})


def test_scoring_imports_no_torch():
    """The web process may score and select: these entry points load numpy only."""
    code = (
        "import sys; from ml_backend import serving; "
        "serving.score_clip({'key': 1, 'audio_tags': [[0.5, 0.5]]}, 'audio_entropy'); "
        "serving.select_batch({1: 0.5, 2: 0.4}, 1, embeddings={1: [1.0], 2: [1.0]}); "
        "print(sorted(m for m in ('torch', 'transformers', 'django') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
