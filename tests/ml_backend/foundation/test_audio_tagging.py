"""CLAP zero-shot audio tags (ml_backend.foundation.audio_tagging) on the tiny CLAP."""

from __future__ import annotations

import numpy as np
import pytest

from ml_backend.foundation.prompt_translation import audioset_vocabulary

VOCABULARY = ["Dog", "Bark", "Car", "Speech", "Guitar", "Silence"]


def windows(count: int, rate: int = 16_000) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [(0.1 * rng.standard_normal(rate)).astype(np.float32) for _ in range(count)]


@pytest.fixture
def passes(tiny):
    """Counts of the tiny CLAP's audio and text encoder forwards."""
    tagger = tiny("clap")
    counts = {"audio": 0, "text": 0}
    hooks = [
        tagger.model.audio_model.register_forward_hook(lambda *_: counts.__setitem__("audio", counts["audio"] + 1)),
        tagger.model.text_model.register_forward_hook(lambda *_: counts.__setitem__("text", counts["text"] + 1)),
    ]
    yield counts
    for hook in hooks:
        hook.remove()


def test_each_window_gets_its_top_k_tags_best_first(tiny):
    tags = tiny("clap").tag(windows(3), sample_rate=16_000, vocabulary=VOCABULARY, top_k=4)
    assert [t.frame_index for t in tags] == [0, 1, 2]
    for frame in tags:
        assert len(frame.tags) == 4 and {t.label for t in frame.tags} <= set(VOCABULARY)
        scores = [t.score for t in frame.tags]
        assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)


def test_a_clip_takes_one_audio_pass_and_the_vocabulary_is_embedded_once(tiny, passes):
    tagger = tiny("clap")
    vocabulary = [f"{label} {i}" for i, label in enumerate(VOCABULARY)]  # labels this test alone uses
    tagger.tag(windows(5), sample_rate=16_000, vocabulary=vocabulary)
    assert passes["audio"] == 1 and passes["text"] == 1
    tagger.tag(windows(5), sample_rate=16_000, vocabulary=vocabulary)
    assert passes["audio"] == 2 and passes["text"] == 1  # text embeddings come from the cache
    tagger.tag(windows(2), sample_rate=16_000, vocabulary=[*vocabulary, "a new project label"])
    assert passes["text"] == 2  # only the new label is embedded


def test_the_default_vocabulary_is_the_usable_audioset_classes():
    vocabulary = audioset_vocabulary()
    assert len(vocabulary) == 543 and len(set(vocabulary)) == 543
    assert "Dog" in vocabulary and "Bark" in vocabulary and "Human sounds" not in vocabulary  # abstract


def test_any_sample_rate_is_resampled_to_clap_s(tiny):
    tagger = tiny("clap")
    at_16k = tagger.embed_audio(windows(1, 16_000), sample_rate=16_000)
    at_48k = tagger.embed_audio(windows(1, 48_000), sample_rate=48_000)
    assert at_16k.shape == at_48k.shape == (1, tagger.model.config.projection_dim)
