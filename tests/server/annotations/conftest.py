"""Fixtures for the annotation, proposal and review APIs. Frames from FrameFactory are 64×48
(height 48, width 64), so masks are built at that size."""

from __future__ import annotations

import numpy as np

from server.core.masks import rle_encode

FRAME_SHAPE = (48, 64)  # (H, W) of FrameFactory's images


def box_mask(top: int, left: int, bottom: int, right: int, shape: tuple[int, int] = FRAME_SHAPE) -> dict:
    """COCO RLE of an H×W mask that is 1 on rows [top, bottom) and columns [left, right)."""
    mask = np.zeros(shape, dtype=bool)
    mask[top:bottom, left:right] = True
    return rle_encode(mask)
