"""Fixtures of the student tests: synthetic S4 clips with exact masks, turned into training items."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from ml_backend.media.synth import SAMPLE_RATE, SynthClip, make_clips
from ml_backend.students.base import SOURCE_HUMAN, TrainItem
from ml_backend.types import ClipMedia


@pytest.fixture(scope="package", autouse=True)
def one_thread():
    """Tiny networks train several times faster on one thread than on two busy cores; restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@dataclass
class SynthSet:
    train: list[TrainItem]
    test: list[tuple[ClipMedia, np.ndarray]]  # (clip, T×H×W bool ground truth)


def clip_media(clip: SynthClip) -> ClipMedia:
    frames = np.stack([clip.frame(k) for k in range(clip.num_frames)])
    timestamps = np.array([clip.kept_time(k) for k in range(clip.num_frames)])
    return ClipMedia(frames, timestamps, 1.0, clip.audio(), SAMPLE_RATE, clip.vid)


def clip_items(clip: SynthClip, media: ClipMedia, *, source: str = SOURCE_HUMAN) -> list[TrainItem]:
    return [
        TrainItem(
            frame=media.frames[k],
            audio=media.audio_window(k),
            sample_rate=SAMPLE_RATE,
            target=clip.sounding_mask(k).astype(np.float32),
            source=source,  # type: ignore[arg-type]
            label=clip.category,
            clip_key=clip.vid,
            frame_index=k,
        )
        for k in range(clip.num_frames)
    ]


@pytest.fixture(scope="session")
def synth_set() -> SynthSet:
    """100 seeded S4 clips of 5 frames at 64 px (one sounding shape, distractors, off-screen sounds):
    75 clips to train on (375 frames), 25 held out."""
    clips = make_clips(clips=100, seed=3, layout="s4", frames=5, size=64)
    train: list[TrainItem] = []
    test: list[tuple[ClipMedia, np.ndarray]] = []
    for i, clip in enumerate(clips):
        media = clip_media(clip)
        if i < 75:
            train.extend(clip_items(clip, media))
        else:
            test.append((media, np.stack([clip.sounding_mask(k) for k in range(clip.num_frames)])))
    return SynthSet(train, test)


@pytest.fixture(scope="session")
def small_clip(synth_set) -> ClipMedia:
    return synth_set.test[0][0]
