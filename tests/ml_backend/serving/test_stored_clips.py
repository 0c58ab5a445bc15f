"""Proposals from stored frames and audio (`ml_backend.serving.propose_stored_clip`): what the server calls for
every clip, with memory that does not grow with the clip's length."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ml_backend import serving
from ml_backend.media.clip import load_clip
from ml_backend.media.source import path_opener
from ml_backend.media.synth import make_clips, write_mp4
from ml_backend.media.video import write_wav
from ml_backend.serving.proposals import load_proposer

SIZE = 96


def write_stored_clip(folder: Path, frames: int) -> tuple[list[serving.StoredFrame], object]:
    """`frames` JPEG pictures (SIZE×SIZE: a red square swinging over a gradient) and a steady 440 Hz tone as a
    mono 16-bit WAV, as ingest stores a clip; returns the StoredFrames and the WAV's opener."""
    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    background = np.stack([80 + x, 90 + y // 2, 120 + 0 * x], axis=-1).astype(np.uint8)
    stored = []
    for k in range(frames):
        picture = background.copy()
        cx = int(SIZE / 2 + SIZE / 3 * np.sin(0.7 * k))
        picture[SIZE // 2 - 8 : SIZE // 2 + 8, cx - 8 : cx + 8] = (230, 40, 40)
        path = folder / f"{k:05d}.jpg"
        Image.fromarray(picture).save(path, quality=95)
        stored.append(serving.StoredFrame(k, k + 0.94, path_opener(path)))
    t = np.arange(frames * 16_000) / 16_000
    write_wav(folder / "audio.wav", (0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16), 16_000)
    return stored, path_opener(folder / "audio.wav")


def peak_traced_bytes(frames, audio) -> tuple[int, dict]:
    tracemalloc.start()
    try:
        result = serving.propose_stored_clip(frames=frames, audio=audio, fps=1.0, chunk_frames=8)
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def test_peak_memory_does_not_grow_with_the_clip(tmp_path):
    short = write_stored_clip(tmp_path / "short", 100)
    long = write_stored_clip(tmp_path / "long", 400)
    serving.propose_stored_clip(frames=short[0][:3], audio=short[1], fps=1.0)  # imports and caches, not measured
    peak_short, result_short = peak_traced_bytes(*short)
    peak_long, result_long = peak_traced_bytes(*long)

    assert len(result_long["frames"]) == 400 and result_long["clip"]["size"] == [SIZE, SIZE]
    found = sum(bool(f["instances"]) for f in result_long["frames"])
    assert found > 300  # the moving square is proposed on most frames: the clip was really worked through
    # Four times the frames, about the same peak (the per-frame RLE results are what grows) ...
    assert peak_long < 1.25 * peak_short, (peak_short, peak_long)
    # ... and far below the decoded clip (400 × 96×96×3 bytes = 11 MB, more with the change maps).
    assert peak_long < 0.5 * 400 * SIZE * SIZE * 3, peak_long


def test_a_stored_clip_gets_the_proposal_of_the_same_decoded_clip(tmp_path, tiny_models, tiny_cache):
    (spec,) = make_clips(clips=1, seed=8, layout="ms3", frames=6, size=64)
    video = write_mp4(tmp_path / "clip.mp4", spec)
    decoded = load_clip(video, fps=1.0, sample_rate=16_000)
    folder = tmp_path / "stored"
    folder.mkdir()
    frames = []
    for k, picture in enumerate(decoded.frames):  # lossless pictures: the same pixels as the decoded clip
        Image.fromarray(picture).save(folder / f"{k}.png")
        frames.append(serving.StoredFrame(k, float(decoded.timestamps[k]), path_opener(folder / f"{k}.png")))
    write_wav(folder / "audio.wav", np.round(decoded.audio * 32768).astype(np.int16), 16_000)

    for config in (None, tiny_models):
        loaded = load_proposer(config, cache=tiny_cache)
        expected = loaded.propose(decoded, labels=["dog"])
        for chunk in (1, 4, 100):
            result = serving.propose_stored_clip(
                frames=frames[::-1],  # any order: read by frame index
                audio=path_opener(folder / "audio.wav"),
                fps=1.0,
                name=str(video),
                config_path=config,
                labels=["dog"],
                chunk_frames=chunk,
                cache=tiny_cache,
            )
            for got, want in zip(result["frames"], expected["frames"], strict=True):
                assert got == want
            assert result["clip"] == expected["clip"] and result["model"] == expected["model"]
            expected_meta, meta = dict(expected["meta"]), dict(result["meta"])
            expected_meta.pop("timings", None), meta.pop("timings", None)
            assert meta == expected_meta


def test_a_stored_clip_over_the_budget_or_without_usable_files_is_refused(tmp_path):
    frames, audio = write_stored_clip(tmp_path / "clip", 5)
    with pytest.raises(serving.ClipTooLongError, match="The clip has 5 frames, more than the 4"):
        serving.propose_stored_clip(frames=frames, audio=audio, fps=1.0, max_frames=4)
    with pytest.raises(serving.ClipInputError, match="no audio track"):
        serving.propose_stored_clip(frames=frames, audio=None, fps=1.0)
    (tmp_path / "clip" / "00003.jpg").unlink()
    with pytest.raises(serving.MediaError, match="Frame 3 is missing from media storage"):
        serving.propose_stored_clip(frames=frames, audio=audio, fps=1.0)


def test_a_video_is_proposed_frame_by_frame_with_the_results_of_the_decoded_clip(tmp_path, tiny_models, tiny_cache):
    (spec,) = make_clips(clips=1, seed=9, layout="s4", frames=4, size=64)
    video = write_mp4(tmp_path / "clip.mp4", spec)
    decoded = load_clip(video)
    for config in (None, tiny_models):
        expected = load_proposer(config, cache=tiny_cache).propose(decoded)
        result = serving.propose_clip(video_path=video, config_path=config, chunk_frames=3, cache=tiny_cache)
        assert result["frames"] == expected["frames"] and result["clip"] == expected["clip"]
    with pytest.raises(serving.ClipTooLongError, match=rf"^{video}: The clip has 4 frames, more than the 2"):
        serving.propose_clip(video_path=video, max_frames=2)
