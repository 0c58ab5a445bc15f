"""Clips read frame by frame (ml_backend.media.source, ml_backend.media.clip.open_clip)."""

from __future__ import annotations

import io
import os
import wave

import numpy as np
import pytest
from PIL import Image

from ml_backend.media.clip import ClipTooLongError, audio_rms, load_clip, open_clip
from ml_backend.media.source import (
    ClipSource,
    StoredFrame,
    StoredFrames,
    WavAudio,
    bytes_opener,
    chunks,
)
from ml_backend.media.video import MediaError, write_wav
from ml_backend.types import ClipMedia
from tests.media_files import make_video


def encoded(image: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt)
    return buffer.getvalue()


def wav_bytes(samples: np.ndarray, rate: int = 16_000) -> bytes:
    buffer = io.BytesIO()
    write_wav(buffer, samples, rate)
    return buffer.getvalue()


def test_stored_frames_are_decoded_one_read_at_a_time_in_index_order():
    rng = np.random.default_rng(0)
    pictures = [rng.integers(0, 255, (12, 20, 3), dtype=np.uint8) for _ in range(3)]
    opened = []

    def opener(k):
        def open_():
            opened.append(k)
            return io.BytesIO(encoded(pictures[k]))

        return open_

    reader = StoredFrames([StoredFrame(k, k + 0.94, opener(k)) for k in (2, 0, 1)])
    assert list(reader.indexes) == [0, 1, 2] and list(reader.timestamps) == [0.94, 1.94, 2.94]
    assert opened == []  # nothing is read before it is asked for
    assert reader.size == (12, 20)
    for k in range(3):
        assert np.array_equal(reader.read(k), pictures[k])  # PNG: lossless, RGB uint8
    assert opened == [0, 0, 1, 2]


def test_unusable_stored_frames_say_which_frame():
    good = encoded(np.zeros((8, 8, 3), np.uint8))
    wide = encoded(np.zeros((8, 10, 3), np.uint8), "JPEG")

    def missing():
        raise FileNotFoundError("gone")

    reader = StoredFrames(
        [
            StoredFrame(0, 0.94, bytes_opener(good)),
            StoredFrame(1, 1.94, bytes_opener(wide)),
            StoredFrame(2, 2.94, missing),
            StoredFrame(3, 3.94, bytes_opener(b"not a picture")),
        ]
    )
    assert reader.read(0).shape == (8, 8, 3)
    with pytest.raises(MediaError, match=r"Frame 1 is 10×8 pixels but the clip's frames are 8×8"):
        reader.read(1)
    with pytest.raises(MediaError, match="Frame 2 is missing from media storage"):
        reader.read(2)
    with pytest.raises(MediaError, match="Frame 3 cannot be read as a picture"):
        reader.read(3)


def test_wav_audio_reads_windows_like_the_decoded_track():
    rng = np.random.default_rng(1)
    samples = (rng.normal(0, 3000, 40_500)).astype(np.int16)
    audio = WavAudio(bytes_opener(wav_bytes(samples)))
    assert (audio.sample_rate, audio.num_samples) == (16_000, 40_500)
    as_float = samples.astype(np.float32) / 32768.0
    assert np.array_equal(audio.read(100, 50), as_float[100:150])
    assert np.array_equal(audio.read(40_000, 16_000), as_float[40_000:])  # short past the end
    assert audio.read(50_000, 10).size == 0
    assert audio.rms() == pytest.approx(float(np.sqrt(np.mean(np.square(as_float, dtype=np.float64)))), rel=1e-9)

    frames = StoredFrames([StoredFrame(k, k + 0.94, bytes_opener(b"")) for k in range(3)])
    source = ClipSource(frames=frames, audio=audio, fps=1.0)
    assert np.array_equal(source.audio_window(1), as_float[16_000:32_000])
    last = source.audio_window(2)  # 8500 samples left, zero-padded to a whole window
    assert last.shape == (16_000,) and np.array_equal(last[:8_500], as_float[32_000:]) and not last[8_500:].any()
    source.close()


def test_a_wav_that_is_not_mono_16_bit_is_refused():
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(b"\x00" * 400)
    with pytest.raises(MediaError, match="must be mono 16-bit PCM"):
        WavAudio(bytes_opener(buffer.getvalue()))
    with pytest.raises(MediaError, match="cannot be read as a WAV file"):
        WavAudio(bytes_opener(b"RIFF nonsense"))


def test_open_clip_reads_what_load_clip_decodes_and_cleans_up(tmp_path):
    path = make_video(tmp_path / "tone.mp4", seconds=3.0, width=80, height=48, audio_rate=44_100)
    whole = load_clip(path, fps=2.0, sample_rate=16_000, max_side=64)
    with open_clip(path, fps=2.0, sample_rate=16_000, max_side=64) as source:
        folder = source.frames.folder
        assert os.path.isdir(folder)
        assert source.num_frames == whole.num_frames == 6 and source.size == whole.size == (38, 64)
        assert np.array_equal(source.timestamps, whole.timestamps)
        for k in range(source.num_frames):
            assert np.array_equal(source.frames.read(k), whole.frames[k])
            assert np.array_equal(source.audio_window(k), whole.audio_window(k))
        assert audio_rms(source) == pytest.approx(audio_rms(whole), rel=1e-9)
    assert not os.path.exists(folder)


def test_open_clip_refuses_a_video_over_the_frame_budget_before_decoding(tmp_path):
    path = make_video(tmp_path / "long.mp4", seconds=4.0, audio_rate=16_000)
    with pytest.raises(ClipTooLongError, match="The clip has 4 frames, more than the 3"):
        open_clip(path, fps=1.0, max_frames=3)
    with open_clip(path, fps=1.0, max_frames=4) as source:
        assert source.num_frames == 4


def test_a_decoded_clip_behind_the_same_interface():
    frames = np.arange(2 * 4 * 5 * 3, dtype=np.uint8).reshape(2, 4, 5, 3)
    clip = ClipMedia(
        frames=frames, timestamps=np.array([0.5, 1.5]), fps=1.0, audio=np.ones(24_000, np.float32), sample_rate=16_000
    )
    source = ClipSource.from_media(clip)
    assert source.size == (4, 5) and source.num_frames == 2 and source.sample_rate == 16_000
    assert np.array_equal(source.audio_window(1), clip.audio_window(1))
    with pytest.raises(ValueError, match="read-only"):
        source.frames.read(0)[0, 0, 0] = 1  # proposers cannot change the caller's frames
    assert [list(r) for r in chunks(7, 3)] == [[0, 1, 2], [3, 4, 5], [6]]
