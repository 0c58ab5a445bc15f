"""Decode a video file into frames at a fixed rate and its audio into mono PCM, with PyAV.

Pure PyAV + numpy + PIL: this module never imports Django or the server.

Clip time. Time 0 is the start of the video stream (its `start_time`); every time below, frame
timestamps included, is in seconds on that clock. The audio is aligned to the same clock.

Frame timing rule (the one `server.media.models` documents). Clip time is split into windows of
`1/fps` seconds. Frame `k` covers the window `[k/fps, (k+1)/fps)` and shows the picture on screen at
`(k + position)/fps` (`position` = `FRAME_POSITION` = 0.94, as AVSBench keeps the frame about 0.94 s
into each second): the last decoded picture whose presentation time is ≤ that instant (the first
picture if none is). Only whole windows are kept: `n = max(1, floor(duration * fps + 1e-6))`, so a
clip shorter than one window keeps one frame. A frame's `timestamp` is the presentation time of the
picture actually kept, so `timestamp <= (k + position)/fps` and, for any normal video, it lies in
window `k`.

Orientation. A video may ask to be shown turned (a phone held upright records landscape pictures plus a
display matrix, or an older `rotate` tag, saying "turn 90° clockwise"). Frames are stored as displayed:
every decoded picture is turned by the clip's `rotation`, and the sizes reported are the turned ones, so
masks are drawn on the upright picture.

Errors a person can act on (empty file, not a video, no video stream, undecodable, truncated or
corrupt data, no audio stream) raise `MediaError` with a readable message that does not name the
path (callers know the name the user gave the file).
"""

from __future__ import annotations

import math
import os
import wave
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import av
import av.container
import numpy as np
from av.sidedata.sidedata import Type as SideDataType
from av.video.reformatter import VideoReformatter
from PIL import Image

FRAME_POSITION = 0.94
"""Where in its window a frame is taken, as a fraction of the window (AVSBench: 0.94 s into each second)."""

Source = str | os.PathLike[str] | BinaryIO
"""A file path, or a binary file object open for reading that can seek."""

# Decoders whose "skip non-reference pictures" mode only drops pictures no other picture needs, and that
# keep one picture per packet in the containers we meet. For these, pictures that no window keeps are
# not decoded at all (often a third to a half of an h264 stream): see `_plan_packets`.
_SKIP_NONREF_CODECS = frozenset({"h264", "hevc", "mpeg1video", "mpeg2video", "vp8", "vp9"})
_PACKET_LOOKAHEAD = 16  # packets: more than any decoder's reordering depth
_WAV_BLOCK = 1 << 18  # samples written to a WAV file at once
# PIL's transpositions turn counter-clockwise: a clockwise rotation of r degrees is PIL's ROTATE_(360 - r).
_TURN_CLOCKWISE = {
    90: Image.Transpose.ROTATE_270,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}


class MediaError(ValueError):
    """The file cannot be used as a clip; the message says why, for people."""


@dataclass(frozen=True)
class VideoInfo:
    """What a media file holds, from its headers (plus one decoded picture when `probe` checks decoding).

    duration: seconds of video (the video stream's declared duration, else the container's).
    width, height: pixels of the picture as displayed (before any downscale): the decoded picture's, swapped
        when `rotation` is 90 or 270.
    source_fps: the video stream's average frame rate in frames per second (None if unknown).
    audio_sample_rate: Hz of the first audio stream (None without audio); audio_channels likewise.
    video_codec, audio_codec: FFmpeg codec names, e.g. "h264", "aac".
    container: FFmpeg's name of the container format, e.g. "mov,mp4,m4a,3gp,3g2,mj2".
    rotation: degrees (0, 90, 180 or 270) by which decoded pictures are turned clockwise to be shown upright:
        the video stream's display matrix (rounded to a quarter turn), else its `rotate` tag, else 0.
    """

    duration: float
    width: int
    height: int
    source_fps: float | None
    video_codec: str
    has_audio: bool
    audio_sample_rate: int | None
    audio_channels: int | None
    audio_codec: str | None
    container: str
    rotation: int = 0


@dataclass(frozen=True)
class DecodedFrame:
    """One kept frame. index: 0-based window index; timestamp: seconds (clip time) of the picture shown;
    image: RGB, as displayed (turned by the video's rotation), `(width, height)` at most `max_side` on its
    longer side."""

    index: int
    timestamp: float
    image: Image.Image


def frame_count(*, duration: float, fps: float) -> int:
    """Number of whole windows of `1/fps` s in `duration` seconds, at least 1."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    return max(1, math.floor(max(0.0, duration) * fps + 1e-6))


def scaled_size(*, width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """`(width, height)` shrunk, aspect kept, so that the longer side is at most `max_side` pixels."""
    if max_side is None or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


# --- probing ----------------------------------------------------------------------------------------


def probe(source: Source, *, check_decode: bool = True) -> VideoInfo:
    """Read a media file's headers; with `check_decode`, also decode its first picture.

    The first picture is decoded in any case, to read the display matrix decoders attach to it (the
    rotation); without `check_decode` a failure to decode it is not an error (the rotation then comes from
    the `rotate` tag, and the sizes from the headers).

    Raises `MediaError` for an empty file, a file that is not a media container PyAV can read (which is
    also what a video whose index was cut off looks like), a file without a video stream, and (with
    `check_decode`) a video stream of which not even the first picture decodes.
    """
    with _open(source) as container:
        stream = _video_stream(container)
        duration, _ = _video_duration(container, stream)
        audio = container.streams.audio[0] if container.streams.audio else None
        width, height = stream.codec_context.width, stream.codec_context.height
        first: av.VideoFrame | None = None
        if check_decode:
            first = _first_picture(container, stream)
        else:
            try:
                first = _first_picture(container, stream)
            except MediaError:
                first = None  # decoding the frames will say what is wrong
        if first is not None:
            width, height = first.width, first.height
        rotation = _display_rotation(stream, first)
        if rotation in (90, 270):
            width, height = height, width
        if duration is None:
            duration = _scan_video_end(source)
        return VideoInfo(
            duration=duration,
            width=width,
            height=height,
            source_fps=_source_fps(stream),
            video_codec=stream.codec_context.name,
            has_audio=audio is not None,
            audio_sample_rate=audio.codec_context.sample_rate if audio is not None else None,
            audio_channels=audio.codec_context.channels if audio is not None else None,
            audio_codec=audio.codec_context.name if audio is not None else None,
            container=container.format.name,
            rotation=rotation,
        )


def _open(source: Source) -> av.container.InputContainer:
    if isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        try:
            size = os.path.getsize(path)
        except FileNotFoundError:
            raise MediaError("The file does not exist.") from None
        opened: str | BinaryIO = path
    else:
        size = source.seek(0, os.SEEK_END)
        source.seek(0)
        opened = source
    if size == 0:
        raise MediaError("The file is empty (0 bytes).")
    try:
        return av.open(opened, mode="r", metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise MediaError(
            f"It could not be opened as a media container ({_reason(exc)}): it is not a video file, "
            "or it is truncated or corrupt."
        ) from exc


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _video_stream(container: av.container.InputContainer) -> av.VideoStream:
    if container.streams.video:
        return container.streams.video[0]
    found = [f"{s.type} ({s.codec_context.name})" for s in container.streams if s.codec_context is not None]
    held = ", ".join(found) if found else "no streams at all"
    raise MediaError(f"It has no video stream (it holds {held}).")


def _video_duration(container: av.container.InputContainer, stream: av.VideoStream) -> tuple[float | None, bool]:
    """(seconds, whether the video stream itself declared them); falls back on the container's duration."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base), True
    if container.duration:
        return container.duration / av.time_base, False
    return None, False


def _source_fps(stream: av.VideoStream) -> float | None:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else None


def _origin(stream: av.stream.Stream) -> int:
    """Pts (in the stream's time base) of clip time 0 for this stream."""
    return stream.start_time if stream.start_time is not None else 0


def _first_picture(container: av.container.InputContainer, stream: av.VideoStream) -> av.VideoFrame:
    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as exc:
        raise MediaError(
            f"No picture of its {stream.codec_context.name} video stream could be decoded ({_reason(exc)}): "
            "the file is truncated or corrupt."
        ) from exc
    raise MediaError(
        f"Its {stream.codec_context.name} video stream holds no decodable picture: the file is truncated or corrupt."
    )


def _display_rotation(stream: av.VideoStream, picture: av.VideoFrame | None) -> int:
    """Degrees (0, 90, 180, 270) by which `stream`'s pictures are turned clockwise to be shown upright.

    The display matrix decoders attach to a decoded `picture` wins (FFmpeg's `rotation` is counter-clockwise
    degrees, hence the sign); without one, the stream's `rotate` tag (clockwise degrees, what older muxers and
    some containers keep); else 0. Angles that are not a multiple of 90° go to the nearest quarter turn;
    mirroring in a display matrix is not applied.
    """
    degrees = 0.0
    if picture is not None and SideDataType.DISPLAYMATRIX in picture.side_data:
        degrees = -float(picture.rotation)
    else:
        tag = next((value for key, value in stream.metadata.items() if key.lower() == "rotate"), None)
        try:
            degrees = float(tag) if tag is not None else 0.0
        except ValueError:
            degrees = 0.0  # an unreadable tag: shown as stored
        if not math.isfinite(degrees):
            degrees = 0.0
    return round(degrees / 90) % 4 * 90


def _scan_video_end(source: Source) -> float:
    """Seconds at which the video stream's last packet ends, read without decoding (no declared duration)."""
    with _open(source) as container:
        stream = _video_stream(container)
        origin, tb, end = _origin(stream), stream.time_base, 0.0
        try:
            for packet in container.demux(stream):
                if packet.pts is not None:
                    end = max(end, float((packet.pts - origin + (packet.duration or 0)) * tb))
        except av.error.FFmpegError as exc:
            raise MediaError(
                f"Its video data could not be read ({_reason(exc)}): the file is truncated or corrupt."
            ) from exc
        return end


def _truncation_margin(*, declared_by_stream: bool, expected: float, interval: float) -> float:
    """Seconds by which decoded media may fall short of the declared duration before the file counts as cut.

    The stream's own duration is exact (one or two frame intervals of slack); a container duration also
    covers the other streams, which may legitimately outlast this one, so it gets a wide slack.
    """
    if declared_by_stream:
        return max(0.5, 2.5 * interval)
    return max(2.0, 0.1 * expected)


# --- frames -----------------------------------------------------------------------------------------


def iter_frames(
    source: Source, *, fps: float, position: float = FRAME_POSITION, max_side: int | None = None
) -> Iterator[DecodedFrame]:
    """Yield the frames of a video at `fps` frames per second, following the module's frame timing rule.

    Frame `k` (0 ≤ k < n, `n = max(1, floor(duration * fps + 1e-6))`) covers `[k/fps, (k+1)/fps)` s and
    is the last picture whose presentation time is ≤ `(k + position)/fps` s; `timestamp` is that picture's
    presentation time in seconds of clip time (0 = start of the video stream). Images are RGB, turned upright
    by the video's rotation (`probe`'s `rotation`, read from the first picture decoded), downscaled (aspect
    kept, area filter) so that the longer side is ≤ `max_side` pixels when it is given. A picture
    kept by several windows (fps above the source's) comes as the same `Image` object: do not modify it.

    Decoding is multi-threaded; only the pictures kept are converted to RGB, and for codecs where it is
    safe (h264, hevc, mpeg-1/2, vp8/9) pictures that no window keeps and that no other picture references
    are not decoded at all. The output is identical to decoding every picture.

    Raises `MediaError` when the file is not a readable video, when decoding fails mid-stream, or when the
    data ends clearly before the declared duration (a truncated file); frames already yielded then belong
    to a clip that must be thrown away. Raises `ValueError` for a non-positive `fps` or `max_side`, or a
    `position` outside [0, 1).
    """
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if not 0.0 <= position < 1.0:
        raise ValueError(f"position must be in [0, 1), got {position}")
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be at least 1 pixel, got {max_side}")

    with _open(source) as container:
        stream = _video_stream(container)
        duration, declared_by_stream = _video_duration(container, stream)
        if duration is None:
            duration, declared_by_stream = _scan_video_end(source), True
        n = frame_count(duration=duration, fps=fps)
        codec = stream.codec_context
        codec.thread_type = "AUTO"
        tb = float(stream.time_base)
        origin = _origin(stream)
        source_fps = _source_fps(stream) or 25.0
        interval = 1.0 / source_fps
        may_skip = codec.name in _SKIP_NONREF_CODECS

        k = 0  # next window to emit
        prev: av.VideoFrame | None = None
        prev_time = -interval
        kept: tuple[av.VideoFrame | None, Image.Image | None] = (None, None)  # last picture converted
        turn: int | None = None  # clockwise degrees, from the first picture decoded: the same for every frame
        reformatter = VideoReformatter()  # keeps its scaler between pictures
        data_end = 0.0  # seconds: end of the last video packet the file delivered

        def emit(window: int, frame: av.VideoFrame, time: float) -> DecodedFrame:
            nonlocal kept
            if kept[0] is not frame:
                width, height = scaled_size(width=frame.width, height=frame.height, max_side=max_side)
                rgb = reformatter.reformat(frame, format="rgb24", width=width, height=height, interpolation="AREA")
                image = rgb.to_image()
                if turn:
                    image = image.transpose(_TURN_CLOCKWISE[turn])
                kept = (frame, image)
            assert kept[1] is not None
            return DecodedFrame(index=window, timestamp=time, image=kept[1])

        packets = container.demux(stream)
        try:
            for packet, needed in _plan_packets(packets, n=n, fps=fps, position=position, origin=origin, tb=tb):
                if packet.pts is not None:
                    data_end = max(data_end, (packet.pts - origin + (packet.duration or 0)) * tb)
                if may_skip:
                    codec.skip_frame = "DEFAULT" if needed else "NONREF"
                for frame in codec.decode(packet):
                    if turn is None:
                        turn = _display_rotation(stream, frame)
                    if frame.interlaced_frame:
                        may_skip = False  # field pictures may come one per packet: decode all of them
                        codec.skip_frame = "DEFAULT"
                    time = (frame.pts - origin) * tb if frame.pts is not None else prev_time + interval
                    while k < n and (k + position) / fps < time:
                        if prev is None:  # nothing on screen yet: the first picture stands in
                            yield emit(k, frame, time)
                        else:
                            yield emit(k, prev, prev_time)
                        k += 1
                    prev, prev_time = frame, time
                if k >= n:
                    return  # every window has its picture: the rest of the video is not needed
        except av.error.FFmpegError as exc:
            raise MediaError(
                f"Decoding the video stopped at {max(prev_time, 0.0):.1f} s of {duration:.1f} s "
                f"({_reason(exc)}): the file is truncated or corrupt."
            ) from exc
        if prev is None:
            raise MediaError(
                f"Its {codec.name} video stream holds no decodable picture: the file is truncated or corrupt."
            )
        margin = _truncation_margin(declared_by_stream=declared_by_stream, expected=duration, interval=interval)
        if data_end < duration - margin:
            raise MediaError(
                f"The video data ends at {data_end:.1f} s but the file says it lasts {duration:.1f} s: "
                "the file is truncated or corrupt."
            )
        while k < n:
            yield emit(k, prev, prev_time)
            k += 1


def _plan_packets(
    packets: Iterable[av.Packet], *, n: int, fps: float, position: float, origin: int, tb: float
) -> Iterator[tuple[av.Packet, bool]]:
    """Pair each video packet with whether its picture is kept by some window.

    A picture with presentation time `t` is kept iff some window instant `T_k = (k + position)/fps`
    satisfies `t ≤ T_k < t_next`, `t_next` being the next larger presentation time in the stream. Packets
    come in decoding order, so `t_next` is looked for among the last and the next `_PACKET_LOOKAHEAD`
    packets; missing it only widens `[t, t_next)`, so a kept picture is never marked as not kept.
    Packets without a pts, and the final flush packet, are always "kept".
    """
    ahead: deque[av.Packet] = deque()
    recent: deque[int] = deque(maxlen=_PACKET_LOOKAHEAD)

    def needed(packet: av.Packet) -> bool:
        pts = packet.pts
        if pts is None or packet.size == 0:
            return True
        later = [q.pts for q in ahead if q.pts is not None and q.pts > pts] + [p for p in recent if p > pts]
        t_next = (min(later) - origin) * tb if later else math.inf
        first = max(0, math.ceil((pts - origin) * tb * fps - position - 1e-9))
        return first < n and (first + position) / fps < t_next

    for packet in packets:
        ahead.append(packet)
        if len(ahead) > _PACKET_LOOKAHEAD:
            head = ahead.popleft()
            yield head, needed(head)
            if head.pts is not None:
                recent.append(head.pts)
    while ahead:
        head = ahead.popleft()
        yield head, needed(head)
        if head.pts is not None:
            recent.append(head.pts)


# --- audio ------------------------------------------------------------------------------------------


def iter_audio_mono(source: Source, *, sample_rate: int) -> Iterator[np.ndarray]:
    """Yield the first audio stream as mono 16-bit PCM at `sample_rate` Hz, in chunks of shape `(samples,)`.

    Sample 0 is at clip time 0 (the start of the video stream): audio that starts later is preceded by
    silence, audio that starts earlier is cut. The total length is capped at the audio stream's declared
    end (decoders emit whole codec frames, e.g. up to 1023 samples of AAC padding past the end).

    Raises `MediaError` when there is no audio stream, when decoding fails mid-stream, or when the audio
    ends clearly before its declared duration (a truncated file).
    """
    if sample_rate < 1:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    with _open(source) as container:
        if not container.streams.audio:
            raise MediaError("It has no audio stream.")
        stream = container.streams.audio[0]
        reference = container.streams.video[0] if container.streams.video else stream
        origin = _origin(reference) * float(reference.time_base or 0)
        start = _origin(stream) * float(stream.time_base or 0)
        lead = round((start - origin) * sample_rate)  # > 0: silence to add first; < 0: samples to drop
        declared_by_stream = bool(stream.duration and stream.time_base)
        if declared_by_stream:
            length = float(stream.duration * stream.time_base)
        elif container.duration:
            length = container.duration / av.time_base
        else:
            length = None
        total = round((start + length - origin) * sample_rate) if length is not None else None

        resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
        emitted = 0
        drop = max(0, -lead)

        def take(chunk: np.ndarray) -> np.ndarray:
            nonlocal emitted, drop
            if drop:
                cut = min(drop, chunk.size)
                chunk, drop = chunk[cut:], drop - cut
            if total is not None:
                chunk = chunk[: max(0, total - emitted)]
            emitted += chunk.size
            return chunk

        if lead > 0:
            yield take(np.zeros(lead, dtype=np.int16))
        try:
            for packet in container.demux(stream):
                for frame in packet.decode():
                    for out in resampler.resample(frame):
                        chunk = take(out.to_ndarray().reshape(-1))
                        if chunk.size:
                            yield chunk
            for out in resampler.resample(None):
                chunk = take(out.to_ndarray().reshape(-1))
                if chunk.size:
                    yield chunk
        except av.error.FFmpegError as exc:
            raise MediaError(
                f"Decoding the audio stopped at {emitted / sample_rate:.1f} s ({_reason(exc)}): "
                "the file is truncated or corrupt."
            ) from exc
        if length is not None:
            got = emitted / sample_rate
            expected = start + length - origin
            margin = _truncation_margin(declared_by_stream=declared_by_stream, expected=expected, interval=0.1)
            if got < expected - margin:
                raise MediaError(
                    f"The audio ends at {got:.1f} s but the file says it lasts {expected:.1f} s: "
                    "the file is truncated or corrupt."
                )


def decode_audio_mono(source: Source, *, sample_rate: int) -> np.ndarray:
    """The first audio stream as mono int16 PCM at `sample_rate` Hz, shape `(samples,)`; see `iter_audio_mono`."""
    chunks = list(iter_audio_mono(source, sample_rate=sample_rate))
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


def write_wav(
    target: str | os.PathLike[str] | BinaryIO, samples: np.ndarray | Iterable[np.ndarray], sample_rate: int
) -> int:
    """Write mono 16-bit PCM samples (int16, shape `(samples,)`, or an iterable of such chunks) as a WAV file.

    `target` is a path or a binary file object (left open; it must be seekable when `samples` is an
    iterable of chunks, so the header can be completed). Returns the number of samples written.
    """
    chunks: Iterable[np.ndarray] = [samples] if isinstance(samples, np.ndarray) else samples
    opened = os.fspath(target) if isinstance(target, str | os.PathLike) else target
    written = 0
    pending: list[np.ndarray] = []  # chunks are written in blocks of about _WAV_BLOCK samples
    pending_size = 0
    with wave.open(opened, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        if isinstance(samples, np.ndarray):
            out.setnframes(samples.size)
        for chunk in chunks:
            chunk = np.asarray(chunk)
            if chunk.dtype != np.int16 or chunk.ndim != 1:
                raise ValueError(f"samples must be int16 of shape (samples,), got {chunk.dtype} {chunk.shape}")
            pending.append(chunk)
            pending_size += chunk.size
            written += chunk.size
            if pending_size >= _WAV_BLOCK:
                out.writeframesraw(np.concatenate(pending).astype("<i2", copy=False).tobytes())
                pending, pending_size = [], 0
        if pending:
            out.writeframesraw(np.concatenate(pending).astype("<i2", copy=False).tobytes())
    return written
