"""A clip read frame by frame: `ClipSource` = a `FrameReader` (stored pictures) + an `AudioReader` (mono audio).

Proposers read a clip through this interface, a frame or a bounded chunk of frames at a time, so their peak memory
does not grow with the clip's length (`ClipMedia`, a whole clip decoded in memory, is one implementation among
others: `ClipSource.from_media`).

Conventions (those of `ml_backend.types`):
- a clip has T frames at *positions* 0..T-1 (reading order); `FrameReader.indexes[p]` is the 0-based frame index
  of position p (window [index/fps, (index+1)/fps)), `timestamps[p]` the picture's time in seconds;
- `FrameReader.read(p)` -> H×W×3 uint8 RGB, the same (H, W) for every frame (`size`); callers must not modify it;
- audio is mono float32 in [-1, 1] at `AudioReader.sample_rate` Hz, sample 0 at clip time 0;
  `ClipSource.audio_window(p)` are the samples of position p's window, zero-padded at the end.

Readers of stored files (`StoredFrames`, `WavAudio`) take *openers*: callables that return a new binary file
object (e.g. `lambda: default_storage.open(name, "rb")` on the server, or `open(path, "rb")`), so files are read
through whatever storage holds them; a reader closes what it opened. Unreadable files raise `MediaError` naming
the frame; a clip source is a context manager that closes its readers.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import wave
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from ml_backend.media.video import MediaError
from ml_backend.types import ClipMedia

Opener = Callable[[], BinaryIO]
"""Returns a new binary file object open for reading (seekable for audio); the caller closes it."""

AUDIO_BLOCK = 1 << 18  # samples read at once when a whole track is scanned (e.g. for its RMS)


# --- frames ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredFrame:
    """One stored frame: its 0-based frame `index`, its `timestamp` in seconds and `open`, an `Opener` of its
    encoded picture (JPEG, PNG, anything PIL reads)."""

    index: int
    timestamp: float
    open: Opener


class FrameReader(ABC):
    """Random access, one frame at a time, to a clip's T frames (see the module docstring for the conventions).

    `indexes`: (T,) int64 frame index per position; `timestamps`: (T,) float64 seconds per position.
    """

    indexes: np.ndarray
    timestamps: np.ndarray

    def __len__(self) -> int:
        return len(self.indexes)

    @property
    @abstractmethod
    def size(self) -> tuple[int, int]:
        """(H, W) of every frame."""

    @abstractmethod
    def read(self, position: int) -> np.ndarray:
        """H×W×3 uint8 RGB picture at `position` (0 ≤ position < T). Raises `MediaError` when it cannot be read."""

    def close(self) -> None:  # noqa: B027 (optional: readers that hold nothing keep this one)
        """Release what the reader holds (files, temporary folders)."""


class ArrayFrames(FrameReader):
    """Frames already in memory: T×H×W×3 uint8 (read(p) returns a read-only view)."""

    def __init__(self, frames: np.ndarray, timestamps: np.ndarray, indexes: np.ndarray | None = None) -> None:
        assert frames.ndim == 4 and frames.shape[-1] == 3, frames.shape
        self.frames = frames
        self.timestamps = np.asarray(timestamps, dtype=np.float64)
        self.indexes = np.arange(len(frames), dtype=np.int64) if indexes is None else np.asarray(indexes, np.int64)
        assert len(self.timestamps) == len(self.indexes) == len(frames)

    @property
    def size(self) -> tuple[int, int]:
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    def read(self, position: int) -> np.ndarray:
        view = self.frames[position].view()
        view.flags.writeable = False
        return view


class StoredFrames(FrameReader):
    """Frames decoded from stored pictures on each `read` (nothing is kept between reads).

    Every picture must have the first one's size (a `MediaError` says which does not). `name` is the clip's name
    in error messages.
    """

    def __init__(self, frames: Sequence[StoredFrame], *, name: str = "") -> None:
        ordered = sorted(frames, key=lambda f: f.index)
        if len({f.index for f in ordered}) != len(ordered):
            raise ValueError("frame indexes must be unique")
        self.frames = ordered
        self.indexes = np.array([f.index for f in ordered], dtype=np.int64)
        self.timestamps = np.array([f.timestamp for f in ordered], dtype=np.float64)
        self.name = name
        self._size: tuple[int, int] | None = None

    @property
    def size(self) -> tuple[int, int]:
        if self._size is None:
            if not self.frames:
                raise MediaError("The clip has no frames.")
            self._size = self._decode(0).shape[:2]
        return self._size

    def read(self, position: int) -> np.ndarray:
        picture = self._decode(position)
        if self._size is None:
            self._size = picture.shape[:2]
        elif picture.shape[:2] != self._size:
            (h, w), (eh, ew) = picture.shape[:2], self._size
            raise MediaError(
                f"Frame {self.frames[position].index} is {w}×{h} pixels but the clip's frames are {ew}×{eh}: "
                "every frame of a clip must have the same size."
            )
        return picture

    def _decode(self, position: int) -> np.ndarray:
        frame = self.frames[position]
        try:
            with frame.open() as handle, Image.open(handle) as image:
                return np.asarray(image.convert("RGB"))
        except FileNotFoundError:
            raise MediaError(f"Frame {frame.index} is missing from media storage.") from None
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise MediaError(f"Frame {frame.index} cannot be read as a picture ({exc}).") from exc


class SpooledFrames(StoredFrames):
    """Frames written once, losslessly (PNG), to a temporary folder that `close()` removes: random access to the
    frames of a source (a video decoded front to back) without holding them in memory."""

    def __init__(self, folder: str) -> None:
        super().__init__([])
        self.folder = folder

    def append(self, index: int, timestamp: float, image: Image.Image) -> None:
        path = os.path.join(self.folder, f"{index:07d}.png")
        image.convert("RGB").save(path, format="PNG", compress_level=1)
        self.frames.append(StoredFrame(index, timestamp, lambda path=path: open(path, "rb")))
        self.indexes = np.append(self.indexes, np.int64(index))
        self.timestamps = np.append(self.timestamps, float(timestamp))

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


# --- audio -------------------------------------------------------------------------------------------


class AudioReader(ABC):
    """Mono float32 audio in [-1, 1] at `sample_rate` Hz, `num_samples` long, read by sample range."""

    sample_rate: int
    num_samples: int
    _rms: float | None = None

    @abstractmethod
    def read(self, start: int, length: int) -> np.ndarray:
        """(n,) float32 samples [start, start + length), n < length only past the end of the track (0 ≤ start)."""

    def blocks(self, size: int = AUDIO_BLOCK) -> Iterator[np.ndarray]:
        """The whole track, `size` samples at a time."""
        for start in range(0, self.num_samples, size):
            yield self.read(start, size)

    def rms(self) -> float:
        """Root mean square of the whole track (0.0 when empty), computed once by blocks."""
        if self._rms is None:
            total = sum(float(np.square(block, dtype=np.float64).sum()) for block in self.blocks())
            self._rms = float(np.sqrt(total / self.num_samples)) if self.num_samples else 0.0
        return self._rms

    def close(self) -> None:  # noqa: B027 (optional: readers that hold nothing keep this one)
        """Release what the reader holds."""


class ArrayAudio(AudioReader):
    """Audio already in memory: (N,) float32."""

    def __init__(self, audio: np.ndarray, sample_rate: int) -> None:
        self.audio = audio
        self.sample_rate = int(sample_rate)
        self.num_samples = int(audio.size)

    def read(self, start: int, length: int) -> np.ndarray:
        return self.audio[start : start + length]

    def rms(self) -> float:
        if self._rms is None:
            self._rms = float(np.sqrt(np.mean(np.square(self.audio, dtype=np.float64)))) if self.num_samples else 0.0
        return self._rms


class WavAudio(AudioReader):
    """A mono 16-bit PCM WAV file (what ingest stores), read by seeking: int16 / 32768 -> float32.

    `open` is an `Opener` of the file (it must be seekable); the file stays open until `close()`.
    Raises `MediaError` when it is not a mono 16-bit PCM WAV file.
    """

    def __init__(self, open: Opener, *, name: str = "audio") -> None:
        self.name = name
        try:
            self._file = open()
        except FileNotFoundError:
            raise MediaError(f"The {name} is missing from media storage.") from None
        try:
            self._wave = wave.open(self._file, "rb")
        except (wave.Error, EOFError, OSError) as exc:
            self._file.close()
            raise MediaError(f"The {name} cannot be read as a WAV file ({exc}).") from exc
        if self._wave.getnchannels() != 1 or self._wave.getsampwidth() != 2:
            channels, width = self._wave.getnchannels(), self._wave.getsampwidth()
            self.close()
            raise MediaError(f"The {name} must be mono 16-bit PCM (it has {channels} channels of {8 * width} bits).")
        self.sample_rate = int(self._wave.getframerate())
        self.num_samples = int(self._wave.getnframes())

    def read(self, start: int, length: int) -> np.ndarray:
        if start >= self.num_samples or length <= 0:
            return np.zeros(0, dtype=np.float32)
        self._wave.setpos(start)
        data = self._wave.readframes(min(length, self.num_samples - start))
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0

    def close(self) -> None:
        try:
            self._wave.close()
        finally:
            self._file.close()


# --- the clip ----------------------------------------------------------------------------------------


@dataclass
class ClipSource:
    """A clip as proposers read it: `frames` (T positions), `audio` (None without an audio track) at `fps`
    windows per second. `source`: the clip's name for messages. Use as a context manager (closes the readers)."""

    frames: FrameReader
    audio: AudioReader | None
    fps: float
    source: str = ""

    @classmethod
    def from_media(cls, clip: ClipMedia) -> ClipSource:
        """A decoded clip behind the same interface (nothing copied)."""
        audio = ArrayAudio(clip.audio, clip.sample_rate) if clip.audio is not None else None
        return cls(frames=ArrayFrames(clip.frames, clip.timestamps), audio=audio, fps=clip.fps, source=clip.source)

    def __enter__(self) -> ClipSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            if self.audio is not None:
                self.audio.close()
        finally:
            self.frames.close()

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of every frame."""
        return self.frames.size

    @property
    def timestamps(self) -> np.ndarray:
        return self.frames.timestamps

    @property
    def sample_rate(self) -> int:
        return self.audio.sample_rate if self.audio is not None else 0

    @property
    def has_audio(self) -> bool:
        return self.audio is not None and self.audio.num_samples > 0

    def audio_window(self, position: int) -> np.ndarray:
        """Samples of the window [k/fps, (k+1)/fps) of the frame at `position` (k its frame index), float32,
        zero-padded at the end (`ClipMedia.audio_window`'s rule)."""
        if not self.has_audio:
            raise ValueError(f"{self.source or 'clip'} has no audio track")
        assert self.audio is not None
        frame_index = int(self.frames.indexes[position])
        start = int(round(frame_index / self.fps * self.audio.sample_rate))
        length = int(round(self.audio.sample_rate / self.fps))
        window = self.audio.read(start, length)
        if len(window) < length:
            window = np.pad(window, (0, length - len(window)))
        return window


def chunks(total: int, size: int) -> Iterator[range]:
    """Positions 0..total-1 in consecutive ranges of at most `size` (≥ 1)."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, got {size}")
    for start in range(0, total, size):
        yield range(start, min(start + size, total))


def bytes_opener(data: bytes) -> Opener:
    """An `Opener` of in-memory bytes (tests, small uploads)."""
    return lambda: io.BytesIO(data)


def path_opener(path: str | os.PathLike[str]) -> Opener:
    """An `Opener` of a local file."""
    return lambda: open(path, "rb")


def spool_folder(prefix: str = "avs-frames-") -> str:
    """A new temporary folder for `SpooledFrames`."""
    return tempfile.mkdtemp(prefix=prefix)
