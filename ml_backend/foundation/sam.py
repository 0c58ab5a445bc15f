"""Boxes -> masks with segment-anything's SAM: embed a frame ONCE, then answer all its box prompts in one call.

`SamSegmenter` is a stateful-free facade over `Sam`'s modules (the flow of `SamPredictor`, with dtype handling
for half precision on CUDA): `embed(image)` runs the image encoder once and returns a `SamImageEmbedding`
that can be reused (e.g. by the interactive click endpoint); `predict_boxes(embedding, boxes)` batches every box
through the prompt encoder and mask decoder in one call.

Loading: `{"type": "vit_b", "checkpoint": path}` builds a registry size; `{"builder": "module:function",
"checkpoint": path}` calls a builder returning an uninitialised `Sam` (other sizes, tiny test models): one of
ml_backend's own `build_*` functions, or any function when the process allows custom builders
(`LoadContext.allow_custom_builders`, from `ModelPolicy`; refused before the module is imported). The
checkpoint is a `state_dict` saved with `torch.save`, loaded with `weights_only=True`.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ml_backend.foundation.config import SamSettings
from ml_backend.foundation.loading import (
    FollowsModel,
    LoadContext,
    ModelLoadError,
    Placement,
    load_errors,
    require_file,
)
from ml_backend.foundation.policy import builder_refusal

SETTING = "models.sam.checkpoint"


@dataclass
class SamImageEmbedding:
    """One frame's image embedding. features: 1×C×h×w (C=256, h=w=64 for full-size SAM);
    input_size: (H', W') of the resized frame fed to the encoder; original_size: (H, W) of the frame."""

    features: torch.Tensor
    input_size: tuple[int, int]
    original_size: tuple[int, int]

    def pooled(self, *, img_size: int) -> np.ndarray:
        """(C,) float32: `features` averaged over the h×w grid cells that cover the frame (the encoder's input is
        the resized frame padded to `img_size`² at the bottom and right; cells of padding only are left out)."""
        _, _, h, w = self.features.shape
        rows = max(1, min(h, math.ceil(self.input_size[0] * h / img_size)))
        cols = max(1, min(w, math.ceil(self.input_size[1] * w / img_size)))
        return self.features[0, :, :rows, :cols].float().mean(dim=(-2, -1)).cpu().numpy().astype(np.float32)


@dataclass
class SamMasks:
    """masks: N×H×W bool; probabilities: N×H×W float32 (sigmoid of the mask logits); iou: (N,) predicted IoU."""

    masks: np.ndarray
    probabilities: np.ndarray
    iou: np.ndarray


class SamSegmenter(FollowsModel):
    """model: a segment-anything `Sam` (eval; inputs go to `placement`, default: where the model is)."""

    def __init__(self, model: Any, *, placement: Placement | None = None, name: str = "sam") -> None:
        from segment_anything.utils.transforms import ResizeLongestSide

        self.model = model
        self.placement = placement  # None: follow the model
        self.name = name
        self.transform = ResizeLongestSide(model.image_encoder.img_size)

    @torch.inference_mode()
    def embed(self, image: np.ndarray) -> SamImageEmbedding:
        """Run the image encoder once on `image` (H×W×3 uint8 RGB)."""
        resized = self.transform.apply_image(image)
        pixels = torch.as_tensor(resized, device=self.placement.torch_device).permute(2, 0, 1)[None].float()
        with self.placement.autocast():
            features = self.model.image_encoder(self.model.preprocess(pixels).to(self.placement.torch_dtype))
        return SamImageEmbedding(features, (resized.shape[0], resized.shape[1]), (image.shape[0], image.shape[1]))

    @torch.inference_mode()
    def predict_boxes(self, embedding: SamImageEmbedding, boxes: np.ndarray) -> SamMasks:
        """One mask per box. boxes: N×4 XYXY pixels of the original frame; all N in one decoder call."""
        height, width = embedding.original_size
        if len(boxes) == 0:
            empty = np.zeros((0, height, width))
            return SamMasks(empty.astype(bool), empty.astype(np.float32), np.zeros(0, dtype=np.float32))
        box_tensor = torch.as_tensor(np.asarray(boxes, dtype=np.float32), device=self.placement.torch_device)
        box_tensor = self.transform.apply_boxes_torch(box_tensor, embedding.original_size)
        with self.placement.autocast():
            sparse, dense = self.model.prompt_encoder(points=None, boxes=box_tensor, masks=None)
            low_res, iou = self.model.mask_decoder(
                image_embeddings=embedding.features,
                image_pe=self.model.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=False,
            )
        logits = self.model.postprocess_masks(low_res.float(), embedding.input_size, embedding.original_size)[:, 0]
        probabilities = logits.sigmoid().cpu().numpy().astype(np.float32)
        return SamMasks(
            masks=(logits > self.model.mask_threshold).cpu().numpy(),
            probabilities=probabilities,
            iou=iou[:, 0].float().cpu().numpy(),
        )

    def pooled(self, embedding: SamImageEmbedding) -> np.ndarray:
        """(C,) float32 pooled embedding of one frame (`SamImageEmbedding.pooled` at this model's input size)."""
        return embedding.pooled(img_size=int(self.model.image_encoder.img_size))

    def segment(self, image: np.ndarray, boxes: np.ndarray) -> SamMasks:
        """`predict_boxes(embed(image), boxes)`."""
        return self.predict_boxes(self.embed(image), boxes)


def resolve_builder(spec: str, *, allow_custom: bool = False) -> Any:
    """ "package.module:function" -> the function (raises ValueError with the reason).

    Only ml_backend's own `build_*` functions unless `allow_custom` (`ModelPolicy.allow_custom_builders`): any other
    module is refused before it is imported (importing a module runs its code).
    """
    refusal = builder_refusal(spec, allow_custom=allow_custom)
    if refusal is not None:
        raise ValueError(refusal)
    module_name, _, attr = spec.partition(":")
    try:
        builder = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot import {spec!r} ({exc})") from exc
    if not callable(builder):
        raise ValueError(f"{spec!r} is not a function")
    return builder


def build_sam_model(settings: SamSettings, *, allow_custom_builders: bool = False) -> Any:
    """An uninitialised `Sam` from `settings.builder` or the registry size `settings.type` (no weights)."""
    if settings.builder:
        try:
            builder = resolve_builder(settings.builder, allow_custom=allow_custom_builders)
        except ValueError as exc:
            raise ModelLoadError("models.sam.builder", settings.builder, str(exc)) from exc
        try:
            model = builder()
        except Exception as exc:  # a builder is arbitrary code: report whatever it raised
            raise ModelLoadError(
                "models.sam.builder", settings.builder, f"the builder failed ({type(exc).__name__}: {exc})"
            ) from exc
        if not isinstance(model, torch.nn.Module):
            raise ModelLoadError(
                "models.sam.builder", settings.builder, f"the builder returned a {type(model).__name__}, not a SAM"
            )
        return model
    from segment_anything import sam_model_registry

    if settings.type not in sam_model_registry:
        raise ModelLoadError(
            "models.sam.type",
            str(settings.type),
            f"unknown SAM size: use one of {', '.join(sam_model_registry)} or a builder",
        )
    return sam_model_registry[settings.type](checkpoint=None)


def build_sam_segmenter(settings: SamSettings, context: LoadContext) -> SamSegmenter:
    """Build SAM and load `settings.checkpoint`; raises `ModelLoadError` naming the setting and path."""
    checkpoint = require_file(settings.checkpoint, setting=SETTING)
    model = build_sam_model(settings, allow_custom_builders=context.allow_custom_builders)
    with load_errors(SETTING, settings.checkpoint):
        state_dict = torch.load(checkpoint, map_location="cpu", weights_only=True)
        if not isinstance(state_dict, dict):
            raise TypeError(f"expected a state_dict, found a {type(state_dict).__name__}")
    _check_fits(model.state_dict(), state_dict, settings)
    model.load_state_dict(state_dict)
    model.to(device=context.placement.torch_device, dtype=context.placement.torch_dtype).eval()
    return SamSegmenter(model, placement=context.placement, name=checkpoint.stem)


def _check_fits(expected: dict[str, torch.Tensor], found: dict[str, Any], settings: SamSettings) -> None:
    """Raise `ModelLoadError` when a checkpoint's weights do not match the built SAM (another size or model)."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    reshaped = [k for k in expected if k in found and tuple(getattr(found[k], "shape", ())) != tuple(expected[k].shape)]
    if missing or unexpected or reshaped:
        built = f"builder {settings.builder}" if settings.builder else f"type {settings.type}"
        raise ModelLoadError(
            SETTING,
            settings.checkpoint,
            f"the checkpoint does not fit the SAM built from {built}: {len(missing)} weights missing, "
            f"{len(reshaped)} of another shape, {len(unexpected)} unexpected (is it another SAM size?)",
        )
