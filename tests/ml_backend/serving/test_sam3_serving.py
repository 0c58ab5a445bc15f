"""The server's entry point (`ml_backend.serving.propose_stored_clip`) proposing with SAM 3 (`models.segmenter`) on a
stored clip: the same result format the server stores (`server.annotations.models.Proposal`), and the same proposer
identity `model_info` announces before anything is loaded."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ml_backend import serving
from ml_backend.media.source import path_opener
from ml_backend.media.synth import make_clips
from ml_backend.media.video import write_wav

FRAMES = 6


def store_ms3_clip(folder: Path) -> tuple[list[serving.StoredFrame], object, object]:
    """A synthetic MS3 clip stored as ingest stores one: PNG frames and a mono 16-bit WAV; returns the StoredFrames,
    the WAV's opener and the clip's spec."""
    (spec,) = make_clips(clips=1, seed=5, layout="ms3", frames=FRAMES, size=64)
    folder.mkdir(parents=True)
    frames = []
    for k in range(FRAMES):
        Image.fromarray(spec.frame(k)).save(folder / f"{k}.png")
        frames.append(serving.StoredFrame(k, k + 0.5, path_opener(folder / f"{k}.png")))
    audio = np.round(spec.audio(sample_rate=16_000) * 32767).astype(np.int16)
    write_wav(folder / "audio.wav", audio, 16_000)
    return frames, path_opener(folder / "audio.wav"), spec


def test_the_server_s_entry_point_proposes_with_sam3_on_a_stored_clip(tmp_path, tiny_sam3_models, tiny_cache):
    frames, audio, spec = store_ms3_clip(tmp_path / "clip")
    written: dict[str, bytes] = {}

    def write_file(name: str, data: bytes) -> str:
        written[name] = data
        return f"records/{name}"

    result = serving.propose_stored_clip(
        frames=frames[::-1],
        audio=audio,
        fps=1.0,
        name="ms3.mp4",
        config_path=tiny_sam3_models,
        chunk_frames=4,
        cache=tiny_cache,
        write_file=write_file,
    )
    info = serving.model_info(tiny_sam3_models)
    assert result["model"] == {k: info[k] for k in ("kind", "name", "config_hash", "reason")}
    assert info["kind"] == "openavs" and info["models"]["segmenter"] == "sam3" and "grounding" not in info["models"]
    assert "segmenter=sam3" in info["name"] and "grounding" not in info["name"]

    assert [f["frame_index"] for f in result["frames"]] == list(range(FRAMES))
    proposed = [f for f in result["frames"] if f["instances"]]
    assert proposed and len(proposed) < FRAMES  # the silent window got none
    for frame in result["frames"]:
        assert set(frame) == {"frame_index", "timestamp", "instances", "provenance", "probability_map"}
        assert {"rms", "silent", "audio_tags", "nouns"} <= set(frame["provenance"])
        assert frame["probability_map"]["path"].startswith("records/")
        for instance in frame["instances"]:
            assert set(instance) == {"label", "score", "confidence", "mask", "area", "provenance"}
            assert instance["mask"]["size"] == [64, 64] and isinstance(instance["mask"]["counts"], str)
            assert instance["area"] > 0 and 0 < instance["score"] <= 1
            provenance = instance["provenance"]
            assert provenance["concept"] == instance["label"] and provenance["segmenter"]["model"] == "sam3"
            assert provenance["boxes"][0]["score"] == instance["score"]
    json.dumps(result)  # what the server stores is plain JSON
    assert result["evidence"]["visual_embedding"]["kind"] == "sam3-mean"
    png = next(data for name, data in written.items() if name.endswith(".png"))
    assert Image.open(io.BytesIO(png)).size == (64, 64)


def test_a_missing_sam3_model_means_the_baseline_naming_the_setting(tmp_path, tiny_sam3_models):
    data = json.loads(tiny_sam3_models.read_text())
    data["models"]["segmenter"]["path"] = str(tmp_path / "no-sam3")
    config = tiny_sam3_models.with_name("config.missing-sam3.json")
    config.write_text(json.dumps(data))
    info = serving.model_info(config)
    assert info["kind"] == "baseline"
    assert f"models.segmenter.path = '{tmp_path / 'no-sam3'}': no such model directory" in info["reason"]


def test_sam_clicks_without_models_sam_say_why(tiny_sam3_models):
    from ml_backend.serving.interactive import SamUnavailableError, sam_session

    data = json.loads(tiny_sam3_models.read_text())
    del data["models"]["sam"]  # SAM 3 alone: the proposer needs nothing else
    config = tiny_sam3_models.with_name("config.sam3-only.json")
    config.write_text(json.dumps(data))
    assert serving.model_info(config)["kind"] == "openavs"
    with pytest.raises(SamUnavailableError, match=r"models\.sam is not configured: SAM clicks need a SAM checkpoint"):
        sam_session(config)
