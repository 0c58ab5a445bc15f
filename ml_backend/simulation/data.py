"""The simulation's data: seeded synthetic clips, the teacher's proposals of them, and the simulated annotator.

A `SimClip` is one synthetic S4 clip (`ml_backend.media.synth`: one sounding source, distractors, off-screen
sounds) held in memory as a `ClipMedia` with its exact ground truth, plus what the teacher (the weight-free
synchrony baseline) proposed for it, computed once: its per-frame probability maps (the baseline's hard masks as
probabilities 0/1, exactly what a training round reads from a stored proposal: `serving.encoding.probability_maps`)
and the clip embedding the product's diverse batch selection uses (the mean of the frames' pooled visual
embeddings; for the baseline its 4×4 colour layout).

`SimulatedAnnotator` plays the people who label clips: it answers with the ground truth (the oracle), except that
with `noise` = P > 0 each labelled frame with a sounding object is corrupted with probability P by one of
"erode", "dilate" (a disk of `max(1, size // 32)` pixels) or "shift" (the mask moved by a quarter of its box
size, as a careless polygon), drawn from a generator seeded by (seed, clip key, frame): the same clip gets the
same labels whichever strategy asks for it and in whatever order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ml_backend.media.synth import SAMPLE_RATE, SynthClip, make_clips
from ml_backend.pipelines.synchrony import SynchronyProposer
from ml_backend.serving.encoding import probability_maps
from ml_backend.types import ClipMedia, ClipProposal

NOISE_KINDS: tuple[str, ...] = ("erode", "dilate", "shift")
_ANNOTATOR_STREAM = 4409  # rng stream of the annotator's corruptions


@dataclass
class SimClip:
    """One clip of the simulation. key: its index in its set (pool or held-out); gt: T×H×W bool ground truth;
    teacher: T×H×W float32 teacher probability maps; embedding: (D,) float32 clip embedding (teacher's)."""

    key: int
    vid: str
    media: ClipMedia
    gt: np.ndarray
    teacher: np.ndarray
    teacher_proposal: ClipProposal
    embedding: np.ndarray | None

    @property
    def num_frames(self) -> int:
        return self.media.num_frames

    def teacher_masks(self) -> np.ndarray:
        """T×H×W bool: the teacher's foreground (probability > 0.5)."""
        return self.teacher > 0.5


def clip_media(clip: SynthClip) -> ClipMedia:
    """The synthetic clip's kept frames (exactly its layout frames) and audio, in memory."""
    frames = np.stack([clip.frame(k) for k in range(clip.num_frames)])
    return ClipMedia(
        frames=frames,
        timestamps=np.array([clip.kept_time(k) for k in range(clip.num_frames)], dtype=np.float64),
        fps=1.0,
        audio=clip.audio(),
        sample_rate=SAMPLE_RATE,
        source=clip.vid,
    )


def clip_embedding(proposal: ClipProposal) -> np.ndarray | None:
    """The mean of the proposal's per-frame pooled visual embeddings (what the product stores per clip), or None."""
    rows = [np.asarray(f.embedding, dtype=np.float32) for f in proposal.frames if f.embedding is not None]
    if not rows:
        return None
    return np.mean(np.stack(rows), axis=0).astype(np.float32)


def make_sim_clips(
    *, count: int, seed: int, stream: int, frames: int, size: int, teacher: SynchronyProposer
) -> list[SimClip]:
    """`count` synthetic S4 clips of data seed (seed, stream), each with its teacher proposal. Clip i is the i-th
    clip `make_clips` draws for seed `seed * 1000 + stream` (pool and held-out use different streams)."""
    made = make_clips(
        clips=count, seed=seed * 1000 + stream, layout="s4", frames=frames, size=size, splits=(("train", 1.0),)
    )
    out = []
    for key, clip in enumerate(made):
        media = clip_media(clip)
        proposal = teacher.propose(media)
        out.append(
            SimClip(
                key=key,
                vid=clip.vid,
                media=media,
                gt=np.stack([clip.sounding_mask(k) for k in range(clip.num_frames)]),
                teacher=probability_maps(proposal, size=media.size),
                teacher_proposal=proposal,
                embedding=clip_embedding(proposal),
            )
        )
    return out


def _disk(radius: int) -> np.ndarray:
    y, x = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    return x * x + y * y <= radius * radius


def corrupt_mask(mask: np.ndarray, kind: str, *, radius: int) -> np.ndarray:
    """The H×W bool `mask` as a careless annotator might draw it: "erode" / "dilate" by a disk of `radius` px, or
    "shift": moved right and down by a quarter of its bounding box (pixels moved off the frame are lost)."""
    if not mask.any():
        return mask.copy()
    if kind == "erode":
        return ndimage.binary_erosion(mask, structure=_disk(radius))
    if kind == "dilate":
        return ndimage.binary_dilation(mask, structure=_disk(radius))
    if kind == "shift":
        ys, xs = np.nonzero(mask)
        dy = max(1, (int(ys.max()) - int(ys.min()) + 1) // 4)
        dx = max(1, (int(xs.max()) - int(xs.min()) + 1) // 4)
        out = np.zeros_like(mask)
        out[dy:, dx:] = mask[: mask.shape[0] - dy, : mask.shape[1] - dx]
        return out
    raise ValueError(f"unknown label noise {kind!r} (one of {', '.join(NOISE_KINDS)})")


class SimulatedAnnotator:
    """Labels clips with their ground truth, each frame with a sounding object corrupted with probability `noise`
    (see the module doc). `corrupted` counts the frames it corrupted, by kind."""

    def __init__(self, *, noise: float = 0.0, seed: int = 0) -> None:
        if not 0.0 <= noise <= 1.0:
            raise ValueError(f"noise must be a fraction between 0 and 1, got {noise}")
        self.noise = float(noise)
        self.seed = int(seed)
        self.corrupted: dict[str, int] = dict.fromkeys(NOISE_KINDS, 0)
        self._answers: dict[int, np.ndarray] = {}

    def label(self, clip: SimClip) -> np.ndarray:
        """T×H×W bool: the masks the annotator draws for `clip` (the same answer every time it is asked)."""
        if clip.key in self._answers:
            return self._answers[clip.key]
        masks = clip.gt.copy()
        if self.noise > 0:
            radius = max(1, clip.media.size[0] // 32)
            for k in range(len(masks)):
                rng = np.random.default_rng([self.seed, _ANNOTATOR_STREAM, clip.key, k])
                if masks[k].any() and rng.random() < self.noise:
                    kind = NOISE_KINDS[int(rng.integers(len(NOISE_KINDS)))]
                    masks[k] = corrupt_mask(masks[k], kind, radius=radius)
                    self.corrupted[kind] += 1
        self._answers[clip.key] = masks
        return masks

    def label_all(self, clips: Sequence[SimClip]) -> dict[int, np.ndarray]:
        return {clip.key: self.label(clip) for clip in clips}
