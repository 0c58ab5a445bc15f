"""Masks -> the same objects on the next frames: a video mask tracker (SAM 2 video, or SAM 3's tracker) streamed
one frame at a time, with memory that does not grow with the number of frames.

`VideoTracker` wraps transformers' `Sam2VideoModel` + `Sam2VideoProcessor` (or `Sam3TrackerVideoModel` +
`Sam3TrackerVideoProcessor`, the same interface). `tracker.start(image, masks)` opens a `TrackingSession` on the
source frame with one H×W bool mask per object; each `session.track(image)` then gives the objects on the next frame
in tracking order (forward or backward through the clip: the session does not know, it sees frames in the order it
is given them, step 1, 2, ...).

Bounded memory (the model's own session keeps every frame it was given, and every frame's outputs): a session
gives the model one frame at a time (streaming) and, after each step, drops that frame's pixels, keeps the image
features of `FEATURE_CACHE_FRAMES` frames, and forgets the outputs of frames the model can no longer attend to
(older than `num_maskmem` memory frames and `max_object_pointers_in_encoder` object pointers back); the source
frame's outputs (the prompts' memory) stay. Peak memory is that of a few frames, however long the range.

Per object and frame (`TrackedMask`): `mask` H×W bool (mask logit > 0, i.e. foreground probability above 0.5, where
the tracker's object score says the object is there), `probability` H×W float32 (sigmoid of the logits, upsampled to
the frame) and `confidence`, the mean probability inside the mask (0.0 for an empty mask: the object is lost).
The source frame's objects are the prompt masks themselves (confidence 1.0).

Loading: `{"kind": "sam2_video" | "sam3_tracker_video", "path": dir}` (a `save_pretrained` directory), through the
shared loading rules (`ml_backend.foundation.loading`): local only unless the network is allowed, weights checked
against the model, `ModelLoadError` naming `models.tracker.path`, placement (CUDA + float16 when present, else CPU).
The folder's model must be of the kind (config.json's model_type, `MODEL_TYPES`): "sam2_video" loads SAM 2 video
(e.g. facebook/sam2.1-hiera-tiny), "sam3_tracker_video" SAM 3's tracker, saved alone (model_type
"sam3_tracker_video") or inside SAM 3 video (model_type "sam3_video", the facebook/sam3 layout: its detector's weights
are left out; the folder also needs the video processor's video_preprocessor_config.json). Another model is refused
naming `models.tracker.kind`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ml_backend.foundation.config import TrackerSettings
from ml_backend.foundation.loading import (
    FollowsModel,
    LoadContext,
    ModelLoadError,
    Placement,
    load_pretrained,
    local_model_type,
    model_name,
)

SETTING = "models.tracker.path"
CLASSES = {  # kind -> (model class, processor class) in transformers
    "sam2_video": ("Sam2VideoModel", "Sam2VideoProcessor"),
    "sam3_tracker_video": ("Sam3TrackerVideoModel", "Sam3TrackerVideoProcessor"),
}
MODEL_TYPES = {  # kind -> the config.json model_types it loads
    "sam2_video": ("sam2_video",),
    "sam3_tracker_video": ("sam3_tracker_video", "sam3_video"),
}
FEATURE_CACHE_FRAMES = 1  # image features a session keeps: every frame is embedded once and used by one step


@dataclass
class TrackedMask:
    """One object on one frame. mask: H×W bool; probability: H×W float32 in [0, 1] (None for a prompt mask);
    confidence: mean probability inside the mask (1.0 for a prompt mask, 0.0 for an empty mask); object_score: the
    tracker's logit that the object is visible (> 0: visible)."""

    mask: np.ndarray
    probability: np.ndarray | None
    confidence: float
    object_score: float


class VideoTracker(FollowsModel):
    """model: a transformers `Sam2VideoModel` (or `Sam3TrackerVideoModel`) in eval mode; processor: its processor.
    Inputs go to `placement` (default: where the model is). `min_confidence`: below it a mask is flagged
    (`TrackingSession` callers read it); `name`: the model's short name for provenance."""

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        placement: Placement | None = None,
        name: str = "sam2_video",
        kind: str = "sam2_video",
        min_confidence: float = 0.5,
    ) -> None:
        self.model = model
        self.processor = processor
        self.placement = placement  # None: follow the model
        self.name = name
        self.kind = kind
        self.min_confidence = min_confidence

    @property
    def memory_frames(self) -> int:
        """Past frames whose outputs a step can read: memory frames and object pointers (the source frame aside)."""
        config = self.model.config
        return max(int(config.num_maskmem), int(config.max_object_pointers_in_encoder))

    def pixel_values(self, image: np.ndarray) -> torch.Tensor:
        """The model's input for one H×W×3 uint8 RGB frame: 3×S×S float32 (resized and normalised by the
        processor), on the CPU (the session moves it)."""
        if not image.flags.writeable:  # a decoded frame may be read-only; torch wants to own writable memory
            image = image.copy()
        return self.processor(images=image, return_tensors="pt")["pixel_values"][0]

    def start(self, image: np.ndarray, masks: Sequence[np.ndarray]) -> TrackingSession:
        """A session tracking one object per mask (H×W bool, the frame's size, not empty) from `image` (H×W×3
        uint8 RGB, the source frame). Raises `ValueError` for masks that do not fit the frame or are empty."""
        session = TrackingSession(self, size=(int(image.shape[0]), int(image.shape[1])))
        session.prompt(image, masks)
        return session


class TrackingSession:
    """One propagation (see the module docstring): `prompt` once on the source frame, then `track` each next frame.
    `steps` counts the frames given so far (the source frame is step 0)."""

    def __init__(self, tracker: VideoTracker, *, size: tuple[int, int]) -> None:
        self.tracker = tracker
        self.size = size
        self.steps = 0
        placement = tracker.placement
        self.state = tracker.processor.init_video_session(
            inference_device=placement.torch_device,
            dtype=placement.torch_dtype,
            max_vision_features_cache_size=FEATURE_CACHE_FRAMES,
        )
        self.num_objects = 0

    def prompt(self, image: np.ndarray, masks: Sequence[np.ndarray]) -> list[TrackedMask]:
        """Step 0: the objects' masks on the source frame. Returns them as given (confidence 1.0)."""
        if self.steps:
            raise RuntimeError("a session is prompted once, on its source frame")
        if not masks:
            raise ValueError("give at least one mask to track")
        prompts = []
        for k, mask in enumerate(masks):
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != self.size:
                raise ValueError(
                    f"mask {k} is {mask.shape[1]}×{mask.shape[0]} but the frame is {self.size[1]}×{self.size[0]}"
                )
            if not mask.any():
                raise ValueError(f"mask {k} is empty: there is nothing to track")
            prompts.append(mask)
        self.num_objects = len(prompts)
        self.tracker.processor.add_inputs_to_inference_session(
            self.state,
            frame_idx=0,
            obj_ids=list(range(self.num_objects)),
            input_masks=[torch.from_numpy(m) for m in prompts],
            original_size=self.size,
        )
        self._step(image)
        return [TrackedMask(mask=m, probability=None, confidence=1.0, object_score=float("inf")) for m in prompts]

    def track(self, image: np.ndarray) -> list[TrackedMask]:
        """The objects on the next frame (H×W×3 uint8 RGB, the source frame's size), one per prompt mask in order."""
        if not self.steps:
            raise RuntimeError("prompt the session on its source frame first")
        if tuple(image.shape[:2]) != self.size:
            raise ValueError(
                f"the frame is {image.shape[1]}×{image.shape[0]} but the source frame is {self.size[1]}×{self.size[0]}"
            )
        logits, scores = self._step(image)
        out = []
        for k in range(self.num_objects):
            probability = torch.sigmoid(logits[k, 0]).cpu().numpy().astype(np.float32)
            present = bool(scores[k] > 0)
            mask = (logits[k, 0] > 0).cpu().numpy() if present else np.zeros(self.size, dtype=bool)
            confidence = float(probability[mask].mean()) if mask.any() else 0.0
            out.append(TrackedMask(mask=mask, probability=probability, confidence=confidence, object_score=scores[k]))
        return out

    @torch.inference_mode()
    def _step(self, image: np.ndarray) -> tuple[torch.Tensor, list[float]]:
        """Run the model on the next frame; returns the N×1×H×W float32 mask logits at the frame's size and the N
        object scores. Then forgets what no later step reads."""
        tracker, step = self.tracker, self.steps
        pixels = tracker.pixel_values(image)
        with tracker.placement.autocast():
            out = tracker.model(inference_session=self.state, frame=pixels, frame_idx=step)
        logits = tracker.processor.post_process_masks(
            [out.pred_masks.float()], original_sizes=[list(self.size)], binarize=False
        )[0]
        scores = out.object_score_logits.float().reshape(-1).tolist()
        self.steps += 1
        self._forget(step)
        return logits, scores

    def _forget(self, step: int) -> None:
        """Drop the frame just used and the outputs of frames beyond the model's memory (the source frame's stay)."""
        state = self.state
        state.processed_frames.pop(step, None)
        oldest = step - self.tracker.memory_frames  # outputs of frames before this one are never read again
        for outputs in state.output_dict_per_obj.values():
            for index in [i for i in outputs["non_cond_frame_outputs"] if i < oldest]:
                del outputs["non_cond_frame_outputs"][index]
        for tracked in state.frames_tracked_per_obj.values():
            for index in [i for i in tracked if i < oldest]:
                del tracked[index]

    def held_frames(self) -> int:
        """Frames whose pixels, features or outputs the session holds now (tests check that it stays bounded)."""
        state = self.state
        indexes = set(state.processed_frames or {}) | set(state.cache._vision_features)
        for outputs in state.output_dict_per_obj.values():
            indexes |= set(outputs["non_cond_frame_outputs"]) | set(outputs["cond_frame_outputs"])
        return len(indexes)


def build_video_tracker(settings: TrackerSettings, context: LoadContext) -> VideoTracker:
    """Load the tracker of `settings.kind` from `settings.path`; raises `ModelLoadError` naming models.tracker.path
    (or models.tracker.kind, for a model of another kind)."""
    found = local_model_type(settings.path)
    if found is not None and found not in MODEL_TYPES[settings.kind]:
        fits = [kind for kind, types in MODEL_TYPES.items() if found in types]
        hint = f"set models.tracker.kind to {fits[0]!r}" if fits else "expected a SAM 2 video or SAM 3 tracker model"
        raise ModelLoadError(
            SETTING,
            settings.path,
            f"this is a {found!r} model, which models.tracker.kind {settings.kind!r} does not load: {hint}",
        )
    model_class, processor_class = CLASSES[settings.kind]
    model, processor = load_pretrained(
        settings.path,
        setting=SETTING,
        context=context,
        model_class=model_class,
        processor_class=processor_class,
        vocab_size=None,  # pictures only: no tokenizer
    )
    return VideoTracker(
        model,
        processor,
        placement=context.placement,
        name=model_name(settings.path),
        kind=settings.kind,
        min_confidence=settings.min_confidence,
    )
