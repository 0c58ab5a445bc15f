"""The student interface (OpenAVS-ST): supervised AVS models trained on human masks + a teacher's pseudo-labels.

Model-agnostic, as OpenAVS-ST is: every student is a `Student` with `fit`, `predict`, `save` and `load`. A
student segments the *sounding* foreground of each frame (class-agnostic, AVSBench S4 style): one probability
map per frame, returned as `ClipProposal`s like the pipelines' (one instance per frame when anything sounds,
labelled with the most frequent label of its training targets, its `probability` kept).

Conventions (those of `ml_backend.types`): frames H×W×3 uint8 RGB; audio windows mono float32 in [-1, 1] at
`sample_rate` Hz, one window per frame ([k/fps, (k+1)/fps)); targets H×W float32 in [0, 1]; weights H×W float32
≥ 0, where 0 means "ignored by the loss" (pseudo-label pixels between the low and high thresholds).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ml_backend.types import ClipProposal

SOURCE_HUMAN = "human"
SOURCE_PSEUDO = "pseudo"


@dataclass
class TrainItem:
    """One training frame.

    frame: H×W×3 uint8. audio: (N,) float32, the frame's audio window at `sample_rate`.
    target: H×W float32 in [0, 1] (1 = sounding object). weight: H×W float32 ≥ 0 per pixel (0 = ignored), or a
    scalar applied to every pixel. `source` says whether a person drew the target ("human": ground truth, weighs
    `StudentConfig.human_weight` more) or a teacher proposed it ("pseudo"). `clip_key`/`frame_index` identify it.
    """

    frame: np.ndarray
    audio: np.ndarray
    sample_rate: int
    target: np.ndarray
    weight: np.ndarray | float = 1.0
    source: Literal["human", "pseudo"] = SOURCE_HUMAN
    label: str = ""
    clip_key: str = ""
    frame_index: int = 0


@dataclass
class StudentConfig:
    """Training settings shared by every student (a `students` entry of the model config JSON).

    Subclasses add their architecture's settings. Defaults train a compact student on a 2-core CPU in minutes on
    a few hundred frames.
    """

    kind: str = "compact"  # which student: "compact" | "av2t_sam"
    epochs: int = 8  # passes over the training items
    batch_size: int = 8
    learning_rate: float = 2e-4  # AdamW, cosine decay to 0 over all steps
    weight_decay: float = 1e-2
    input_size: int = 128  # frames (and targets) are resized to input_size × input_size for training
    pseudo_low: float = 0.3  # pseudo-label pixels with teacher probability in (low, high) are ignored in the loss
    pseudo_high: float = 0.7
    human_weight: float = 2.0  # loss weight of human-labelled frames relative to pseudo-labelled ones
    threshold: float = 0.5  # probability above which a predicted pixel is foreground
    seed: int = 0
    device: str = "auto"  # "auto" (CUDA when present), "cpu", "cuda", "cuda:1"...
    extra: dict[str, Any] = field(default_factory=dict)
    augment: bool = True  # random horizontal flips of frames and targets while training


@dataclass
class TrainProgress:
    """Reported after every epoch (and may be reported within one): `epoch` 1-based of `epochs`."""

    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float
    seconds: float  # elapsed since fit started (this run, resumed or not)


@dataclass
class TrainReport:
    """What `fit` did: the per-epoch mean losses (`curve`), items seen, whether it resumed from a checkpoint."""

    curve: list[float]
    items: int
    human_items: int
    pseudo_items: int
    resumed_from_epoch: int = 0
    seconds: float = 0.0


ProgressFn = Callable[[TrainProgress], None]


@dataclass
class FoundationModels:
    """Frozen foundation models a student may take features from (`build_student(config, models=...)`), each the
    stage facade of `ml_backend.foundation` (as `ModelCache.get(kind, ...)` returns it), None when not configured:
    clap: `audio_tagging.ClapTagger`, sam: `sam.SamSegmenter`, clip: `clip_labels.ClipLabeller`."""

    clap: Any = None
    sam: Any = None
    clip: Any = None


class Student(ABC):
    """A trainable AVS model. `fit` trains in place (resuming from `checkpoint_dir` when it holds a checkpoint of
    the same run: one checkpoint per epoch), `predict` proposes a clip, `save`/`load` round-trip it (a folder)."""

    name: str

    @abstractmethod
    def fit(
        self,
        train_items: Sequence[TrainItem],
        config: StudentConfig,
        progress: ProgressFn | None = None,
        checkpoint_dir: str | Path | None = None,
    ) -> TrainReport: ...

    @abstractmethod
    def predict(self, clip: Any, *, labels: Sequence[str] = ()) -> ClipProposal:
        """`clip`: a `ml_backend.types.ClipMedia` or a `ml_backend.media.source.ClipSource` (read frame by frame)."""

    @abstractmethod
    def save(self, path: str | Path) -> None: ...

    @classmethod
    @abstractmethod
    def load(cls, path: str | Path, *, device: str = "auto") -> Student: ...
