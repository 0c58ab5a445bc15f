"""The server's entry point (ml_backend.serving): plain data out, models loaded once per process."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from ml_backend import serving
from ml_backend.foundation.registry import ModelCache, model_registry
from ml_backend.media.synth import make_clips, write_mp4
from tests.media_files import make_video


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Two synthetic clips with sound (3 s and 2 s, 64×64) and a video without an audio track."""
    folder = tmp_path_factory.mktemp("videos")
    (first,) = make_clips(clips=1, seed=11, layout="s4", frames=3, size=64)
    (second,) = make_clips(clips=1, seed=12, layout="s4", frames=2, size=64)
    return {
        "a": write_mp4(folder / "a.mp4", first),
        "b": write_mp4(folder / "b.mp4", second),
        "mute": make_video(folder / "mute.mp4", seconds=2.0),
    }


@pytest.fixture
def counting_cache():
    """A fresh model cache whose loaders (the real ones) count their calls."""
    calls: dict[str, int] = {}

    def counted(kind):
        def load(settings, context):
            calls[kind] = calls.get(kind, 0) + 1
            return model_registry[kind](settings, context)

        return load

    cache = ModelCache({kind: counted(kind) for kind in model_registry})
    return cache, calls


def test_a_proposal_is_json_with_rle_masks_and_provenance(videos, tiny_models, tiny_cache):
    result = serving.propose_clip(
        video_path=videos["a"], config_path=tiny_models, labels=["dog", "man"], cache=tiny_cache
    )
    assert json.loads(json.dumps(result)) == result  # plain JSON types only
    assert result["model"]["kind"] == "openavs" and result["model"]["reason"] is None
    assert result["model"]["name"] == "openavs(audio_tagging=clap, llm=llm, grounding=grounding_dino, sam=tiny_sam)"
    assert result["labels"] == ["dog", "man"]
    assert result["clip"]["num_frames"] == 3 and result["clip"]["size"] == [64, 64]
    assert [f["frame_index"] for f in result["frames"]] == [0, 1, 2]
    for frame in result["frames"]:
        assert frame["timestamp"] == pytest.approx(frame["frame_index"] + 0.94, abs=0.05)
        (instance,) = frame["instances"]
        mask = serving.rle_to_mask(instance["mask"])
        assert instance["mask"]["size"] == [64, 64] and isinstance(instance["mask"]["counts"], str)
        assert mask.shape == (64, 64) and mask.sum() == instance["area"] > 0
        assert instance["label"] == "dog" and instance["provenance"]["translator"] == "llm"
        assert instance["provenance"]["boxes"] and instance["provenance"]["models"]["sam"] == "tiny_sam"
    assert result["meta"]["translation"]["nouns"] == ["dog"]


def test_the_config_hash_is_sha256_of_the_canonical_configuration(tiny_models, tiny_config):
    info = serving.model_info(tiny_models)
    canonical = json.dumps(tiny_config.to_dict(), sort_keys=True, separators=(",", ":"))
    assert info["config_hash"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert info["kind"] == "openavs" and info["reason"] is None
    assert info["models"] == {
        "audio_tagging": "clap",
        "llm": "llm",
        "grounding": "grounding_dino",
        "sam": "tiny_sam",
        "clip": None,
    }


def test_models_load_once_per_process_over_two_clips(videos, tiny_models, counting_cache):
    cache, calls = counting_cache
    first = serving.propose_clip(video_path=videos["a"], config_path=tiny_models, cache=cache)
    second = serving.propose_clip(video_path=videos["b"], config_path=tiny_models, cache=cache)
    assert calls == {"clap": 1, "grounding": 1, "sam": 1, "llm": 1}  # CLIP is configured but not used
    assert len(first["frames"]) == 3 and len(second["frames"]) == 2
    assert first["model"] == second["model"]


def test_without_a_configuration_the_baseline_runs_and_says_why(videos):
    result = serving.propose_clip(video_path=videos["a"])
    assert result["model"]["kind"] == "baseline" and result["model"]["name"] == "synchrony-baseline"
    assert "no models are configured" in result["model"]["reason"]
    assert len(result["frames"]) == 3
    assert serving.model_info(None)["kind"] == "baseline"


def test_models_that_fail_to_load_leave_the_baseline_running_with_the_reason(videos, tmp_path, tiny_models):
    config = json.loads(tiny_models.read_text())
    config["models"]["clap"]["path"] = str(tmp_path / "missing-clap")
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    result = serving.propose_clip(video_path=videos["a"], config_path=path, cache=ModelCache())
    assert result["model"]["kind"] == "baseline"
    assert f"models.clap.path = '{tmp_path / 'missing-clap'}': no such model directory" in result["model"]["reason"]


def test_an_invalid_configuration_is_an_error(videos, tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"models": {"clap": {"path": "x"}}}')
    with pytest.raises(serving.ConfigError, match="models.grounding: required setting is missing"):
        serving.propose_clip(video_path=videos["a"], config_path=path)


def test_unusable_videos_raise_an_error_naming_the_file(videos, tmp_path, tiny_models, tiny_cache):
    with pytest.raises(serving.ClipInputError, match=rf"^{videos['mute']}: The video has no audio track"):
        serving.propose_clip(video_path=videos["mute"], config_path=tiny_models, cache=tiny_cache)
    with pytest.raises(serving.ClipInputError, match="no audio track"):  # the baseline refuses it too
        serving.propose_clip(video_path=videos["mute"])
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    with pytest.raises(serving.MediaError, match=rf"^{junk}: It could not be opened"):
        serving.propose_clip(video_path=junk)


def test_rle_round_trip():
    mask = np.zeros((5, 7), bool)
    mask[1:4, 2:6] = True
    rle = serving.mask_to_rle(mask)
    assert rle["size"] == [5, 7] and np.array_equal(serving.rle_to_mask(rle), mask)
