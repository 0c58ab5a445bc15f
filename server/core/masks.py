"""Masks are stored as COCO RLE: `{"size": [H, W], "counts": str}` (column-major, pycocotools).

`rle_validate` is the one gate every stored mask passes: its size must equal the frame's
`(height, width)` and its counts must decode to exactly H×W pixels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from server.core.errors import ApplicationError


def rle_encode(mask: np.ndarray) -> dict[str, Any]:
    """H×W bool/uint8 array → JSON-safe COCO RLE with `counts` as str."""
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {mask.shape}")
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def rle_decode(rle: dict[str, Any]) -> np.ndarray:
    """COCO RLE → H×W uint8 array of 0/1."""
    counts = rle["counts"]
    if isinstance(counts, list):
        compressed = mask_utils.frPyObjects({"size": rle["size"], "counts": counts}, *rle["size"])
    else:
        compressed = {"size": rle["size"], "counts": counts.encode("ascii")}
    return mask_utils.decode(compressed)


def rle_area(rle: dict[str, Any]) -> int:
    return int(mask_utils.area({"size": rle["size"], "counts": rle["counts"].encode("ascii")}))


def rle_validate(rle: Any, *, height: int, width: int, field: str = "mask") -> dict[str, Any]:
    """Check a client-supplied RLE against the frame size; return it normalised (str counts).

    Accepts compressed string counts or uncompressed integer-list counts.
    Raises ApplicationError (400) naming the field and both sizes on any mismatch.
    """
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise ApplicationError(f"{field} must be a COCO RLE object with 'size' and 'counts'.", {"field": field})
    size = rle["size"]
    if not (isinstance(size, list | tuple) and len(size) == 2 and all(isinstance(v, int) for v in size)):
        raise ApplicationError(f"{field}.size must be [height, width].", {"field": field})
    if [size[0], size[1]] != [height, width]:
        raise ApplicationError(
            f"{field} is {size[0]}x{size[1]} (HxW) but the frame is {height}x{width}.",
            {"field": field, "mask_size": list(size), "frame_size": [height, width]},
        )
    counts = rle["counts"]
    try:
        if isinstance(counts, list):
            if not all(isinstance(c, int) and c >= 0 for c in counts) or sum(counts) != height * width:
                raise ValueError("counts do not sum to H*W")
            decoded = rle_decode({"size": [height, width], "counts": counts})
            return rle_encode(decoded)
        if not isinstance(counts, str):
            raise ValueError("counts must be a string or a list of integers")
        decoded = rle_decode({"size": [height, width], "counts": counts})
        if decoded.shape != (height, width):
            raise ValueError("decoded shape mismatch")
        # Re-encode to reject counts that decode but overrun the image.
        if int(decoded.sum()) != rle_area({"size": [height, width], "counts": counts}):
            raise ValueError("counts overrun the image")
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise ApplicationError(f"{field} has invalid RLE counts: {exc}.", {"field": field}) from exc
    return {"size": [height, width], "counts": counts}


def _compressed(rle: dict[str, Any]) -> dict[str, Any]:
    counts = rle["counts"]
    if isinstance(counts, list):
        return mask_utils.frPyObjects({"size": rle["size"], "counts": counts}, *rle["size"])
    return {"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def rle_union_iou(first: list[dict[str, Any]], second: list[dict[str, Any]], *, height: int, width: int) -> float:
    """IoU of the union of the masks `first` and the union of the masks `second`, all H×W COCO RLE.

    Computed on the run-length encodings (nothing is decoded). Two empty unions agree perfectly: 1.0.
    Raises ValueError when a mask is not H×W.
    """
    unions = []
    for masks in (first, second):
        rles = [_compressed(m) for m in masks]
        for rle in rles:
            if [int(v) for v in rle["size"]] != [height, width]:
                raise ValueError(f"a mask is {rle['size'][0]}x{rle['size'][1]} (HxW), expected {height}x{width}")
        if not rles:
            rles = [mask_utils.encode(np.zeros((height, width), dtype=np.uint8, order="F"))]
        unions.append(mask_utils.merge(rles, intersect=False) if len(rles) > 1 else rles[0])
    a, b = unions
    union_area = float(mask_utils.area(mask_utils.merge([a, b], intersect=False)))
    if union_area == 0:
        return 1.0
    return float(mask_utils.area(mask_utils.merge([a, b], intersect=True))) / union_area
