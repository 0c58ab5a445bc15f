"""Media decoding for AVS Studio: video frames and audio with PyAV, and clips read frame by frame
(`ml_backend.media.source`). Never imports Django or the server."""

from ml_backend.media.source import (
    ClipSource,
    FrameReader,
    StoredFrame,
    StoredFrames,
    WavAudio,
)
from ml_backend.media.video import (
    FRAME_POSITION,
    DecodedFrame,
    MediaError,
    VideoInfo,
    decode_audio_mono,
    frame_count,
    iter_audio_mono,
    iter_frames,
    probe,
    write_wav,
)

__all__ = [
    "FRAME_POSITION",
    "ClipSource",
    "FrameReader",
    "StoredFrame",
    "StoredFrames",
    "WavAudio",
    "DecodedFrame",
    "MediaError",
    "VideoInfo",
    "decode_audio_mono",
    "frame_count",
    "iter_audio_mono",
    "iter_frames",
    "probe",
    "write_wav",
]
