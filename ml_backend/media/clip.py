"""A video file -> `ClipMedia` (frames at `fps` + the whole mono audio track), and the audio checks proposers need.

Frames follow `ml_backend.media.video`'s timing rule (frame k covers [k/fps, (k+1)/fps), taken 0.94 of the way
in); audio is mono float32 in [-1, 1] at `sample_rate` Hz with sample 0 at clip time 0, or None without an
audio track.
"""

from __future__ import annotations

import os

import numpy as np

from ml_backend.media.video import MediaError, decode_audio_mono, iter_frames, probe
from ml_backend.types import ClipMedia

SILENCE_RMS = 1e-3  # about -60 dBFS: quieter than this over the whole clip counts as silent


class ClipInputError(MediaError):
    """A readable clip that a proposer cannot use (no audio track, silent audio); the message says why."""


def load_clip(
    path: str | os.PathLike[str], *, fps: float = 1.0, sample_rate: int = 16_000, max_side: int | None = None
) -> ClipMedia:
    """Decode `path`: frames T×H×W×3 uint8 RGB at `fps` (longer side ≤ `max_side` when given), timestamps in
    seconds, audio (N,) float32 in [-1, 1] at `sample_rate` Hz or None when the video has no audio track.

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


def audio_rms(clip: ClipMedia) -> float:
    """Root mean square of the whole audio track (0.0 without audio)."""
    if not clip.has_audio:
        return 0.0
    assert clip.audio is not None
    return float(np.sqrt(np.mean(np.square(clip.audio, dtype=np.float64))))


def require_audible(clip: ClipMedia, *, min_rms: float = SILENCE_RMS) -> None:
    """Raise `ClipInputError` when the clip has no audio track or its audio is silent (RMS below `min_rms`)."""
    if not clip.has_audio:
        raise ClipInputError("The video has no audio track: audio-visual segmentation needs the sound.")
    rms = audio_rms(clip)
    if rms < min_rms:
        level = 20 * np.log10(rms) if rms > 0 else float("-inf")
        raise ClipInputError(
            f"The audio track is silent (RMS {rms:.2g}, {level:.0f} dBFS, below {min_rms:.2g}): nothing to localise."
        )
