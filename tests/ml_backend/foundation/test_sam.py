"""Box prompts -> masks with one image embedding per frame (ml_backend.foundation.sam) on the tiny SAM."""

from __future__ import annotations

import numpy as np

IMAGE = np.random.default_rng(1).integers(0, 255, (48, 80, 3), dtype=np.uint8)  # H=48, W=80


def test_all_boxes_of_a_frame_share_one_image_encoder_pass(tiny):
    segmenter = tiny("sam")
    calls = []
    hooks = [
        segmenter.model.image_encoder.register_forward_hook(lambda *_: calls.append("encoder")),
        segmenter.model.mask_decoder.register_forward_hook(lambda *_: calls.append("decoder")),
    ]
    try:
        boxes = np.array([[0, 0, 40, 24], [10, 5, 79, 47], [30, 20, 50, 40]], dtype=np.float32)
        result = segmenter.segment(IMAGE, boxes)
    finally:
        for hook in hooks:
            hook.remove()
    assert calls == ["encoder", "decoder"]
    assert result.masks.shape == result.probabilities.shape == (3, 48, 80)
    assert result.masks.dtype == bool and result.iou.shape == (3,)
    assert np.array_equal(result.masks, result.probabilities > 0.5)


def test_an_embedding_answers_later_prompts_without_re_encoding(tiny):
    segmenter = tiny("sam")
    embedding = segmenter.embed(IMAGE)
    assert embedding.original_size == (48, 80) and embedding.input_size == (38, 64)
    one = segmenter.predict_boxes(embedding, np.array([[0, 0, 40, 24]]))
    none = segmenter.predict_boxes(embedding, np.zeros((0, 4)))
    assert one.masks.shape == (1, 48, 80) and none.masks.shape == (0, 48, 80)
