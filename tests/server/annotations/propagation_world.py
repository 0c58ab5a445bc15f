"""What the mask propagation tests share: a stored clip whose audio is silent in some windows, a model configuration
with the tiny random tracker whose audio tags are deterministic, and the requests the annotator makes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from ml_backend.media.video import write_wav
from server.core.masks import rle_encode
from server.media.models import AudioTrack, Clip, Frame, Project

H, W = 48, 80
FRAMES = 6
SILENT_WINDOWS = (0, 3)  # the other windows carry a loud 440 Hz tone
RATE = 16_000
LABEL = "dog"


def tracker_config(tiny_model_config: Path, name: str = "propagation", **tracker) -> Path:
    """The tiny models' configuration with a one-entry CLAP vocabulary ("Dog"): every audible window's only tag is
    "Dog" (probability 1), which supports the label "dog" in the audio-visual tree, so with the random CLAP a
    window sounds exactly when it is audible. `tracker` changes models.tracker's settings."""
    data = json.loads(tiny_model_config.read_text())
    data["pipeline"]["vocabulary"] = ["Dog"]
    data["models"]["tracker"].update(tracker)
    path = tiny_model_config.parent / f"config-{name}.json"
    path.write_text(json.dumps(data))
    return path


def square(k: int = 0) -> np.ndarray:
    mask = np.zeros((H, W), dtype=bool)
    mask[10:30, 5 + 4 * k : 25 + 4 * k] = True
    return mask


def store_clip(project: Project, *, frames: int = FRAMES, audio: bool = True) -> Clip:
    """A ready clip of `frames` stored PNG frames (a yellow square sliding right) and a WAV track silent in
    SILENT_WINDOWS."""
    clip = Clip.objects.create(
        project=project,
        name="square.mp4",
        checksum=f"{project.pk:064x}",
        status=Clip.Status.READY,
        duration=float(frames),
        fps=1.0,
        width=W,
        height=H,
        has_audio=audio,
    )
    y, x = np.mgrid[0:H, 0:W]
    background = np.stack([40 + x, 60 + y, 90 + 0 * x], axis=-1).astype(np.uint8)
    for k in range(frames):
        picture = background.copy()
        picture[square(k)] = (240, 230, 40)
        buffer = io.BytesIO()
        Image.fromarray(picture).save(buffer, format="PNG")
        name = default_storage.save(
            f"projects/{project.pk}/clips/{clip.pk}/frames/{k:06d}.png", ContentFile(buffer.getvalue())
        )
        Frame.objects.create(clip=clip, index=k, timestamp=k + 0.94, image=name, width=W, height=H)
    if audio:
        t = np.arange(frames * RATE) / RATE
        loud = np.repeat([0.0 if k in SILENT_WINDOWS else 0.3 for k in range(frames)], RATE)
        samples = (loud * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
        buffer = io.BytesIO()
        write_wav(buffer, samples, RATE)
        name = default_storage.save(f"projects/{project.pk}/clips/{clip.pk}/audio.wav", ContentFile(buffer.getvalue()))
        AudioTrack.objects.create(
            clip=clip, file=name, sample_rate=RATE, duration=float(frames), num_samples=len(samples)
        )
    return clip


def propagate_body(**changes) -> dict:
    return {
        "frame_index": 0,
        "instances": [{"mask": rle_encode(square(0)), "label": LABEL}],
        "direction": "forward",
        "end_frame_index": None,
        **changes,
    }
