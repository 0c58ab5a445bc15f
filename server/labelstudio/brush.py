"""Masks between Label Studio and AVS Studio: Label Studio's brush RLE ↔ our COCO RLE, exact.

Label Studio's brush RLE (`label_studio_sdk.converter.brush`) encodes the mask as a flattened H×W×4 RGBA byte array
in row-major order; the mask is the alpha channel. We write masks with `mask2rle` (every channel 255 inside) and read
them with `decode_rle`, keeping alpha ≥ 128. The stream's first 32 bits carry its length; it is read and checked
against the frame before anything is decoded, so a malformed or oversized stream never allocates more than the
frame's own size.

The SDK is imported on first use: the web server starts without it, and only the bridge needs it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from server.core.errors import ApplicationError
from server.core.masks import rle_decode, rle_encode

BRUSH_TYPE = "brushlabels"
ALPHA_THRESHOLD = 128


class BrushError(ApplicationError):
    """A brush result that cannot be a mask of its frame (400, saying what is wrong)."""


def brush_encode(mask: np.ndarray) -> list[int]:
    """H×W mask (bool or 0/1) → Label Studio brush RLE (a list of byte values)."""
    from label_studio_sdk.converter.brush import mask2rle

    array = (np.asarray(mask) > 0).astype(np.uint8) * 255
    if array.ndim != 2:
        raise ValueError(f"a mask must be 2-D, not {array.ndim}-D")
    return [int(v) for v in mask2rle(array)]


def brush_length(rle: Any) -> int:
    """The number of values a brush RLE says it holds (its first 32 bits); ValueError when it is no brush RLE."""
    if not isinstance(rle, list) or len(rle) < 4:
        raise ValueError("a brush RLE is a list of at least 4 byte values")
    head = rle[:4]
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in head):
        raise ValueError("a brush RLE holds byte values (integers 0..255)")
    return int.from_bytes(bytes(head), "big")


def brush_decode(rle: Any, *, height: int, width: int, field: str = "rle") -> np.ndarray:
    """Label Studio brush RLE → H×W bool mask of a `height`×`width` frame. Raises BrushError (400) naming `field`
    when the RLE is not a list of bytes, holds a picture of another size, or is truncated."""
    from label_studio_sdk.converter.brush import decode_rle

    try:
        num = brush_length(rle)
    except ValueError as exc:
        raise BrushError(f"{field}: {exc}.", {"field": field}) from None
    expected = height * width * 4
    if num != expected:
        size = f"{num // 4} pixels" if num % 4 == 0 else f"{num} values, not whole RGBA pixels"
        raise BrushError(
            f"{field}: the brush mask holds {size} but the frame is {width}x{height} (WxH, "
            f"{height * width} pixels); draw it on this frame's image.",
            {"field": field, "frame_size": [height, width]},
        )
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in rle):
        raise BrushError(f"{field}: a brush RLE holds byte values (integers 0..255).", {"field": field})
    try:
        flat = decode_rle(rle)
    except (IndexError, ValueError) as exc:  # the stream ends inside a run
        raise BrushError(f"{field}: the brush RLE is truncated or malformed ({exc}).", {"field": field}) from None
    if flat.size != expected:
        raise BrushError(f"{field}: the brush RLE decodes to {flat.size} values, not {expected}.", {"field": field})
    return flat.reshape(height, width, 4)[:, :, 3] >= ALPHA_THRESHOLD


def coco_to_brush(rle: dict[str, Any]) -> list[int]:
    """Our COCO RLE `{"size": [H, W], "counts"}` → Label Studio brush RLE of the same pixels."""
    return brush_encode(rle_decode(rle))


def brush_to_coco(rle: Any, *, height: int, width: int, field: str = "rle") -> dict[str, Any]:
    """Label Studio brush RLE → our canonical COCO RLE of a `height`×`width` frame (BrushError when it cannot be)."""
    return rle_encode(brush_decode(rle, height=height, width=width, field=field))


def brush_result(
    *,
    mask: dict[str, Any],
    label: str,
    from_name: str,
    to_name: str,
    score: float | None = None,
    result_id: str | None = None,
) -> dict[str, Any]:
    """One Label Studio `brushlabels` result for an instance of ours (mask in COCO RLE)."""
    height, width = mask["size"]
    result: dict[str, Any] = {
        "from_name": from_name,
        "to_name": to_name,
        "type": BRUSH_TYPE,
        "original_width": int(width),
        "original_height": int(height),
        "image_rotation": 0,
        "value": {"format": "rle", "rle": coco_to_brush(mask), "brushlabels": [label]},
    }
    if score is not None:
        result["score"] = float(score)
    if result_id is not None:
        result["id"] = result_id
    return result


def instances_from_results(
    results: Any, *, height: int, width: int, from_name: str | None = None
) -> list[dict[str, Any]]:
    """Label Studio results → our instances `[{"mask", "label"}]` for a `height`×`width` frame.

    Only `brushlabels` results count (keypoints and rectangles are SAM prompts, not annotations); with `from_name`
    only that control's. Raises BrushError (400) naming the result for a malformed result, one without a label, or a
    mask drawn on a picture of another size."""
    if not isinstance(results, list):
        raise BrushError("result must be a list of Label Studio results.", {"field": "result"})
    instances = []
    for k, result in enumerate(results):
        field = f"result[{k}]"
        if not isinstance(result, dict):
            raise BrushError(f"{field} must be an object.", {"field": field})
        if result.get("type") != BRUSH_TYPE or (from_name is not None and result.get("from_name") != from_name):
            continue
        value = result.get("value")
        if not isinstance(value, dict):
            raise BrushError(f"{field}.value must be an object.", {"field": f"{field}.value"})
        for key, expected in (("original_width", width), ("original_height", height)):
            given = result.get(key)
            if given is not None and given != expected:
                raise BrushError(
                    f"{field} was drawn on a {result.get('original_width')}x{result.get('original_height')} picture "
                    f"but the frame is {width}x{height} (WxH).",
                    {"field": f"{field}.{key}", "frame_size": [height, width]},
                )
        labels = value.get("brushlabels")
        if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x.strip() for x in labels):
            raise BrushError(f"{field}.value.brushlabels must name the label.", {"field": f"{field}.value.brushlabels"})
        if value.get("format", "rle") != "rle":
            raise BrushError(f"{field}.value.format must be rle.", {"field": f"{field}.value.format"})
        mask = brush_to_coco(value.get("rle"), height=height, width=width, field=f"{field}.value.rle")
        instances.append({"mask": mask, "label": labels[0].strip()})
    return instances
