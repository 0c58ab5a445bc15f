"""Clips for proposers: a video file -> `ClipMedia` (`load_clip`, the whole clip in memory: short clips, tests) or
-> `ClipSource` (`open_clip`, read frame by frame: any length), and the checks proposers make before running.

Frames follow `ml_backend.media.video`'s timing rule (frame k covers [k/fps, (k+1)/fps), taken 0.94 of the way
in); audio is mono float32 in [-1, 1] at `sample_rate` Hz with sample 0 at clip time 0, or None without an
audio track.
"""

from __future__ import annotations

import os

import numpy as np

from ml_backend.media.source import ClipSource, SpooledFrames, WavAudio, path_opener, spool_folder
from ml_backend.media.video import MediaError, decode_audio_mono, frame_count, iter_audio_mono, iter_frames, probe
from ml_backend.media.video import write_wav as _write_wav
from ml_backend.types import ClipMedia

SILENCE_RMS = 1e-3  # about -60 dBFS: quieter than this over the whole clip counts as silent
WINDOW_SILENCE_RMS = 0.0056  # about -45 dBFS (the synchrony baseline's `silence_db`): a frame's window below is silent


class ClipInputError(MediaError):
    """A readable clip that a proposer cannot use (no audio track, silent audio, too long); the message says why."""


class ClipTooLongError(ClipInputError):
    """The clip has more frames than the configured budget of one proposal."""


def load_clip(
    path: str | os.PathLike[str], *, fps: float = 1.0, sample_rate: int = 16_000, max_side: int | None = None
) -> ClipMedia:
    """Decode `path`: frames T×H×W×3 uint8 RGB at `fps` (longer side ≤ `max_side` when given), timestamps in
    seconds, audio (N,) float32 in [-1, 1] at `sample_rate` Hz or None when the video has no audio track.

    The whole clip is held in memory (about T·H·W·3 bytes): for long videos use `open_clip`.
    Raises `MediaError` (from `ml_backend.media.video`) when the file is not a readable video.
    """
    info = probe(path, check_decode=False)
    decoded = list(iter_frames(path, fps=fps, max_side=max_side))
    frames = np.stack([np.asarray(frame.image.convert("RGB")) for frame in decoded])
    timestamps = np.array([frame.timestamp for frame in decoded], dtype=np.float64)
    audio = None
    if info.has_audio:
        audio = decode_audio_mono(path, sample_rate=sample_rate).astype(np.float32) / 32768.0
    return ClipMedia(
        frames=frames,
        timestamps=timestamps,
        fps=float(fps),
        audio=audio,
        sample_rate=sample_rate,
        source=os.fspath(path),
    )


def open_clip(
    path: str | os.PathLike[str],
    *,
    fps: float = 1.0,
    sample_rate: int = 16_000,
    max_side: int | None = None,
    max_frames: int | None = None,
) -> ClipSource:
    """`load_clip`'s frames and audio (the same values) as a `ClipSource` that holds neither in memory: the video is
    decoded once, front to back, into lossless PNG frames and a 16-bit WAV in a temporary folder, removed when the
    source is closed (use it as a context manager). Disk: about a third of T·H·W·3 bytes plus 2 bytes per sample.

    Raises `ClipTooLongError` when the video has more than `max_frames` frames at `fps` (checked before decoding),
    `MediaError` when the file is not a readable video.
    """
    info = probe(path, check_decode=False)
    require_frame_budget(frame_count(duration=info.duration, fps=fps), max_frames=max_frames)
    frames = SpooledFrames(spool_folder())
    audio = None
    try:
        for frame in iter_frames(path, fps=fps, max_side=max_side):
            frames.append(frame.index, frame.timestamp, frame.image)
        if info.has_audio:
            wav = os.path.join(frames.folder, "audio.wav")
            _write_wav(wav, iter_audio_mono(path, sample_rate=sample_rate), sample_rate)
            audio = WavAudio(path_opener(wav), name="audio track")
    except BaseException:
        frames.close()
        raise
    return ClipSource(frames=frames, audio=audio, fps=float(fps), source=os.fspath(path))


def require_frame_budget(num_frames: int, *, max_frames: int | None) -> None:
    """Raise `ClipTooLongError` when `num_frames` exceeds `max_frames` (None: no budget)."""
    if max_frames is not None and num_frames > max_frames:
        raise ClipTooLongError(
            f"The clip has {num_frames} frames, more than the {max_frames} one pre-annotation may propose: "
            "split the video into shorter clips, or ingest it at a lower frame rate."
        )


def audio_rms(clip: ClipMedia | ClipSource) -> float:
    """Root mean square of the whole audio track (0.0 without audio); a `ClipSource` is read by blocks."""
    if not clip.has_audio:
        return 0.0
    if isinstance(clip, ClipSource):
        assert clip.audio is not None
        return clip.audio.rms()
    assert clip.audio is not None
    return float(np.sqrt(np.mean(np.square(clip.audio, dtype=np.float64))))


def window_rms(window: np.ndarray) -> float:
    """Root mean square of one audio window ((N,) float32 mono; 0.0 when empty)."""
    return float(np.sqrt(np.mean(np.square(window, dtype=np.float64)))) if window.size else 0.0


def require_audible(clip: ClipMedia | ClipSource, *, min_rms: float = SILENCE_RMS) -> None:
    """Raise `ClipInputError` when the clip has no audio track or its audio is silent (RMS below `min_rms`)."""
    if not clip.has_audio:
        raise ClipInputError("The video has no audio track: audio-visual segmentation needs the sound.")
    rms = audio_rms(clip)
    if rms < min_rms:
        level = 20 * np.log10(rms) if rms > 0 else float("-inf")
        raise ClipInputError(
            f"The audio track is silent (RMS {rms:.2g}, {level:.0f} dBFS, below {min_rms:.2g}): nothing to localise."
        )
