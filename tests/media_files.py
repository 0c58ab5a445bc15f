"""Media files for tests: the shared demo clips, and small videos made with PyAV in a test's tmp_path.

Synthetic videos show picture `i` as a flat grey of level `grey_level(i)`, so a test can tell from a
decoded frame which source picture it is (`picture_index`).
"""

from __future__ import annotations

import os
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _shared_dir() -> Path:
    """The team's shared folder (demo clips, reference data): AVS_SHARED_DIR, else `../shared` beside the checkout."""
    for candidate in (os.environ.get("AVS_SHARED_DIR"), ROOT.parent / "shared", "/work/shared"):
        if candidate and (Path(candidate) / "media" / "avsbench-demo").is_dir():
            return Path(candidate)
    raise RuntimeError("The demo clips were not found: set AVS_SHARED_DIR to the folder holding media/avsbench-demo.")


SHARED_DIR = _shared_dir()
DEMO_DIR = SHARED_DIR / "media" / "avsbench-demo"
DEMO_SMALL = DEMO_DIR / "0BLiYNtFSjA.mp4"  # 320x240, 23.976 fps, 5.005 s, aac stereo 44.1 kHz
DEMO_720P = DEMO_DIR / "0meOlo03O3g.mp4"  # 1280x720, 30 fps, 5.0 s, aac stereo 44.1 kHz
GREY_STEP = 8


def grey_level(index: int) -> int:
    return 16 + (index * GREY_STEP) % 224


def picture_index(pixels: np.ndarray) -> int:
    """Index (mod 28) of the synthetic picture an RGB array `(H, W, 3)` shows."""
    return round((float(pixels.mean()) - 16) / GREY_STEP)


def make_video(
    path: Path,
    *,
    seconds: float = 2.0,
    fps: int = 10,
    width: int = 64,
    height: int = 48,
    codec: str = "libx264",
    audio_rate: int | None = None,
    faststart: bool = False,
) -> Path:
    """Encode `seconds * fps` flat grey pictures (picture i: `grey_level(i)`), with a mono 440 Hz sine
    track at `audio_rate` Hz when given (AAC), into an MP4 at `path`."""
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as out:
        video = out.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = out.add_stream("aac", rate=audio_rate, layout="mono") if audio_rate else None
        count = round(seconds * fps)
        for i in range(count):
            frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), grey_level(i), np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if audio is not None and audio_rate:
            samples = round(seconds * audio_rate)
            wave = (0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / audio_rate)).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = wave[start : start + 1024].reshape(1, -1)
                frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
                frame.sample_rate, frame.pts, frame.time_base = audio_rate, start, Fraction(1, audio_rate)
                out.mux(audio.encode(frame))
            out.mux(audio.encode(None))
    return path


def remux_faststart(source: Path, path: Path) -> Path:
    """Copy `source`'s streams into an MP4 with its index first ("faststart"), as web videos usually are.

    The demo clips keep their index at the end, so cutting them loses the index; cutting a faststart
    copy keeps a readable file whose data stops early, like an interrupted download.
    """
    with av.open(str(source)) as inp, av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.dts is None:
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    return path


def keep_head(source: Path, path: Path, fraction: float) -> Path:
    """The first `fraction` of `source`'s bytes."""
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def cut_tail(source: Path, path: Path, num_bytes: int) -> Path:
    """`source` without its last `num_bytes` bytes."""
    data = source.read_bytes()
    path.write_bytes(data[:-num_bytes])
    return path


def make_audio_only(path: Path, *, seconds: float = 1.0, rate: int = 44100) -> Path:
    """An M4A file with one AAC audio stream and no video."""
    with av.open(str(path), "w", format="mp4") as out:
        audio = out.add_stream("aac", rate=rate, layout="mono")
        samples = round(seconds * rate)
        for start in range(0, samples, 1024):
            chunk = np.zeros((1, min(1024, samples - start)), np.float32)
            frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
    return path


# --- rotated videos ----------------------------------------------------------------------------------

MARKER = (255, 0, 0)  # red block in the top-left corner of the coded picture of `make_marked_video`
_CORNERS = ("top-left", "top-right", "bottom-right", "bottom-left")


def make_marked_video(
    path: Path,
    *,
    clockwise: int = 0,
    via: str = "matrix",
    width: int = 96,
    height: int = 64,
    seconds: float = 2.0,
    fps: int = 10,
) -> Path:
    """A grey video with a red block in the top-left corner of its coded pictures, to be shown turned
    `clockwise` degrees.

    via="matrix": an MP4 whose track header holds the display matrix a phone writes (as recorded by an
    iPhone held upright for clockwise=90), patched into the file byte for byte, independently of PyAV's
    writer; via="tag": a Matroska file whose video stream has a `rotate` tag of `clockwise` degrees.
    """
    if via not in ("matrix", "tag"):
        raise ValueError(f"via must be 'matrix' or 'tag', got {via!r}")
    picture = np.full((height, width, 3), 96, np.uint8)
    picture[: height // 4, : width // 4] = MARKER
    with av.open(str(path), "w", format="mp4" if via == "matrix" else "matroska") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        if via == "tag" and clockwise:
            video.metadata["rotate"] = str(clockwise)
        for i in range(round(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    if via == "matrix" and clockwise:
        _set_track_matrix(path, clockwise=clockwise, width=width, height=height)
    return path


def _set_track_matrix(path: Path, *, clockwise: int, width: int, height: int) -> None:
    """Write into the MP4's (only) `tkhd` box the matrix turning the picture `clockwise` degrees.

    The matrix [a b u; c d v; x y w] maps a pixel (px, py), y down, to (a·px + c·py + x, b·px + d·py + y);
    a, b, c, d, x, y are 16.16 fixed point, w is 2.30. A clockwise quarter turn is (px, py) → (height - py, px).
    """
    one = 1 << 16
    a, b, c, d, x, y = {
        90: (0, one, -one, 0, height * one, 0),
        180: (-one, 0, 0, -one, width * one, height * one),
        270: (0, -one, one, 0, 0, width * one),
    }[clockwise]
    data = bytearray(path.read_bytes())
    at = data.find(b"tkhd")
    assert at > 0 and data.find(b"tkhd", at + 4) < 0 and data[at + 4] == 0, "one version-0 tkhd box expected"
    matrix = at + 4 + 4 + 20 + 16  # type, version+flags, times/track/duration, reserved/layer/group/volume
    assert struct.unpack_from(">9i", data, matrix) == (one, 0, 0, 0, one, 0, 0, 0, 1 << 30), "identity expected"
    struct.pack_into(">9i", data, matrix, a, b, 0, c, d, 0, x, y, 1 << 30)
    path.write_bytes(bytes(data))


def marker_corner(pixels: np.ndarray) -> str:
    """Which corner of an RGB array `(H, W, 3)` shows `make_marked_video`'s red block."""
    h, w = pixels.shape[:2]
    corners = [
        pixels[: h // 8, : w // 8],
        pixels[: h // 8, w - w // 8 :],
        pixels[h - h // 8 :, w - w // 8 :],
        pixels[h - h // 8 :, : w // 8],
    ]
    redness = [float(q[..., 0].mean()) - float(q[..., 1:].mean()) for q in corners]
    best = int(np.argmax(redness))
    assert redness[best] > 100 and sorted(redness)[-2] < 20, f"no single red corner: {redness}"
    return _CORNERS[best]
