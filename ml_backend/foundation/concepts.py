"""Text -> masks: SAM 3 segments every instance of a short noun phrase ("dog", "emergency car") on a frame, in place
of Grounding DINO boxes + SAM masks (`models.segmenter`, kind "sam3").

Two modes, one interface: `segmenter.start_clip(nouns)` opens a `ConceptSession` for a clip's nouns (the translator's,
named once per clip); `session.segment(image, nouns)` gives the instances of `nouns` (a subset of the clip's) on the
next frame of the clip, frames in clip order, plus the frame's pooled image embedding; `session.close()` frees it.

- mode "frame" (`Sam3ConceptSegmenter`, transformers `Sam3Model` + `Sam3Processor`): each frame alone. Per frame ONE
  vision-encoder forward (also for frames where no noun is asked for: its pooled embedding is kept), then ONE
  batched DETR + mask-decoder call for the nouns asked for there; each noun's text embedding is computed once per
  clip (`start_clip`). Only the nouns asked for on a frame are prompted there.
- mode "video" (`Sam3VideoSegmenter`, transformers `Sam3VideoModel`): SAM 3 video over the clip, streamed one frame at
  a time; its detector finds the clip's nouns on every frame and its tracker (SAM 2-style memory) carries each object
  from frame to frame, so an object keeps its `object_id` through the clip. Every frame goes through the model with
  all the clip's nouns (the tracker needs every frame to keep identities); a frame reports only the objects of the
  nouns asked for there.

Scores and masks (SAM 3's own conventions): a detection's score is its instance probability × the presence
probability (that the concept is on the frame at all); mode "frame" keeps detections scoring at least
`score_threshold`, at most `max_masks` per noun, best first; mode "video" gives `score_threshold` to the model as its
detection threshold (new objects also need the checkpoint's `new_det_thresh`, if higher), reports each object's
detection score and the tracker's per-frame score that the object is visible, and tracks at most `max_objects`
objects. A mask is its logits upsampled (bilinear) from the model's low-resolution mask (288×288 for full-size SAM 3)
to the frame, `probability` their sigmoid and `mask` the pixels whose probability exceeds `mask_threshold`;
detections whose mask is empty are dropped. Boxes are XYXY pixels of the frame.

Bounded memory in mode "video": the model's session keeps every frame given to it and every frame's outputs; after
each frame the session here drops that frame's pixels (its key stays: the model counts the frames seen by them) and
whatever the model can no longer read (outputs of frames
more than `max(num_maskmem, max_object_pointers_in_encoder)` frames back, all but the `KEPT_CONDITIONING_FRAMES` most
recent conditioning outputs per object, per-frame score tables beyond that window), and keeps the image features of
one frame. Peak memory is a few frames' worth, however long the clip.

Pooled embedding (`ConceptFrame.pooled`, kind `VISUAL_KIND`): the vision encoder's stride-1 FPN level (C = 256 for
full-size SAM 3, the level the DETR encoder reads) averaged over its grid; SAM 3 resizes a frame to a square without
padding, so every cell covers the frame.

Loading (`build_concept_segmenter`): `models.segmenter.path` is a `save_pretrained` directory: the SAM 3 video layout
(model_type "sam3_video", e.g. facebook/sam3, which serves both modes) or an image-only SAM 3 (model_type "sam3",
mode "frame" only), with a `Sam3Processor` (image processor + CLIP tokenizer). Through the shared loading rules
(`ml_backend.foundation.loading`): local only unless the network is allowed, weights and tokenizer checked,
`ModelLoadError` naming `models.segmenter.path`, placement (CUDA + float16 when present, else CPU + float32).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from ml_backend.foundation.config import SegmenterSettings
from ml_backend.foundation.loading import (
    FollowsModel,
    LoadContext,
    ModelLoadError,
    Placement,
    load_pretrained,
    local_model_type,
    model_name,
)

SETTING = "models.segmenter.path"
VISUAL_KIND = "sam3-mean"  # `ConceptFrame.pooled`: SAM 3's stride-1 FPN features averaged over the grid (C,)
POOLED_LEVEL = 2  # index of the stride-1 level among the FPN levels (scale factors 4, 2, 1, 0.5)
TEXT_LENGTH = 32  # SAM 3 pads every prompt to 32 tokens (its text encoder's context)
KEPT_CONDITIONING_FRAMES = 16  # mode "video": conditioning outputs kept per object (the most recent ones)
MODEL_TYPES = {"frame": ("sam3", "sam3_video"), "video": ("sam3_video",)}  # config.json model_type each mode loads
_DROPPED = torch.empty(0)  # mode "video": what stays of a frame's pixels once the model has processed it


@dataclass
class ConceptMask:
    """One instance of a concept on a frame. mask: H×W bool; probability: H×W float32 in [0, 1]; score: SAM 3's
    (instance × presence probability); xyxy: its box in pixels of the frame. Mode "video" adds `object_id` (the same
    object keeps it through the clip) and `tracker_score` (the tracker's probability that the object is visible on
    this frame; None on the frame that detected it)."""

    noun: str
    mask: np.ndarray
    probability: np.ndarray
    score: float
    xyxy: tuple[float, float, float, float]
    object_id: int | None = None
    tracker_score: float | None = None


@dataclass
class ConceptFrame:
    """What a session found on one frame: `masks` (nouns in the order asked, best first within a noun) and the
    frame's pooled image embedding, (C,) float32 (`VISUAL_KIND`)."""

    masks: list[ConceptMask]
    pooled: np.ndarray


class ConceptSession(Protocol):
    def segment(self, image: np.ndarray, nouns: Sequence[str]) -> ConceptFrame: ...

    def close(self) -> None: ...


class ConceptSegmenter(Protocol):
    """What the OpenAVS pipeline needs of a concept segmenter (see the module docstring)."""

    name: str
    kind: str
    mode: str
    visual_kind: str

    def start_clip(self, nouns: Sequence[str]) -> ConceptSession: ...


def _masks_from_logits(
    logits: torch.Tensor, *, size: tuple[int, int], mask_threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """(masks N×H×W bool, probabilities N×H×W float32) from N×h×w mask logits, upsampled to `size` (H, W)."""
    if logits.shape[0] == 0:
        empty = np.zeros((0, *size), dtype=np.float32)
        return empty.astype(bool), empty
    upsampled = torch.nn.functional.interpolate(
        logits[:, None].float(), size=size, mode="bilinear", align_corners=False
    )[:, 0]
    probabilities = upsampled.sigmoid().cpu().numpy().astype(np.float32)
    return probabilities > mask_threshold, probabilities


def _pooled(fpn_hidden_states: Sequence[torch.Tensor]) -> np.ndarray:
    """(C,) float32: the stride-1 FPN level of one frame (1×C×h×w) averaged over its grid."""
    level = fpn_hidden_states[min(POOLED_LEVEL, len(fpn_hidden_states) - 1)]
    return level[0].float().mean(dim=(-2, -1)).cpu().numpy().astype(np.float32)


class _Sam3Base(FollowsModel):
    """What both modes share: the processor, the thresholds, the frame preprocessing and the prompts' tokens."""

    kind = "sam3"
    visual_kind = VISUAL_KIND

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        placement: Placement | None = None,
        name: str = "sam3",
        score_threshold: float = 0.5,
        mask_threshold: float = 0.5,
        max_masks: int = 20,
    ) -> None:
        self.model = model
        self.processor = processor
        self.placement = placement  # None: follow the model
        self.name = name
        self.score_threshold = score_threshold
        self.mask_threshold = mask_threshold
        self.max_masks = max_masks

    def pixel_values(self, image: np.ndarray) -> torch.Tensor:
        """1×3×S×S: one H×W×3 uint8 RGB frame resized (to a square, no padding) and normalised by the processor, on
        the model's device in its dtype."""
        if not image.flags.writeable:  # e.g. a frame read from a memory map: torch wants a writable array
            image = image.copy()
        pixels = self.processor.image_processor(images=image, return_tensors="pt")["pixel_values"]
        return pixels.to(self.placement.torch_device, dtype=self.placement.torch_dtype)

    def tokens(self, nouns: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(input_ids, attention_mask), N×32 each, of the nouns as SAM 3 reads them ("emergency-car" -> "emergency
        car"), on the model's device."""
        from ml_backend.foundation.grounding import prompt_text

        encoded = self.processor.tokenizer(
            [prompt_text(noun) for noun in nouns],
            padding="max_length",
            max_length=TEXT_LENGTH,
            truncation=True,
            return_tensors="pt",
        )
        device = self.placement.torch_device
        return encoded["input_ids"].to(device), encoded["attention_mask"].to(device)


class Sam3ConceptSegmenter(_Sam3Base):
    """Mode "frame". model: a transformers `Sam3Model` (eval); processor: its `Sam3Processor`. Inputs go to
    `placement`, by default where the model is."""

    mode = "frame"

    def start_clip(self, nouns: Sequence[str]) -> Sam3FrameSession:
        """A session for a clip whose nouns are `nouns`: their text embeddings are computed now, once."""
        return Sam3FrameSession(self, nouns)

    @torch.inference_mode()
    def text_embeddings(self, nouns: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(N×32×D text features projected to the detector's width, N×32 attention mask) of `nouns`."""
        input_ids, attention_mask = self.tokens(nouns)
        with self.placement.autocast():
            features = self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask)
        return features.pooler_output, attention_mask

    @torch.inference_mode()
    def segment(
        self, image: np.ndarray, nouns: Sequence[str], text: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> ConceptFrame:
        """Instances of `nouns` on `image` (H×W×3 uint8 RGB). `text`: their `text_embeddings` (computed here when
        None)."""
        from transformers.modeling_outputs import BaseModelOutputWithPooling
        from transformers.models.sam3.modeling_sam3 import Sam3VisionEncoderOutput

        size = (int(image.shape[0]), int(image.shape[1]))
        with self.placement.autocast():
            vision = self.model.get_vision_features(pixel_values=self.pixel_values(image))
        pooled = _pooled(vision.fpn_hidden_states)
        if not nouns:
            return ConceptFrame(masks=[], pooled=pooled)
        features, attention_mask = text if text is not None else self.text_embeddings(nouns)
        count = len(nouns)
        assert features.shape[0] == count == attention_mask.shape[0]
        batched = Sam3VisionEncoderOutput(  # the frame's features, once per noun (views, no copies)
            fpn_hidden_states=tuple(f.expand(count, -1, -1, -1) for f in vision.fpn_hidden_states),
            fpn_position_encoding=tuple(p.expand(count, -1, -1, -1) for p in vision.fpn_position_encoding),
        )
        with self.placement.autocast():
            outputs = self.model(
                vision_embeds=batched,
                text_embeds=BaseModelOutputWithPooling(pooler_output=features),
                attention_mask=attention_mask,
            )
        scores = outputs.pred_logits.float().sigmoid()  # N×Q
        if outputs.presence_logits is not None:
            scores = scores * outputs.presence_logits.float().sigmoid()  # N×1: is the concept on the frame at all
        height, width = size
        scale = torch.tensor([width, height, width, height], dtype=torch.float32)
        masks: list[ConceptMask] = []
        for n, noun in enumerate(nouns):
            order = torch.argsort(scores[n], descending=True)
            keep = order[scores[n][order] >= self.score_threshold][: self.max_masks]
            binary, probabilities = _masks_from_logits(
                outputs.pred_masks[n, keep], size=size, mask_threshold=self.mask_threshold
            )
            boxes = (outputs.pred_boxes[n, keep].float().cpu() * scale).clamp(min=0)
            for j, query in enumerate(keep.tolist()):
                if not binary[j].any():
                    continue
                x0, y0, x1, y1 = (float(v) for v in boxes[j])
                masks.append(
                    ConceptMask(
                        noun=noun,
                        mask=binary[j],
                        probability=probabilities[j],
                        score=float(scores[n, query]),
                        xyxy=(min(x0, width), min(y0, height), min(x1, width), min(y1, height)),
                    )
                )
        return ConceptFrame(masks=masks, pooled=pooled)


class Sam3FrameSession:
    """A clip in mode "frame": the clip's nouns' text embeddings, computed once; each frame is segmented alone."""

    def __init__(self, segmenter: Sam3ConceptSegmenter, nouns: Sequence[str]) -> None:
        self.segmenter = segmenter
        self.nouns = list(dict.fromkeys(nouns))
        self._features, self._attention = (
            segmenter.text_embeddings(self.nouns) if self.nouns else (torch.zeros(0), torch.zeros(0))
        )

    def segment(self, image: np.ndarray, nouns: Sequence[str]) -> ConceptFrame:
        """The instances of `nouns` (some of the clip's nouns) on the clip's next frame."""
        unknown = [noun for noun in nouns if noun not in self.nouns]
        if unknown:
            raise ValueError(f"nouns {unknown} are not among the clip's nouns {self.nouns}")
        if not nouns:
            return self.segmenter.segment(image, [])
        rows = torch.tensor([self.nouns.index(noun) for noun in nouns], device=self._features.device)
        return self.segmenter.segment(image, nouns, text=(self._features[rows], self._attention[rows]))

    def close(self) -> None:
        self._features = self._attention = torch.zeros(0)


class Sam3VideoSegmenter(_Sam3Base):
    """Mode "video". model: a transformers `Sam3VideoModel` (eval; its detection threshold and object cap are set
    by `build_concept_segmenter`); processor: a `Sam3Processor` (the frames' image processor and the tokenizer).
    Inputs go to `placement`, by default where the model is."""

    mode = "video"

    def start_clip(self, nouns: Sequence[str]) -> Sam3VideoSession:
        """A streaming SAM 3 video session prompted with `nouns` (every one of them on every frame)."""
        return Sam3VideoSession(self, nouns)

    @property
    def memory_frames(self) -> int:
        """Past frames whose outputs the tracker can read (memory frames and object pointers)."""
        config = self.model.config.tracker_config
        return max(int(config.num_maskmem), int(config.max_object_pointers_in_encoder))


@dataclass
class _Capture:
    """The pooled vision-encoder output of the frame being processed (a forward hook, on for one frame)."""

    pooled: np.ndarray | None = None

    def __call__(self, module: Any, args: Any, output: Any) -> None:
        self.pooled = _pooled(output.fpn_hidden_states)


class Sam3VideoSession:
    """A clip in mode "video" (see the module docstring): frames go to the model one at a time, in clip order."""

    def __init__(self, segmenter: Sam3VideoSegmenter, nouns: Sequence[str]) -> None:
        from transformers.models.sam3_video.modeling_sam3_video import Sam3VideoInferenceSession

        self.segmenter = segmenter
        self.nouns = list(dict.fromkeys(nouns))
        placement = segmenter.placement
        self.state = Sam3VideoInferenceSession(
            inference_device=placement.torch_device,
            inference_state_device=placement.torch_device,
            video_storage_device=placement.torch_device,
            dtype=placement.torch_dtype,
            max_vision_features_cache_size=1,
        )
        self.noun_of: dict[int, str] = {}  # the model's prompt id -> noun
        if self.nouns:
            input_ids, attention_mask = segmenter.tokens(self.nouns)
            for n, noun in enumerate(self.nouns):
                prompt_id = self.state.add_prompt(noun)
                self.state.prompt_input_ids[prompt_id] = input_ids[n : n + 1]
                self.state.prompt_attention_masks[prompt_id] = attention_mask[n : n + 1]
                self.noun_of[prompt_id] = noun
        self.frames = 0  # frames given to the model so far (the next frame's index in the session)

    @torch.inference_mode()
    def segment(self, image: np.ndarray, nouns: Sequence[str]) -> ConceptFrame:
        """The clip's next frame through SAM 3 video; the objects of `nouns` (some of the clip's nouns) on it."""
        unknown = [noun for noun in nouns if noun not in self.nouns]
        if unknown:
            raise ValueError(f"nouns {unknown} are not among the clip's nouns {self.nouns}")
        segmenter = self.segmenter
        size = (int(image.shape[0]), int(image.shape[1]))
        pixels = segmenter.pixel_values(image)
        index = self.frames
        self.frames += 1
        capture = _Capture()  # the model runs its vision encoder inside: its output is pooled on the way
        hook = segmenter.model.detector_model.vision_encoder.register_forward_hook(capture)
        try:
            with segmenter.placement.autocast():
                if not self.nouns:  # nothing to detect or track: the frame's embedding only
                    segmenter.model.detector_model.get_vision_features(pixel_values=pixels)
                    output = None
                else:
                    output = segmenter.model(inference_session=self.state, frame=pixels[0], frame_idx=index)
        finally:
            hook.remove()
        assert capture.pooled is not None
        if output is None:
            return ConceptFrame(masks=[], pooled=capture.pooled)
        hidden = set(output.suppressed_obj_ids or ()) | set(output.removed_obj_ids or ())
        hidden |= set(self.state.hotstart_removed_obj_ids)
        wanted = set(nouns)
        found: dict[str, list[tuple[int, torch.Tensor]]] = {noun: [] for noun in nouns}
        for object_id, low_res in output.obj_id_to_mask.items():
            noun = self.noun_of.get(self.state.obj_id_to_prompt_id.get(int(object_id), -1))
            if object_id in hidden or noun not in wanted:
                continue
            found[noun].append((int(object_id), low_res[0]))
        masks: list[ConceptMask] = []
        for noun in nouns:
            objects = sorted(found[noun], key=lambda o: -float(output.obj_id_to_score.get(o[0], 0.0)))
            objects = objects[: segmenter.max_masks]
            logits = torch.stack([low for _, low in objects]) if objects else torch.zeros(0, 1, 1)
            binary, probabilities = _masks_from_logits(logits, size=size, mask_threshold=segmenter.mask_threshold)
            for (object_id, _), mask, probability in zip(objects, binary, probabilities, strict=True):
                if not mask.any():
                    continue
                ys, xs = np.nonzero(mask)
                tracker = (output.obj_id_to_tracker_score or {}).get(object_id)
                masks.append(
                    ConceptMask(
                        noun=noun,
                        mask=mask,
                        probability=probability,
                        score=float(output.obj_id_to_score.get(object_id, 0.0)),
                        xyxy=(float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)),
                        object_id=object_id,
                        tracker_score=float(tracker) if tracker is not None else None,
                    )
                )
        self._forget(index)
        return ConceptFrame(masks=masks, pooled=capture.pooled)

    def _forget(self, index: int) -> None:
        """Drop what the model can no longer read after frame `index` (see the module docstring)."""
        state = self.state
        state.processed_frames[index] = _DROPPED  # the key stays: the model counts the clip's frames by them
        oldest = index - self.segmenter.memory_frames
        for outputs in state.output_dict_per_obj.values():
            for frame in [f for f in outputs["non_cond_frame_outputs"] if f < oldest]:
                del outputs["non_cond_frame_outputs"][frame]
            conditioning = sorted(outputs["cond_frame_outputs"])
            for frame in conditioning[:-KEPT_CONDITIONING_FRAMES]:
                del outputs["cond_frame_outputs"][frame]
        for per_frame in (
            *state.frames_tracked_per_obj.values(),
            *state.mask_inputs_per_obj.values(),
            *state.point_inputs_per_obj.values(),
            state.obj_id_to_tracker_score_frame_wise,
            state.suppressed_obj_ids,
        ):
            for frame in [f for f in per_frame if f < oldest]:
                del per_frame[frame]
        for frames in (*state.unmatched_frame_inds.values(), *state.overlap_pair_to_frame_inds.values()):
            frames[:] = [f for f in frames if f >= oldest]

    def close(self) -> None:
        """Free the session's state."""
        self.state.reset_state()
        self.state.processed_frames = None


def _text_vocabulary(config: Any) -> int:
    detector = getattr(config, "detector_config", None) or config
    return int(detector.text_config.vocab_size)


def build_concept_segmenter(settings: SegmenterSettings, context: LoadContext) -> ConceptSegmenter:
    """Load the SAM 3 `settings.path` names for `settings.mode`; raises `ModelLoadError` naming the setting and path."""
    found = local_model_type(settings.path)
    expected = MODEL_TYPES[settings.mode]
    if found is not None and found not in expected:
        hint = (
            "mode 'video' needs the SAM 3 video layout (model_type 'sam3_video', e.g. facebook/sam3); "
            "use mode 'frame' with an image-only SAM 3"
            if found == "sam3"
            else "expected a SAM 3 model saved with save_pretrained() (e.g. facebook/sam3)"
        )
        raise ModelLoadError(SETTING, settings.path, f"this is a {found!r} model: {hint}")
    video = settings.mode == "video"
    model, processor = load_pretrained(
        settings.path,
        setting=SETTING,
        context=context,
        model_class="Sam3VideoModel" if video else "Sam3Model",
        processor_class="Sam3Processor",
        vocab_size=_text_vocabulary,
    )
    common = dict(
        placement=context.placement,
        name=model_name(settings.path),
        score_threshold=settings.score_threshold,
        mask_threshold=settings.mask_threshold,
        max_masks=settings.max_masks,
    )
    if not video:
        return Sam3ConceptSegmenter(model, processor, **common)
    model.score_threshold_detection = settings.score_threshold
    model.new_det_thresh = max(float(model.new_det_thresh), settings.score_threshold)
    model.max_num_objects = settings.max_objects
    return Sam3VideoSegmenter(model, processor, **common)
