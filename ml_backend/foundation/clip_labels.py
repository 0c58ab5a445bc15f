"""OV-AVSS-style labelling: CLIP classifies each mask's crop against an object vocabulary.

A crop is the mask's bounding box with the pixels outside the mask set to the crop's mean colour, so CLIP
sees the object rather than its surroundings. All crops of a frame go through CLIP in one batch; text
embeddings of the vocabulary are computed once per label and kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from ml_backend.foundation.config import ClipSettings
from ml_backend.foundation.grounding import prompt_text
from ml_backend.foundation.loading import (
    FollowsModel,
    LoadContext,
    Placement,
    load_pretrained,
    model_name,
)
from ml_backend.types import AudioTag

SETTING = "models.clip.path"


def masked_crop(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The bounding box of `mask` (H×W bool) cut from `image` (H×W×3 uint8), outside-mask pixels greyed out."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return image
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    crop = image[y0:y1, x0:x1].copy()
    inside = mask[y0:y1, x0:x1]
    crop[~inside] = crop[inside].mean(axis=0).astype(np.uint8)
    return crop


class ClipLabeller(FollowsModel):
    """model: a transformers `CLIPModel` (eval); processor: its `CLIPProcessor`. Inputs go to `placement`, by
    default where the model is."""

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        placement: Placement | None = None,
        name: str = "clip",
        template: str = "a photo of a {}.",
    ) -> None:
        self.model = model
        self.processor = processor
        self.placement = placement  # None: follow the model
        self.name = name
        self.template = template
        self._text_embeddings: dict[str, torch.Tensor] = {}

    @torch.inference_mode()
    def embed_texts(self, labels: Sequence[str]) -> torch.Tensor:
        """L×D unit text embeddings; labels seen before are not recomputed."""
        missing = [label for label in dict.fromkeys(labels) if label not in self._text_embeddings]
        if missing:
            prompts = [self.template.format(prompt_text(label)) for label in missing]
            inputs = self.processor.tokenizer(prompts, padding=True, truncation=True, return_tensors="pt")
            inputs = inputs.to(self.placement.device)
            with self.placement.autocast():
                features = _pooled(self.model.get_text_features(**inputs))
            features = torch.nn.functional.normalize(features.float(), dim=-1)
            self._text_embeddings.update(zip(missing, features, strict=True))
        return torch.stack([self._text_embeddings[label] for label in labels])

    @torch.inference_mode()
    def label(self, image: np.ndarray, masks: Sequence[np.ndarray], vocabulary: Sequence[str]) -> list[AudioTag]:
        """Best vocabulary entry and its probability (softmax over `vocabulary`) for each H×W bool mask."""
        if not masks:
            return []
        if not vocabulary:
            raise ValueError("the object vocabulary is empty")
        texts = self.embed_texts(vocabulary)
        crops = [Image.fromarray(masked_crop(image, mask)) for mask in masks]
        pixels = self.processor.image_processor(images=crops, return_tensors="pt")["pixel_values"]
        pixels = pixels.to(self.placement.torch_device, self.placement.torch_dtype)
        with self.placement.autocast():
            features = _pooled(self.model.get_image_features(pixel_values=pixels))
        features = torch.nn.functional.normalize(features.float(), dim=-1)
        probs = (self.model.logit_scale.detach().float().exp() * features @ texts.T).softmax(dim=-1).cpu()
        scores, indices = probs.max(dim=-1)
        return [AudioTag(vocabulary[i], float(s)) for s, i in zip(scores.tolist(), indices.tolist(), strict=True)]


def _pooled(output: Any) -> torch.Tensor:
    """transformers 5 returns a model output with `pooler_output`; older versions a tensor."""
    return output.pooler_output if hasattr(output, "pooler_output") else output


def build_clip_labeller(settings: ClipSettings, context: LoadContext) -> ClipLabeller:
    """Load CLIP (`CLIPModel` + `CLIPProcessor`) from `settings.path`; raises `ModelLoadError`."""
    model, processor = load_pretrained(
        settings.path,
        setting=SETTING,
        context=context,
        model_class="CLIPModel",
        processor_class="CLIPProcessor",
        vocab_size=lambda config: config.text_config.vocab_size,
    )
    return ClipLabeller(
        model, processor, placement=context.placement, name=model_name(settings.path), template=settings.template
    )
