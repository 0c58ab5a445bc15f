"""A video file -> ClipMedia (ml_backend.media.clip)."""

from __future__ import annotations

import numpy as np
import pytest

from ml_backend.media.clip import ClipInputError, audio_rms, load_clip, require_audible
from ml_backend.media.video import MediaError
from tests.media_files import make_video


def test_frames_and_float_audio_of_a_video(tmp_path):
    path = make_video(tmp_path / "tone.mp4", seconds=2.0, width=80, height=48, audio_rate=44_100)
    clip = load_clip(path, fps=2.0, sample_rate=16_000)
    assert clip.frames.shape == (4, 48, 80, 3) and clip.frames.dtype == np.uint8
    assert clip.size == (48, 80) and clip.fps == 2.0 and clip.source == str(path)
    assert np.all(np.diff(clip.timestamps) > 0) and clip.timestamps[0] <= 0.47
    assert clip.audio.dtype == np.float32 and clip.sample_rate == 16_000
    assert abs(len(clip.audio) - 32_000) < 400 and np.abs(clip.audio).max() <= 1.0
    assert audio_rms(clip) == pytest.approx(0.3 / np.sqrt(2), rel=0.05)  # the 440 Hz sine of amplitude 0.3
    assert clip.audio_window(3).shape == (8_000,)
    require_audible(clip)


def test_a_video_without_audio_has_none_and_is_refused_for_proposals(tmp_path):
    clip = load_clip(make_video(tmp_path / "mute.mp4", seconds=1.0), max_side=32)
    assert clip.audio is None and not clip.has_audio
    assert clip.size == (24, 32)
    with pytest.raises(ClipInputError, match="no audio track"):
        require_audible(clip)


def test_silent_audio_is_refused(tmp_path):
    clip = load_clip(make_video(tmp_path / "tone.mp4", seconds=1.0, audio_rate=16_000))
    clip.audio = clip.audio * 1e-4
    with pytest.raises(ClipInputError, match=r"silent \(RMS 2.1e-05, -93 dBFS, below 0.001"):
        require_audible(clip)


def test_an_unreadable_file_is_a_media_error(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"hello")
    with pytest.raises(MediaError, match="could not be opened"):
        load_clip(junk)
