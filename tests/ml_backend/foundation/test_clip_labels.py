"""OV-AVSS-style labels of masked crops with CLIP (ml_backend.foundation.clip_labels) on the tiny CLIP."""

from __future__ import annotations

import numpy as np

from ml_backend.foundation.clip_labels import masked_crop


def test_each_mask_gets_one_vocabulary_label_with_a_probability(tiny):
    image = np.random.default_rng(2).integers(0, 255, (40, 60, 3), dtype=np.uint8)
    masks = [np.zeros((40, 60), bool), np.zeros((40, 60), bool)]
    masks[0][5:20, 5:30] = True
    masks[1][20:40, 30:60] = True
    labels = tiny("clip").label(image, masks, ["dog", "emergency-car", "guitar"])
    assert len(labels) == 2
    assert all(label.label in {"dog", "emergency-car", "guitar"} and 1 / 3 <= label.score <= 1 for label in labels)


def test_a_masked_crop_is_the_mask_s_box_with_the_rest_greyed():
    image = np.zeros((10, 10, 3), np.uint8)
    image[2:5, 3:7] = 200
    mask = np.zeros((10, 10), bool)
    mask[2:5, 3:6] = True
    crop = masked_crop(image, mask)
    assert crop.shape == (3, 3, 3) and (crop == 200).all()
