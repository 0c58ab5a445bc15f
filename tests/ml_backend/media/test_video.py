"""Decoding video frames at a fixed rate and audio to mono PCM (ml_backend.media.video)."""

from __future__ import annotations

import math
import wave

import av
import numpy as np
import pytest

from ml_backend.media.video import (
    FRAME_POSITION,
    MediaError,
    decode_audio_mono,
    frame_count,
    iter_frames,
    probe,
    write_wav,
)
from tests.media_files import (
    DEMO_720P,
    DEMO_SMALL,
    cut_tail,
    keep_head,
    make_audio_only,
    make_marked_video,
    make_video,
    marker_corner,
    picture_index,
    remux_faststart,
)


def _every_picture(path) -> list[tuple[float, np.ndarray]]:
    """(time, RGB array) of every picture, decoding all of them: the reference the rule is checked against."""
    with av.open(str(path)) as container:
        return [(frame.time, frame.to_ndarray(format="rgb24")) for frame in container.decode(video=0)]


def test_probe_reads_what_the_demo_clip_holds():
    info = probe(DEMO_SMALL)
    assert (info.width, info.height) == (320, 240)
    assert info.duration == pytest.approx(5.005, abs=1e-3)
    assert info.source_fps == pytest.approx(24000 / 1001)
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    assert info.has_audio and info.audio_sample_rate == 44100 and info.audio_channels == 2


@pytest.mark.parametrize("fps", [1.0, 2.0])
def test_frames_are_one_per_whole_window_taken_near_094_of_it(fps):
    info = probe(DEMO_SMALL)
    frames = list(iter_frames(DEMO_SMALL, fps=fps))
    assert len(frames) == math.floor(info.duration * fps) == int(5 * fps)
    assert [f.index for f in frames] == list(range(len(frames)))
    for f in frames:
        instant = (f.index + FRAME_POSITION) / fps
        assert f.index / fps <= f.timestamp <= instant  # inside its window, never after the instant
        assert instant - f.timestamp < 1 / info.source_fps + 1e-6  # the picture on screen at that instant
        assert f.image.mode == "RGB" and f.image.size == (320, 240)


@pytest.mark.parametrize("fps", [1.0, 3.0])
def test_kept_pictures_are_exactly_those_of_a_full_decode(fps):
    """Pictures no window keeps are skipped when decoding: that must not change a single kept pixel."""
    reference = _every_picture(DEMO_720P)
    frames = list(iter_frames(DEMO_720P, fps=fps))
    for f in frames:
        time, pixels = [p for p in reference if p[0] <= (f.index + FRAME_POSITION) / fps][-1]
        assert f.timestamp == pytest.approx(time)
        assert np.array_equal(np.asarray(f.image), pixels)


def test_rule_picks_the_last_picture_on_screen_at_each_instant(tmp_path):
    path = make_video(tmp_path / "grey.mp4", seconds=2.0, fps=10)  # picture i shown during [i/10, (i+1)/10)
    frames = list(iter_frames(path, fps=3))
    assert len(frames) == 6
    expected = [math.floor((k + FRAME_POSITION) / 3 * 10) for k in range(6)]  # 3, 6, 9, 13, 16, 19
    assert [picture_index(np.asarray(f.image)) for f in frames] == expected
    assert [round(f.timestamp, 6) for f in frames] == [i / 10 for i in expected]


def test_a_rate_above_the_source_rate_repeats_pictures(tmp_path):
    path = make_video(tmp_path / "slow.mp4", seconds=1.0, fps=4)
    frames = list(iter_frames(path, fps=8))
    assert [picture_index(np.asarray(f.image)) for f in frames] == [0, 0, 1, 1, 2, 2, 3, 3]


def test_a_clip_shorter_than_one_window_keeps_one_frame(tmp_path):
    path = make_video(tmp_path / "short.mp4", seconds=0.5, fps=10)
    frames = list(iter_frames(path, fps=1))
    assert len(frames) == 1 and frame_count(duration=0.5, fps=1) == 1
    assert picture_index(np.asarray(frames[0].image)) == 4  # the last picture: 0.94 s is past the end


def test_frames_are_downscaled_keeping_the_aspect_ratio():
    frames = list(iter_frames(DEMO_720P, fps=1, max_side=320))
    assert {f.image.size for f in frames} == {(320, 180)}
    assert {f.image.size for f in iter_frames(DEMO_SMALL, fps=1, max_side=4096)} == {(320, 240)}


# Where the red block of the coded picture's top-left corner is seen once the picture is turned clockwise.
UPRIGHT_CORNER = {0: "top-left", 90: "top-right", 180: "bottom-right", 270: "bottom-left"}


@pytest.mark.parametrize("clockwise", [0, 90, 180, 270])
def test_a_rotated_video_is_probed_and_decoded_as_displayed(tmp_path, clockwise):
    path = make_marked_video(tmp_path / f"phone-{clockwise}.mp4", clockwise=clockwise, width=96, height=64)
    upright = (64, 96) if clockwise in (90, 270) else (96, 64)
    for check_decode in (True, False):
        info = probe(path, check_decode=check_decode)
        assert (info.rotation, (info.width, info.height)) == (clockwise, upright)
    frames = list(iter_frames(path, fps=2))
    assert len(frames) == 4 and {f.image.size for f in frames} == {upright}
    assert {marker_corner(np.asarray(f.image)) for f in frames} == {UPRIGHT_CORNER[clockwise]}
    small = list(iter_frames(path, fps=1, max_side=48))  # downscaled, then turned: the upright aspect is kept
    assert {f.image.size for f in small} == {(32, 48) if clockwise in (90, 270) else (48, 32)}
    assert {marker_corner(np.asarray(f.image)) for f in small} == {UPRIGHT_CORNER[clockwise]}


def test_a_portrait_phone_video_stands_upright(tmp_path):
    """A phone held upright stores landscape pictures plus a display matrix turning them 90° clockwise."""
    path = make_marked_video(tmp_path / "portrait.mp4", clockwise=90, width=96, height=64)
    with av.open(str(path)) as container:
        coded = next(container.decode(video=0))
        assert (coded.width, coded.height, coded.rotation) == (96, 64, -90)  # FFmpeg: counter-clockwise degrees
    [first, *_] = iter_frames(path, fps=1)
    assert first.image.size == (64, 96) and marker_corner(np.asarray(first.image)) == "top-right"


@pytest.mark.parametrize("clockwise", [90, 270])
def test_a_rotate_tag_turns_the_frames_too(tmp_path, clockwise):
    path = make_marked_video(tmp_path / "tagged.mkv", clockwise=clockwise, via="tag", width=96, height=64)
    info = probe(path)
    assert (info.rotation, info.width, info.height) == (clockwise, 64, 96)
    frames = list(iter_frames(path, fps=1))
    assert {marker_corner(np.asarray(f.image)) for f in frames} == {UPRIGHT_CORNER[clockwise]}


def test_a_video_without_rotation_is_not_turned():
    assert probe(DEMO_SMALL).rotation == 0


def test_audio_is_mono_int16_at_the_rate_asked_and_as_long_as_the_track(tmp_path):
    samples = decode_audio_mono(DEMO_SMALL, sample_rate=16000)
    assert samples.dtype == np.int16 and samples.ndim == 1
    assert samples.size == 5 * 16000  # the AAC track lasts 5.000 s: no codec padding past its end
    assert np.abs(samples).max() > 1000  # real sound, not silence

    path = tmp_path / "out.wav"
    assert write_wav(path, samples, 16000) == samples.size
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getnframes()) == (1, 2, 16000, 80000)
        assert np.array_equal(np.frombuffer(wav.readframes(80000), "<i2"), samples)


def test_synthetic_tone_survives_resampling(tmp_path):
    path = make_video(tmp_path / "tone.mp4", seconds=2.0, audio_rate=48000)
    samples = decode_audio_mono(path, sample_rate=8000).astype(np.float32)
    assert samples.size == pytest.approx(16000, abs=8)
    spectrum = np.abs(np.fft.rfft(samples[2000:10000]))
    assert np.fft.rfftfreq(8000, d=1 / 8000)[np.argmax(spectrum)] == pytest.approx(440, abs=2)


def test_empty_file_is_refused(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(MediaError, match=r"The file is empty \(0 bytes\)"):
        probe(tmp_path / "empty.mp4")


def test_text_file_is_not_a_media_file(tmp_path):
    (tmp_path / "notes.mp4").write_text("shopping list: eggs, milk\n" * 50)
    with pytest.raises(MediaError, match="could not be opened as a media container.*not a video file"):
        probe(tmp_path / "notes.mp4")


def test_audio_only_file_has_no_video_stream(tmp_path):
    path = make_audio_only(tmp_path / "song.m4a")
    with pytest.raises(MediaError, match=r"It has no video stream \(it holds audio \(aac\)\)"):
        probe(path)
    with pytest.raises(MediaError, match="no video stream"):
        list(iter_frames(path, fps=1))


def test_cut_file_without_its_index_cannot_be_opened(tmp_path):
    path = keep_head(DEMO_SMALL, tmp_path / "head.mp4", 0.4)  # the demo's index sits at the end
    with pytest.raises(MediaError, match="truncated or corrupt"):
        probe(path)


@pytest.mark.parametrize("cut", ["head 40%", "tail 100 kB"])
def test_truncated_video_data_is_detected(tmp_path, cut):
    full = remux_faststart(DEMO_720P, tmp_path / "fast.mp4")
    if cut == "head 40%":
        path = keep_head(full, tmp_path / "cut.mp4", 0.4)
    else:
        path = cut_tail(full, tmp_path / "cut.mp4", 100_000)
    assert probe(path).duration == pytest.approx(5.0)  # the header still promises 5 s
    with pytest.raises(MediaError, match="truncated or corrupt"):
        list(iter_frames(path, fps=1))
    with pytest.raises(MediaError, match="truncated or corrupt"):
        decode_audio_mono(path, sample_rate=16000)


def test_video_without_audio_has_no_audio_to_decode(tmp_path):
    path = make_video(tmp_path / "silent.mp4", codec="mpeg4")
    assert probe(path).has_audio is False
    with pytest.raises(MediaError, match="It has no audio stream"):
        decode_audio_mono(path, sample_rate=16000)


def test_caller_mistakes_are_value_errors():
    with pytest.raises(ValueError, match="fps must be positive"):
        list(iter_frames(DEMO_SMALL, fps=0))
    with pytest.raises(ValueError, match="position"):
        list(iter_frames(DEMO_SMALL, fps=1, position=1.0))
    with pytest.raises(ValueError, match="int16"):
        write_wav("/dev/null", np.zeros(4, np.float32), 16000)
