"""A frame reader that counts how many decoded frames are alive at once (for bounded-memory tests)."""

from __future__ import annotations

import weakref

import numpy as np

from ml_backend.media.source import FrameReader


class CountingFrames(FrameReader):
    """Wraps a reader: every `read` returns a new array, and `peak_alive` is the most of them alive at once."""

    def __init__(self, inner: FrameReader) -> None:
        self.inner = inner
        self.indexes = inner.indexes
        self.timestamps = inner.timestamps
        self.reads = 0
        self.alive = 0
        self.peak_alive = 0

    @property
    def size(self) -> tuple[int, int]:
        return self.inner.size

    def read(self, position: int) -> np.ndarray:
        frame = np.array(self.inner.read(position))
        self.reads += 1
        self.alive += 1
        self.peak_alive = max(self.peak_alive, self.alive)
        weakref.finalize(frame, self._released)
        return frame

    def _released(self) -> None:
        self.alive -= 1

    def close(self) -> None:
        self.inner.close()
