"""Proposals as plain JSON-safe data: masks as COCO RLE, probability maps for the AVSBench layout."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ml_backend.media.source import ClipSource
from ml_backend.types import ClipMedia, ClipProposal, FrameInstances, Instance


def mask_to_rle(mask: np.ndarray) -> dict[str, Any]:
    """H×W bool -> COCO RLE `{"size": [H, W], "counts": str}` (pycocotools, column-major)."""
    from pycocotools import mask as coco_mask

    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def rle_to_mask(rle: dict[str, Any]) -> np.ndarray:
    """COCO RLE `{"size": [H, W], "counts": str}` -> H×W bool."""
    from pycocotools import mask as coco_mask

    with warnings.catch_warnings():  # pycocotools 2.0.11 calls np.array(copy=False) internally under numpy 2
        warnings.simplefilter("ignore", DeprecationWarning)
        return coco_mask.decode({"size": list(rle["size"]), "counts": rle["counts"].encode("ascii")}).astype(bool)


def instance_probability(instance: Instance) -> np.ndarray:
    """H×W float32 foreground probability of one instance: its `probability` inside its mask, else 1.0 there."""
    if instance.probability is None:
        return instance.mask.astype(np.float32)
    return np.where(instance.mask, instance.probability, 0.0).astype(np.float32)


def instance_confidence(instance: Instance) -> float:
    """The instance's mean foreground probability inside its own mask, in [0, 1]: 1.0 for an instance without
    `probability` (a hard mask), 0.0 for an empty mask."""
    mask = np.asarray(instance.mask, dtype=bool)
    if not mask.any():
        return 0.0
    if instance.probability is None:
        return 1.0
    return float(np.clip(np.asarray(instance.probability, dtype=np.float64)[mask].mean(), 0.0, 1.0))


def frame_probability(frame: FrameInstances, *, size: tuple[int, int]) -> np.ndarray:
    """H×W float32 in [0, 1]: per pixel, the maximum over the frame's instances (the union of their masks where
    the map is > 0.5 for SAM-probability instances). size: (H, W)."""
    out = np.zeros(size, dtype=np.float32)
    for instance in frame.instances:
        np.maximum(out, instance_probability(instance), out=out)
    return out


def probability_maps(proposal: ClipProposal, *, size: tuple[int, int]) -> np.ndarray:
    """T×H×W float32 in [0, 1]: `frame_probability` of each frame. size: (H, W)."""
    out = np.zeros((len(proposal.frames), *size), dtype=np.float32)
    for t, frame in enumerate(proposal.frames):
        out[t] = frame_probability(frame, size=size)
    return out


def jsonable(value: Any) -> Any:
    """numpy scalars/arrays and tuples inside provenance -> plain JSON types."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def clip_facts(clip: ClipMedia | ClipSource) -> dict[str, Any]:
    """What a result says about the clip: source, fps, num_frames, size [H, W], timestamps, sample_rate."""
    height, width = clip.size
    return {
        "source": clip.source,
        "fps": clip.fps,
        "num_frames": clip.num_frames,
        "size": [height, width],
        "timestamps": [round(float(t), 6) for t in clip.timestamps],
        "sample_rate": clip.sample_rate,
    }


def frame_to_dict(frame: FrameInstances, *, timestamp: float) -> dict[str, Any]:
    """One frame's instances as JSON-safe data (RLE masks, `confidence`: `instance_confidence`) and the frame's own
    `provenance` (`FrameInstances.provenance`, {} when none); `timestamp`: the frame's picture time in seconds."""
    return {
        "frame_index": frame.frame_index,
        "timestamp": round(float(timestamp), 6),
        "instances": [
            {
                "label": instance.label,
                "score": round(float(instance.score), 6),
                "confidence": round(instance_confidence(instance), 6),
                "mask": mask_to_rle(instance.mask),
                "area": int(instance.mask.sum()),
                "provenance": jsonable(instance.provenance),
            }
            for instance in frame.instances
        ],
        "provenance": jsonable(frame.provenance),
    }


def proposal_to_dict(proposal: ClipProposal, *, clip: ClipMedia) -> dict[str, Any]:
    """The proposal as JSON-safe data: clip facts, per-frame instances (RLE masks) and the proposer's meta."""
    return {
        "clip": clip_facts(clip),
        "frames": [frame_to_dict(frame, timestamp=clip.timestamps[frame.frame_index]) for frame in proposal.frames],
        "meta": jsonable(proposal.meta),
    }
