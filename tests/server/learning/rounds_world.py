"""A small self-training world: clips stored as ingest stores them (PNG frames and a mono WAV track in media
storage), whose sounding object is a bright square moving over a dark background, on a chosen side of the split.

`store_clip(project, side=...)` picks the clip's checksum so that the project's split rule (`server.learning.splits`,
seed 0, the default held-out fraction) puts it on `side`: the tests exercise the real rule, not a stub.
"""

from __future__ import annotations

import io
from dataclasses import asdict

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from ml_backend.media.video import write_wav
from server.annotations.models import Annotation, AnnotationRevision, Proposal
from server.core.masks import rle_encode
from server.learning.models import LearningSettings, ModelVersion
from server.learning.splits import split_draw
from server.media.models import AudioTrack, Clip, Frame, Project

SIZE = 64
FRAMES = 6
RATE = 16_000
DEFAULT_FRACTION = LearningSettings._meta.get_field("heldout_fraction").default
_used: set[str] = set()


def tiny_student(**overrides) -> dict:
    """The compact student's tiny settings (`ml_backend.students.compact.tiny_config`), as a round's overrides."""
    from ml_backend.students.compact import tiny_config

    settings = {k: v for k, v in asdict(tiny_config(**overrides)).items() if k not in ("kind", "extra")}
    return {k: v for k, v in settings.items() if isinstance(v, bool | int | float | str)}


def checksum_on(side: str, *, seed: int = 0, fraction: float = DEFAULT_FRACTION) -> str:
    """A fresh checksum that the split rule puts on `side` ("train" or "heldout")."""
    n = 0
    while True:
        n += 1
        checksum = f"{n:064x}"
        held = split_draw(seed=seed, checksum=checksum) < fraction
        if checksum not in _used and held == (side == "heldout"):
            _used.add(checksum)
            return checksum


def square_mask(clip_no: int, k: int) -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    x = 4 + (7 * k + 11 * clip_no) % (SIZE - 24)
    y = 8 + (5 * clip_no) % (SIZE - 28)
    mask[y : y + 20, x : x + 20] = True
    return mask


def _png(picture: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(picture).save(out, format="PNG")
    return out.getvalue()


def store_clip(project: Project, *, side: str, clip_no: int, frames: int = FRAMES) -> Clip:
    """A ready clip with `frames` stored frames and an audible WAV track, on `side` of the project's split."""
    clip = Clip.objects.create(
        project=project,
        name=f"square-{clip_no}.mp4",
        checksum=checksum_on(side),
        status=Clip.Status.READY,
        duration=float(frames),
        fps=1.0,
        width=SIZE,
        height=SIZE,
        has_audio=True,
    )
    for k in range(frames):
        picture = np.full((SIZE, SIZE, 3), 30, dtype=np.uint8)
        picture[square_mask(clip_no, k)] = (235, 70, 50)
        name = default_storage.save(
            f"projects/{project.pk}/clips/{clip.pk}/frames/{k:06d}.png", ContentFile(_png(picture))
        )
        Frame.objects.create(clip=clip, index=k, timestamp=k + 0.94, image=name, width=SIZE, height=SIZE)
    t = np.arange(frames * RATE) / RATE
    samples = (0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    buffer = io.BytesIO()
    write_wav(buffer, samples, RATE)
    name = default_storage.save(f"projects/{project.pk}/clips/{clip.pk}/audio.wav", ContentFile(buffer.getvalue()))
    AudioTrack.objects.create(clip=clip, file=name, sample_rate=RATE, duration=float(frames), num_samples=len(samples))
    return clip


def masks_of(clip: Clip, clip_no: int) -> dict[int, np.ndarray]:
    return {k: square_mask(clip_no, k) for k in clip.frames.values_list("index", flat=True)}


def accept(clip: Clip, masks: dict[int, np.ndarray], *, label: str = "square") -> None:
    """Accepted annotations (as a reviewer leaves them) with `masks` on the clip's frames."""
    for frame in clip.frames.all():
        instances = [{"mask": rle_encode(masks[frame.index]), "label": label}] if masks[frame.index].any() else []
        annotation = Annotation.objects.create(
            clip=clip, frame=frame, instances=instances, version=1, status=Annotation.Status.ACCEPTED
        )
        AnnotationRevision.objects.create(annotation=annotation, version=1, instances=instances, status="accepted")


def give_proposal(clip: Clip, version: ModelVersion, masks: dict[int, np.ndarray] | None) -> Proposal:
    """`version`'s proposal of `clip`: `masks` per frame (None: nothing proposed on any frame)."""
    frames = []
    for frame in clip.frames.order_by("index"):
        mask = masks.get(frame.index) if masks else None
        instances = (
            [{"mask": rle_encode(mask), "label": "square", "score": 0.9, "provenance": {}}]
            if mask is not None and mask.any()
            else []
        )
        frames.append({"frame_index": frame.index, "instances": instances})
    return Proposal.objects.create(clip=clip, model_version=version, frames=frames)
