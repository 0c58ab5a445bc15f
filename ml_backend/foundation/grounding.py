"""Text -> boxes: open-vocabulary detection of the clip's nouns on one frame.

Two detectors with one interface, `detect(image, nouns) -> list[Box]` (XYXY pixels of `image`, best first):
- `GroundingDinoDetector` (transformers Grounding DINO): the nouns form one prompt "dog. car. emergency car.";
  each query's score for a noun is its best token probability inside that noun's span of the prompt; the
  query goes to the best noun when that score reaches `text_threshold`, and is kept when it reaches
  `box_threshold` (0.25, the OpenAVS setting).
- `Owlv2Detector` (transformers OWLv2): one text query per noun; a box's score is its sigmoid logit for its best
  noun, kept from `box_threshold`.
Both suppress same-noun boxes overlapping more than `nms_iou` and keep at most `max_boxes` per frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image

from ml_backend.foundation.config import GroundingSettings
from ml_backend.foundation.loading import (
    FollowsModel,
    LoadContext,
    Placement,
    load_pretrained,
    model_name,
)
from ml_backend.types import Box

SETTING = "models.grounding.path"


class Detector(Protocol):
    name: str

    def detect(self, image: np.ndarray, nouns: Sequence[str]) -> list[Box]: ...


def prompt_text(noun: str) -> str:
    """How a noun is written in a detector prompt: 'emergency-car' -> 'emergency car'."""
    return " ".join(noun.replace("-", " ").replace("_", " ").lower().split())


def _select(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    noun_ids: torch.Tensor,
    nouns: Sequence[str],
    *,
    nms_iou: float,
    max_boxes: int,
) -> list[Box]:
    """Same-noun NMS, then the `max_boxes` best. boxes: N×4 XYXY pixels; scores, noun_ids: (N,)."""
    from torchvision.ops import batched_nms

    if boxes.numel() == 0:
        return []
    keep = batched_nms(boxes.float(), scores.float(), noun_ids, nms_iou)[:max_boxes]
    return [
        Box(xyxy=tuple(float(v) for v in boxes[i].tolist()), score=float(scores[i]), noun=nouns[int(noun_ids[i])])
        for i in keep.tolist()
    ]


def _clip_boxes(cxcywh: torch.Tensor, *, width: float, height: float, scale: float | None = None) -> torch.Tensor:
    """Normalised (cx, cy, w, h) -> XYXY pixels clipped to the image. `scale` (default W, H) maps [0, 1] to pixels."""
    cx, cy, w, h = cxcywh.float().unbind(-1)
    sx, sy = (scale, scale) if scale is not None else (width, height)
    xyxy = torch.stack([(cx - w / 2) * sx, (cy - h / 2) * sy, (cx + w / 2) * sx, (cy + h / 2) * sy], dim=-1)
    xyxy[:, 0::2] = xyxy[:, 0::2].clamp(0, width)
    xyxy[:, 1::2] = xyxy[:, 1::2].clamp(0, height)
    return xyxy


class GroundingDinoDetector(FollowsModel):
    """model: `GroundingDinoForObjectDetection` (eval); processor: its `GroundingDinoProcessor`. Inputs go to
    `placement`, by default where the model is."""

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        placement: Placement | None = None,
        name: str = "grounding_dino",
        box_threshold: float = 0.25,
        text_threshold: float = 0.25,
        max_boxes: int = 20,
        nms_iou: float = 0.7,
    ) -> None:
        self.model = model
        self.processor = processor
        self.placement = placement  # None: follow the model
        self.name = name
        self.box_threshold = box_threshold
        self.text_threshold = text_threshold
        self.max_boxes = max_boxes
        self.nms_iou = nms_iou

    def prompt(self, nouns: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
        """The prompt "a. b." and each noun's (start, end) character span in it."""
        text, spans = "", []
        for noun in nouns:
            written = prompt_text(noun)
            spans.append((len(text), len(text) + len(written)))
            text += written + ". "
        return text.strip(), spans

    @torch.inference_mode()
    def detect(self, image: np.ndarray, nouns: Sequence[str]) -> list[Box]:
        """Boxes of `nouns` on `image` (H×W×3 uint8 RGB), XYXY pixels, best first."""
        if not nouns:
            return []
        height, width = image.shape[:2]
        text, spans = self.prompt(nouns)
        inputs = self.processor(images=Image.fromarray(image), text=text, return_tensors="pt")
        offsets = self.processor.tokenizer(text, return_offsets_mapping=True)["offset_mapping"]
        assert len(offsets) == inputs["input_ids"].shape[1], "the processor tokenized the prompt differently"
        token_noun = torch.full((len(offsets),), -1, dtype=torch.long)  # which noun each token belongs to
        for t, (start, end) in enumerate(offsets):
            for n, (s, e) in enumerate(spans):
                if end > start and start >= s and end <= e:
                    token_noun[t] = n
        inputs = inputs.to(self.placement.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.placement.torch_dtype)
        with self.placement.autocast():
            outputs = self.model(**inputs)
        probs = outputs.logits[0, :, : len(offsets)].float().sigmoid().cpu()  # Q×T
        per_noun = torch.stack(
            [
                probs[:, token_noun == n].max(dim=1).values if (token_noun == n).any() else torch.zeros(len(probs))
                for n in range(len(nouns))
            ],
            dim=1,
        )  # Q×N
        scores, noun_ids = per_noun.max(dim=1)
        keep = (scores >= self.box_threshold) & (scores >= self.text_threshold)
        boxes = _clip_boxes(outputs.pred_boxes[0].cpu(), width=width, height=height)
        return _select(boxes[keep], scores[keep], noun_ids[keep], nouns, nms_iou=self.nms_iou, max_boxes=self.max_boxes)


class Owlv2Detector(FollowsModel):
    """model: `Owlv2ForObjectDetection` (eval); processor: its `Owlv2Processor`. Inputs go to `placement`, by
    default where the model is.

    OWLv2 pads the image to a square (bottom/right) before resizing, so its normalised boxes scale by max(H, W).
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        placement: Placement | None = None,
        name: str = "owlv2",
        box_threshold: float = 0.25,
        max_boxes: int = 20,
        nms_iou: float = 0.7,
    ) -> None:
        self.model = model
        self.processor = processor
        self.placement = placement  # None: follow the model
        self.name = name
        self.box_threshold = box_threshold
        self.max_boxes = max_boxes
        self.nms_iou = nms_iou

    @torch.inference_mode()
    def detect(self, image: np.ndarray, nouns: Sequence[str]) -> list[Box]:
        """Boxes of `nouns` on `image` (H×W×3 uint8 RGB), XYXY pixels, best first."""
        if not nouns:
            return []
        height, width = image.shape[:2]
        queries = [f"a photo of a {prompt_text(noun)}" for noun in nouns]
        inputs = self.processor(text=[queries], images=Image.fromarray(image), return_tensors="pt")
        inputs = inputs.to(self.placement.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.placement.torch_dtype)
        with self.placement.autocast():
            outputs = self.model(**inputs)
        scores, noun_ids = outputs.logits[0].float().sigmoid().cpu().max(dim=1)  # (Q,)
        keep = scores >= self.box_threshold
        boxes = _clip_boxes(outputs.pred_boxes[0].cpu(), width=width, height=height, scale=float(max(width, height)))
        return _select(boxes[keep], scores[keep], noun_ids[keep], nouns, nms_iou=self.nms_iou, max_boxes=self.max_boxes)


def build_grounding_detector(settings: GroundingSettings, context: LoadContext) -> Detector:
    """Load the detector `settings.kind` names ("grounding_dino" | "owlv2") from `settings.path`;
    raises `ModelLoadError`."""
    owl = settings.kind == "owlv2"
    model, processor = load_pretrained(
        settings.path,
        setting=SETTING,
        context=context,
        model_class="Owlv2ForObjectDetection" if owl else "GroundingDinoForObjectDetection",
        processor_class="Owlv2Processor" if owl else "GroundingDinoProcessor",
        vocab_size=lambda config: config.text_config.vocab_size,
    )
    common = dict(
        placement=context.placement,
        name=model_name(settings.path),
        box_threshold=settings.box_threshold,
        max_boxes=settings.max_boxes,
        nms_iou=settings.nms_iou,
    )
    if owl:
        return Owlv2Detector(model, processor, **common)
    return GroundingDinoDetector(model, processor, text_threshold=settings.text_threshold, **common)
