"""Label Studio brush RLE ↔ our COCO RLE (`server.labelstudio.brush`): exact both ways, bad streams refused."""

from __future__ import annotations

import numpy as np
import pytest

from server.core.masks import rle_decode, rle_encode
from server.labelstudio.brush import (
    BrushError,
    brush_decode,
    brush_encode,
    brush_result,
    brush_to_coco,
    coco_to_brush,
    instances_from_results,
)

SIZES = [(7, 13), (1, 1), (31, 17), (2, 3), (48, 64)]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("density", [0.05, 0.5, 0.95])
def test_random_masks_round_trip_exactly(size, density):
    rng = np.random.default_rng(hash((size, density)) % 2**32)
    mask = rng.random(size) < density
    coco = rle_encode(mask)

    brush = coco_to_brush(coco)
    back = brush_to_coco(brush, height=size[0], width=size[1])

    assert back == coco
    assert np.array_equal(rle_decode(back), mask)
    # and the other way: Label Studio's own stream decodes to the same pixels and encodes back to the same stream
    assert np.array_equal(brush_decode(brush, height=size[0], width=size[1]), mask)
    assert brush_encode(brush_decode(brush, height=size[0], width=size[1])) == brush


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("fill", [False, True])
def test_empty_and_full_masks_round_trip(size, fill):
    mask = np.full(size, fill, dtype=bool)
    brush = coco_to_brush(rle_encode(mask))
    decoded = brush_decode(brush, height=size[0], width=size[1])
    assert decoded.shape == size
    assert decoded.all() if fill else not decoded.any()


def test_a_label_studio_drawn_stream_reads_alpha():
    """Label Studio's editor paints RGBA strokes; only alpha decides (≥ 128 inside)."""
    from label_studio_sdk.converter.brush import encode_rle

    rgba = np.zeros((3, 5, 4), dtype=np.uint8)
    rgba[1, 2] = [10, 20, 30, 255]  # painted
    rgba[0, 0] = [255, 255, 255, 40]  # faint stroke edge: outside
    stream = [int(v) for v in encode_rle(rgba.ravel())]
    mask = brush_decode(stream, height=3, width=5)
    assert mask.sum() == 1 and mask[1, 2]


def test_wrong_size_is_refused_with_the_sizes():
    brush = coco_to_brush(rle_encode(np.ones((7, 13), dtype=bool)))
    with pytest.raises(BrushError) as err:
        brush_decode(brush, height=13, width=8)
    assert err.value.status == 400
    assert "holds 91 pixels but the frame is 8x13" in err.value.message


def test_truncated_stream_is_refused():
    rng = np.random.default_rng(3)
    brush = coco_to_brush(rle_encode(rng.random((31, 17)) < 0.5))
    with pytest.raises(BrushError, match="truncated or malformed"):
        brush_decode(brush[: len(brush) // 2], height=31, width=17)


def test_oversized_header_is_refused_before_decoding():
    stream = [0x7F, 0xFF, 0xFF, 0xFF, 1, 2, 3]  # claims 2^31 values
    with pytest.raises(BrushError, match="frame is 13x7"):
        brush_decode(stream, height=7, width=13)


@pytest.mark.parametrize("bad", [None, "abc", [1, 2], [0, 0, 1, 300, 5], [0.5, 0, 0, 4]])
def test_non_streams_are_refused(bad):
    with pytest.raises(BrushError, match="rle"):
        brush_decode(bad, height=2, width=2)


def test_results_to_instances_keep_brushes_of_the_mask_control_only():
    mask = np.zeros((7, 13), dtype=bool)
    mask[2:5, 3:9] = True
    coco = rle_encode(mask)
    results = [
        brush_result(mask=coco, label="dog", from_name="mask", to_name="image"),
        {"type": "keypointlabels", "from_name": "point", "value": {"x": 5, "y": 5, "keypointlabels": ["dog"]}},
        brush_result(mask=coco, label="other", from_name="elsewhere", to_name="image"),
    ]
    instances = instances_from_results(results, height=7, width=13, from_name="mask")
    assert instances == [{"mask": coco, "label": "dog"}]


def test_results_of_another_picture_size_are_refused():
    result = brush_result(mask=rle_encode(np.ones((7, 13), dtype=bool)), label="dog", from_name="mask", to_name="image")
    with pytest.raises(BrushError, match="drawn on a 13x7 picture but the frame is 13x8"):
        instances_from_results([result], height=8, width=13)
