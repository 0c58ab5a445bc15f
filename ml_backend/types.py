"""Plain data passed between the ML backend's stages and to the server (through `serving`).

Conventions used everywhere in `ml_backend`:
- images are H×W×3 uint8 RGB numpy arrays; stacks of frames are T×H×W×3;
- masks are H×W bool numpy arrays, same H, W as their frame; probability maps H×W float32 in [0, 1];
- boxes are XYXY in pixels of the frame they belong to (x right, y down), float;
- time is in seconds from the clip start; `frame_index` is 0-based: frame k covers the window
  [k/fps, (k+1)/fps) (see `ml_backend.media`), so frame index and seconds are never mixed;
- audio is mono float32 in [-1, 1] at `sample_rate` Hz.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class ClipMedia:
    """A decoded clip: T frames and the whole audio track, all in memory (short clips, tests, benchmarks).
    Proposers read clips of any length through `ml_backend.media.source.ClipSource` (a `FrameReader`: one
    H×W×3 uint8 frame per `read(position)`, and an `AudioReader`), of which `ClipSource.from_media` makes one.

    frames: T×H×W×3 uint8 RGB. timestamps: (T,) float64 seconds of each kept picture.
    audio: (N,) float32 mono or None when the video has no audio track.
    """

    frames: np.ndarray
    timestamps: np.ndarray
    fps: float
    audio: np.ndarray | None
    sample_rate: int
    source: str = ""

    def __post_init__(self) -> None:
        assert self.frames.ndim == 4 and self.frames.shape[-1] == 3, self.frames.shape
        assert len(self.timestamps) == len(self.frames)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of every frame."""
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    @property
    def has_audio(self) -> bool:
        return self.audio is not None and self.audio.size > 0

    def audio_window(self, frame_index: int) -> np.ndarray:
        """Samples of frame `frame_index`'s window [k/fps, (k+1)/fps); zero-padded at the end."""
        if not self.has_audio:
            raise ValueError(f"{self.source or 'clip'} has no audio track")
        assert self.audio is not None
        start = int(round(frame_index / self.fps * self.sample_rate))
        length = int(round(self.sample_rate / self.fps))
        window = self.audio[start : start + length]
        if len(window) < length:
            window = np.pad(window, (0, length - len(window)))
        return window


@dataclass(frozen=True)
class AudioTag:
    """One text tag for an audio window, with its probability in [0, 1]."""

    label: str
    score: float


@dataclass
class AudioTags:
    """Top-k tags of one frame's audio window, best first."""

    frame_index: int
    tags: list[AudioTag]


@dataclass
class PromptTranslation:
    """Nouns of visible sounding objects for a clip, from its audio tags.

    translator: "llm" or "av_tree" (the deterministic audio-visual tree); `sources` maps each noun
    to the audio tags that led to it. `raw`: the LLM's last answer, if an LLM was asked;
    `fallback_reason`: why the tree translated although an LLM was configured ("" otherwise).
    """

    nouns: list[str]
    translator: str
    sources: dict[str, list[str]] = field(default_factory=dict)
    raw: str = ""
    fallback_reason: str = ""


@dataclass
class Box:
    """A grounded box: XYXY pixels, detector score in [0, 1], the noun that found it."""

    xyxy: tuple[float, float, float, float]
    score: float
    noun: str


@dataclass
class Instance:
    """One object on one frame. mask: H×W bool. provenance: how it was produced, e.g.
    `{"audio_tags": [...], "noun": "dog", "box": [x0, y0, x1, y1], "translator": "llm", "model": ...}`.
    probability: optional H×W float32 in [0, 1], the per-pixel foreground probability behind `mask`
    (e.g. the sigmoid of SAM's mask logits; `mask == probability > 0.5`); None when the mask is all there is."""

    mask: np.ndarray
    label: str
    score: float
    provenance: dict[str, Any] = field(default_factory=dict)
    probability: np.ndarray | None = None


@dataclass
class FrameInstances:
    """One frame's instances. embedding: optional (C,) float32, the frame's pooled visual embedding as the proposer
    computed it (OpenAVS: SAM's image embedding averaged over the grid cells covering the frame, C = 256; the
    synchrony baseline: its 4×4 colour layout, C = 48), named by `ClipFeatures.visual_kind`; None when none.
    provenance: what the proposer decided for the frame as a whole, JSON-safe (OpenAVS: the window's `rms` and
    whether it is `silent`, the audio tags kept and the nouns searched for; `reason` when nothing was searched for,
    e.g. a silent window); {} when the proposer says nothing."""

    frame_index: int
    instances: list[Instance]
    embedding: np.ndarray | None = None
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass
class ClipFeatures:
    """What a proposer computed for a whole clip that a student or an acquisition function can reuse.

    audio_tags: per audio window (frame order, one per frame), its top-k tags; empty lists for a proposer without
    tags (the baseline). audio_embedding: T×D float32, one row per window (OpenAVS: CLAP's unit audio embedding,
    D = 512 for the LAION models; the baseline: `ml_backend.pipelines.synchrony.audio_features`, D = 17) or None.
    audio_kind / visual_kind: what the audio rows and the frames' `FrameInstances.embedding` are
    (e.g. "clap", "sam-mean", "baseline-bands", "baseline-colour-grid"); "" when there are none.
    """

    audio_tags: list[AudioTags]
    audio_embedding: np.ndarray | None = None
    audio_kind: str = ""
    visual_kind: str = ""


@dataclass
class ClipProposal:
    """A proposer's output for a clip: per-frame instances plus what ran (`model`, `meta`) and what it computed
    on the way that can be reused (`features`, None when the proposer keeps none)."""

    frames: list[FrameInstances]
    model: str
    meta: dict[str, Any] = field(default_factory=dict)
    features: ClipFeatures | None = None
