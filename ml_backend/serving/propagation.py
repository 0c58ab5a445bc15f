"""Mask propagation for the annotator: an annotator's masks on one frame, tracked through a range of the clip's
stored frames, each propagated mask checked against its frame's audio window (only what sounds is a sounding object).

    propagate_stored_clip(config_path=..., frames=[StoredFrame], audio=opener | None, fps=...,
                          source_frame_index=k, instances=[{"mask": RLE, "label": str}],
                          direction="forward" | "backward", end_frame_index=None, labels=(), progress=None)
        -> iterator of per-frame results (plain JSON-safe dicts), in tracking order, the source frame first

What runs: the configuration's `models.tracker` (`ml_backend.foundation.tracking`: SAM 2 video or SAM 3's tracker)
and its CLAP tagger (`models.clap`), both through the process model cache. Checked before anything loads
(`PropagationInputError`, a `ValueError`, its message naming what to fix): the direction, 1..`MAX_INSTANCES`
instances with a non-empty label and a non-empty COCO RLE mask of the source frame's size, a source and an end frame
the clip has, the end on the source's side of the direction. `TrackerUnavailableError` (a `ConfigError`) when the
configuration names no tracker; `ModelLoadError` (naming `models.tracker.path` or `models.clap.path`) when a model
cannot be loaded; `MediaError` (naming the frame) while iterating, for a stored frame or track that cannot be read.

Importing this module imports no torch (the web process checks a request with `propagation_order` and
`prompts_check`); the models are loaded by `propagate_stored_clip`.

Bounded memory: the frames of the range are decoded one at a time, when the tracker needs them, and none is kept;
the tracker's session forgets what its model cannot attend to any more (`TrackingSession`); the audio windows of the
range are tagged first, in CLAP's fixed batches straight from the track (T × top_k tags are kept, with each window's
RMS). Only the results the caller keeps grow with the range.

Audio-aware, per frame and instance, with the pipeline's own per-frame source rules (`ml_backend.pipelines.openavs`:
`sounding_tags`, `supporting_tags`, `silence_reason`): a window whose RMS is below `pipeline.min_window_rms` is
silent; otherwise it keeps its top-k (`pipeline.top_k`) tags scoring at least `pipeline.min_tag_score`; an instance
is *sounding* on a frame only when one of those tags supports its label in the audio-visual tree (or equals it).
A tracked but not sounding object is background in AVS ground truth: `sounding: false`, and the provenance says why.

A frame's result:

    {"frame_index": int, "timestamp": float,
     "silent": bool,            # no instance sounds in this frame's window
     "low_confidence": bool,    # some instance's confidence is below models.tracker.min_confidence
     "provenance": {"rms": float | None, "silent": bool, "audio_tags": [[tag, score], ...], "reason"?: str},
     "instances": [{"track": int (index of the prompt), "label": str, "mask": COCO RLE of the frame's size,
                    "area": int, "confidence": float (mean foreground probability inside the mask; 1.0 for the
                    source frame's prompts, 0.0 when the tracker lost the object: empty mask),
                    "score": float (= confidence), "sounding": bool, "low_confidence": bool,
                    "provenance": {"rms", "audio_tags": [[tag, score], ...] (the window's kept tags),
                                   "supported_by": [tag, ...], "reason": str | None, "tracker": name,
                                   "object_score": float | None}}]}
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from ml_backend.foundation.config import BackendConfig, ConfigError, PipelineSettings, TrackerSettings, load_config
from ml_backend.foundation.policy import ModelPolicy, current_policy
from ml_backend.media.clip import window_rms
from ml_backend.media.source import ClipSource, Opener, StoredFrame, StoredFrames, WavAudio
from ml_backend.media.video import MediaError
from ml_backend.serving.encoding import mask_to_rle, rle_to_mask
from ml_backend.types import AudioTags

if TYPE_CHECKING:  # pragma: no cover
    from ml_backend.foundation.prompt_translation import AvTree
    from ml_backend.foundation.registry import ModelCache
    from ml_backend.foundation.tracking import TrackedMask

logger = logging.getLogger(__name__)

MAX_INSTANCES = 20  # objects one propagation tracks
DIRECTIONS = ("forward", "backward")
NOT_CONFIGURED = "the model configuration has no models.tracker (the video mask tracker propagation runs)"

Progress = Callable[[int, int], None]
"""`progress(done, total)`: frames finished so far and frames of the range (the source frame included)."""


class PropagationInputError(ValueError):
    """The prompts or the range cannot be propagated; the message names the field and what to fix, `field` is it
    ("direction", "frame_index", "end_frame_index", "instances[k].mask", ...)."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class TrackerUnavailableError(ConfigError):
    """The configuration names no tracker (`models.tracker`)."""


@dataclass(frozen=True)
class _Prompt:
    mask: np.ndarray  # H×W bool
    label: str


def propagation_order(
    frame_indexes: Sequence[int],
    *,
    source_frame_index: int,
    direction: str,
    end_frame_index: int | None = None,
    max_frames: int | None = None,
) -> list[int]:
    """The frame indexes a propagation runs over, in tracking order, the source frame first.

    `frame_indexes`: the clip's frames. `end_frame_index` None: to the clip's last (forward) or first (backward)
    frame, stopping after `max_frames` frames (the source included) when given; an explicit end whose range is
    longer than `max_frames` is refused. Raises `PropagationInputError` naming the field."""
    if direction not in DIRECTIONS:
        raise PropagationInputError(f"direction must be 'forward' or 'backward', not {direction!r}.", field="direction")
    known = sorted(set(int(i) for i in frame_indexes))
    if not known:
        raise PropagationInputError("The clip has no frames.", field="frame_index")
    first, last = known[0], known[-1]
    if source_frame_index not in known:
        raise PropagationInputError(
            f"frame_index {source_frame_index} is not a frame of this clip (its frames are {first} to {last}).",
            field="frame_index",
        )
    forward = direction == "forward"
    if end_frame_index is not None:
        if end_frame_index not in known:
            raise PropagationInputError(
                f"end_frame_index {end_frame_index} is not a frame of this clip (its frames are {first} to {last}).",
                field="end_frame_index",
            )
        if (end_frame_index <= source_frame_index) if forward else (end_frame_index >= source_frame_index):
            side = "after" if forward else "before"
            raise PropagationInputError(
                f"end_frame_index {end_frame_index} must come {side} frame_index {source_frame_index} to propagate "
                f"{direction}.",
                field="end_frame_index",
            )
    side = [i for i in known if i > source_frame_index] if forward else [i for i in known if i < source_frame_index]
    side = side if forward else side[::-1]
    if end_frame_index is not None:
        side = side[: side.index(end_frame_index) + 1]
        if max_frames is not None and len(side) + 1 > max_frames:
            raise PropagationInputError(
                f"The range covers {len(side) + 1} frames, more than the {max_frames} one propagation may track: "
                "choose a nearer end_frame_index, or propagate in several steps.",
                field="end_frame_index",
            )
    elif max_frames is not None:
        side = side[: max(0, max_frames - 1)]
    if not side:
        where = "last" if forward else "first"
        raise PropagationInputError(
            f"frame_index {source_frame_index} is the clip's {where} frame: there is nothing to propagate {direction}.",
            field="frame_index",
        )
    return [source_frame_index, *side]


def prompts_check(instances: Sequence[Any], *, size: tuple[int, int] | None = None) -> list[tuple[dict, str]]:
    """`[(mask RLE, label)]` of the prompts, checked: 1..MAX_INSTANCES objects `{"mask": COCO RLE, "label": str}`,
    labels non-empty, masks COCO RLEs (of `size` (H, W) when given) with at least one pixel. Raises
    `PropagationInputError` naming the item."""
    if not isinstance(instances, Sequence) or isinstance(instances, str | bytes) or not instances:
        raise PropagationInputError(
            "instances must list 1 or more {mask, label} objects to propagate.", field="instances"
        )
    if len(instances) > MAX_INSTANCES:
        raise PropagationInputError(
            f"One propagation tracks at most {MAX_INSTANCES} instances; this one has {len(instances)}.",
            field="instances",
        )
    out = []
    for k, instance in enumerate(instances):
        field = f"instances[{k}]"
        if not isinstance(instance, dict):
            raise PropagationInputError(f"{field} must be an object with 'mask' and 'label'.", field=field)
        label = instance.get("label")
        if not isinstance(label, str) or not label.strip():
            raise PropagationInputError(f"{field}.label must be a non-empty string.", field=f"{field}.label")
        rle = instance.get("mask")
        try:
            mask = rle_to_mask(rle)
        except Exception as exc:  # pycocotools raises several kinds for a malformed RLE
            raise PropagationInputError(
                f"{field}.mask is not a COCO RLE ({{size: [H, W], counts}}).", field=f"{field}.mask"
            ) from exc
        if size is not None and mask.shape != tuple(size):
            raise PropagationInputError(
                f"{field}.mask is {mask.shape[1]}x{mask.shape[0]} (WxH) but the frame is {size[1]}x{size[0]}.",
                field=f"{field}.mask",
            )
        if not mask.any():
            raise PropagationInputError(f"{field}.mask is empty: paint the object first.", field=f"{field}.mask")
        out.append((rle, label.strip()))
    return out


def tracker_settings(config: BackendConfig) -> TrackerSettings:
    """The configuration's `models.tracker`; `TrackerUnavailableError` when there is none."""
    if config.models.tracker is None:
        raise TrackerUnavailableError(f"{config.source or 'the configuration'}: {NOT_CONFIGURED}")
    return config.models.tracker


def _picture_size(frame: StoredFrame) -> tuple[int, int]:
    """(H, W) of a stored picture, read from its header (nothing decoded)."""
    try:
        with frame.open() as handle, Image.open(handle) as image:
            width, height = image.size
    except FileNotFoundError:
        raise MediaError(f"Frame {frame.index} is missing from media storage.") from None
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise MediaError(f"Frame {frame.index} cannot be read as a picture ({exc}).") from exc
    return int(height), int(width)


def propagate_stored_clip(
    *,
    config_path: str | os.PathLike[str],
    frames: Sequence[StoredFrame],
    audio: Opener | None,
    fps: float,
    source_frame_index: int,
    instances: Sequence[Any],
    direction: str = "forward",
    end_frame_index: int | None = None,
    labels: Sequence[str] = (),
    max_frames: int | None = None,
    progress: Progress | None = None,
    name: str = "",
    cache: ModelCache | None = None,
    policy: ModelPolicy | None = None,
    tracker: Any = None,
    tagger: Any = None,
) -> Iterator[dict[str, Any]]:
    """Propagate `instances` (`[{"mask": COCO RLE of the frames' size, "label": str}]`) from the stored frame
    `source_frame_index` through the range (`propagation_order`); see the module docstring for the results, the
    checks and the errors. Everything is checked and the models are loaded before this returns; the frames are read
    and tracked as the iterator is consumed.

    `frames`: the clip's stored frames (`StoredFrame(index, timestamp, open)`, any order); `audio`: an opener of
    its mono 16-bit WAV track, None without one; `fps`: frame k's window is [k/fps, (k+1)/fps). `labels`: the
    project's labels (they join CLAP's vocabulary, with the instances' labels). `progress(done, total)` is called
    after each frame. `tracker` / `tagger` replace the configured models (tests: a tagger with known tags)."""
    from ml_backend.foundation.registry import load_context, process_cache  # torch: loaded on first use

    order = propagation_order(
        [f.index for f in frames],
        source_frame_index=source_frame_index,
        direction=direction,
        end_frame_index=end_frame_index,
        max_frames=max_frames,
    )
    by_index = {int(f.index): f for f in frames}
    size = _picture_size(by_index[source_frame_index])
    checked = prompts_check(instances, size=size)
    policy = current_policy() if policy is None else policy
    config = load_config(config_path, policy=policy)
    settings = tracker_settings(config)
    cache = process_cache if cache is None else cache
    cache.apply(policy)
    context = load_context(config, policy)
    if tracker is None:
        tracker = cache.get("tracker", settings, context)
    if tagger is None and audio is not None:
        tagger = cache.get("clap", config.models.clap, context)
    prompts = [_Prompt(mask=rle_to_mask(rle), label=label) for rle, label in checked]
    return _propagate(
        tracker=tracker,
        tagger=tagger,
        config=config,
        frames=frames,
        audio=audio,
        fps=float(fps),
        order=order,
        prompts=prompts,
        labels=labels,
        progress=progress,
        name=name,
    )


def _propagate(
    *,
    tracker: Any,
    tagger: Any,
    config: BackendConfig,
    frames: Sequence[StoredFrame],
    audio: Opener | None,
    fps: float,
    order: list[int],
    prompts: list[_Prompt],
    labels: Sequence[str],
    progress: Progress | None,
    name: str,
) -> Iterator[dict[str, Any]]:
    from ml_backend.foundation.prompt_translation import audioset_vocabulary, default_av_tree
    from ml_backend.foundation.tracking import TrackedMask
    from ml_backend.pipelines.openavs import sound_vocabulary, sounding_tags

    settings = config.pipeline
    tree = default_av_tree()
    reader = StoredFrames(frames, name=name)
    track = WavAudio(audio, name="audio track") if audio is not None else None
    with ClipSource(frames=reader, audio=track, fps=fps, source=name) as clip:
        positions = {int(index): p for p, index in enumerate(clip.frames.indexes)}
        heard: dict[int, tuple[float, AudioTags]] = {}  # frame index -> (window RMS, kept tags)
        if clip.has_audio:
            ascending = sorted(order)
            levels: list[float] = []

            def windows() -> Iterator[np.ndarray]:
                for index in ascending:
                    window = clip.audio_window(positions[index])
                    levels.append(window_rms(window))
                    yield window

            vocabulary = sound_vocabulary(
                settings.vocabulary or audioset_vocabulary(), [*(p.label for p in prompts), *labels]
            )
            tags = tagger.tag(windows(), sample_rate=clip.sample_rate, vocabulary=vocabulary, top_k=settings.top_k)
            assert len(tags) == len(levels) == len(ascending)
            for index, rms, window_tags in zip(ascending, levels, tags, strict=True):
                kept = sounding_tags(
                    AudioTags(frame_index=index, tags=window_tags.tags),
                    rms,
                    min_window_rms=settings.min_window_rms,
                    min_tag_score=settings.min_tag_score,
                )
                heard[index] = (rms, kept)

        session = None
        for step, index in enumerate(order):
            image = clip.frames.read(positions[index])
            if session is None:  # the source frame: its masks are the prompts themselves
                session = tracker.start(image, [p.mask for p in prompts])
                tracked = [
                    TrackedMask(mask=p.mask, probability=None, confidence=1.0, object_score=float("inf"))
                    for p in prompts
                ]
            else:
                tracked = session.track(image)
            del image  # nothing of this frame is kept but its masks
            yield _frame_result(
                index=index,
                timestamp=float(clip.timestamps[positions[index]]),
                prompts=prompts,
                tracked=tracked,
                heard=heard.get(index),
                tracker=tracker,
                tree=tree,
                settings=settings,
            )
            if progress is not None:
                progress(step + 1, len(order))


def _tags(tags: AudioTags) -> list[list[Any]]:
    return [[t.label, round(t.score, 6)] for t in tags.tags]


def _frame_result(
    *,
    index: int,
    timestamp: float,
    prompts: list[_Prompt],
    tracked: list[TrackedMask],
    heard: tuple[float, AudioTags] | None,
    tracker: Any,
    tree: AvTree,
    settings: PipelineSettings,
) -> dict[str, Any]:
    """One frame's result (module docstring). `heard`: the window's RMS and kept tags, None without audio."""
    from ml_backend.pipelines.openavs import silence_reason, supporting_tags

    if heard is None:  # no audio track
        rms, kept, window_reason = None, AudioTags(frame_index=index, tags=[]), "the clip has no audio track"
    else:
        rms, kept = heard
        window_reason = silence_reason(
            rms, kept, min_window_rms=settings.min_window_rms, min_tag_score=settings.min_tag_score
        )
    window_tags = _tags(kept)
    provenance: dict[str, Any] = {
        "rms": round(rms, 6) if rms is not None else None,
        "silent": rms is None or rms < settings.min_window_rms,
        "audio_tags": window_tags,
    }
    if window_reason is not None:
        provenance["reason"] = window_reason
    instances = []
    for k, (prompt, result) in enumerate(zip(prompts, tracked, strict=True)):
        supported = [] if window_reason is not None else supporting_tags(prompt.label, kept.tags, tree)
        reason = window_reason
        if reason is None and not supported:
            reason = f"none of this window's audio tags supports '{prompt.label}' in the audio-visual tree"
        confidence = round(float(result.confidence), 6)
        score = result.object_score
        instances.append(
            {
                "track": k,
                "label": prompt.label,
                "mask": mask_to_rle(result.mask),
                "area": int(result.mask.sum()),
                "confidence": confidence,
                "score": confidence,
                "sounding": bool(supported),
                "low_confidence": confidence < tracker.min_confidence,
                "provenance": {
                    "rms": provenance["rms"],
                    "audio_tags": window_tags,
                    "supported_by": [t.label for t in supported],
                    "reason": reason,
                    "tracker": tracker.name,
                    "object_score": round(float(score), 6) if np.isfinite(score) else None,
                },
            }
        )
    return {
        "frame_index": index,
        "timestamp": timestamp,
        "silent": not any(i["sounding"] for i in instances),
        "low_confidence": any(i["low_confidence"] for i in instances),
        "provenance": provenance,
        "instances": instances,
    }
