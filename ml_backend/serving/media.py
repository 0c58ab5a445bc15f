"""Media decoding for the server's ingest: the server reaches `ml_backend` only through `serving`.

No model is involved: probing and decoding with PyAV is cheap enough for a web request (the
upload check decodes one picture); the full decode runs in the `ingest` Celery task.
"""

from ml_backend.media.video import (
    FRAME_POSITION,
    DecodedFrame,
    MediaError,
    VideoInfo,
    frame_count,
    iter_audio_mono,
    iter_frames,
    probe,
    scaled_size,
    write_wav,
)

__all__ = [
    "FRAME_POSITION",
    "DecodedFrame",
    "MediaError",
    "VideoInfo",
    "frame_count",
    "iter_audio_mono",
    "iter_frames",
    "probe",
    "scaled_size",
    "write_wav",
]
