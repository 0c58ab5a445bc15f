"""Fixtures for the annotation, proposal and review APIs. Frames from FrameFactory are 64×48
(height 48, width 64), so masks are built at that size."""

from __future__ import annotations

import numpy as np
import pytest

from server.core.masks import rle_encode
from tests.factories import UserFactory

FRAME_SHAPE = (48, 64)  # (H, W) of FrameFactory's images


def box_mask(top: int, left: int, bottom: int, right: int, shape: tuple[int, int] = FRAME_SHAPE) -> dict:
    """COCO RLE of an H×W mask that is 1 on rows [top, bottom) and columns [left, right)."""
    mask = np.zeros(shape, dtype=bool)
    mask[top:bottom, left:right] = True
    return rle_encode(mask)


@pytest.fixture
def actor(make_member):
    """`actor(project, who)` → a user (None for "anonymous"): "outsider" is a signed-in non-member,
    "superuser" a non-member superuser, any other value a member with that role."""

    def make(project, who: str):
        if who == "anonymous":
            return None
        if who == "outsider":
            return UserFactory()
        if who == "superuser":
            return UserFactory(is_superuser=True)
        return make_member(project, role=who)

    return make
