"""Acquisition scores on hand-made clips: what a reviewer would expect to be asked about first."""

from __future__ import annotations

import numpy as np
import pytest

from ml_backend.acquisition import scores
from ml_backend.acquisition.scores import MissingEvidenceError
from ml_backend.acquisition.types import ClipEvidence

H, W = 32, 48


def square(top: int, left: int, side: int = 12, size: tuple[int, int] = (H, W)) -> np.ndarray:
    mask = np.zeros(size, dtype=bool)
    mask[top : top + side, left : left + side] = True
    return mask


def confident_map(mask: np.ndarray) -> np.ndarray:
    return np.where(mask, 0.99, 0.01).astype(np.float32)


def test_binary_entropy_is_zero_when_sure_and_one_bit_at_one_half():
    assert scores.binary_entropy(np.array([0.0, 1.0])) == pytest.approx([0.0, 0.0], abs=1e-9)
    assert float(scores.binary_entropy(np.array(0.5))) == pytest.approx(1.0)


def test_a_confident_mask_ranks_below_an_uncertain_one_for_entropy():
    mask = square(8, 8)
    confident = ClipEvidence(key="confident", probabilities=[confident_map(mask)] * 3)
    uncertain = ClipEvidence(key="uncertain", probabilities=[np.where(mask, 0.55, 0.45).astype(np.float32)] * 3)
    for score in (scores.mean_entropy, scores.topk_entropy):
        assert score(confident) < 0.1
        assert score(uncertain) > 0.9
        assert score(uncertain) > score(confident)


def test_topk_entropy_finds_one_uncertain_region_that_the_mean_dilutes():
    # Clip A: sure everywhere but a small region (4 % of pixels) at p = 0.5. Clip B: mildly unsure everywhere.
    region = np.full((50, 50), 0.001, dtype=np.float32)
    region[:10, :10] = 0.5
    diffuse = np.full((50, 50), 0.1, dtype=np.float32)
    a = ClipEvidence(key="a", probabilities=[region])
    b = ClipEvidence(key="b", probabilities=[diffuse])
    assert scores.mean_entropy(a) < scores.mean_entropy(b)  # the mean ranks the diffuse clip first
    assert scores.topk_entropy(a, top_fraction=0.04) == pytest.approx(1.0)
    assert scores.topk_entropy(a) > scores.topk_entropy(b)  # the top 5 % ranks the clip with the region first
    assert scores.pixel_entropy(a, reduction="max") == pytest.approx(1.0)


def test_frame_reduction_max_scores_a_clip_by_its_worst_frame():
    mask = square(8, 8)
    clip = ClipEvidence(key=1, probabilities=[confident_map(mask), np.full((H, W), 0.5, dtype=np.float32)])
    assert scores.mean_entropy(clip, frame_reduction="max") == pytest.approx(1.0)
    sure = float(scores.binary_entropy(np.array(0.99)))  # every pixel of the first frame
    assert scores.mean_entropy(clip) == pytest.approx((sure + 1.0) / 2)


def test_disagreement_is_zero_for_identical_proposals_and_one_for_disjoint():
    a, b = square(0, 0), square(16, 30)
    assert scores.disagreement(ClipEvidence(key=1, masks=[a, b], second_masks=[a, b])) == 0.0
    assert scores.disagreement(ClipEvidence(key=1, masks=[a, a], second_masks=[b, b])) == 1.0
    half = np.zeros((H, W), dtype=bool)
    half[0:12, 0:6] = True  # half of `a`: IoU 0.5
    assert scores.disagreement(ClipEvidence(key=1, masks=[a], second_masks=[half])) == pytest.approx(0.5)
    empty = np.zeros((H, W), dtype=bool)
    assert scores.disagreement(ClipEvidence(key=1, masks=[empty], second_masks=[empty])) == 0.0


def test_disagreement_uses_probability_maps_when_masks_are_absent():
    a = square(0, 0)
    clip = ClipEvidence(key=1, probabilities=[confident_map(a)], second_probabilities=[confident_map(~a)])
    assert scores.disagreement(clip) == 1.0


def test_temporal_inconsistency_of_a_static_mask_is_zero_and_of_a_jumping_mask_one():
    static = ClipEvidence(key="static", masks=[square(4, 4)] * 4)
    jumping = ClipEvidence(key="jumping", masks=[square(0, 0), square(16, 30), square(0, 0), square(16, 30)])
    drifting = ClipEvidence(key="drifting", masks=[square(4, 4 + 3 * t) for t in range(4)])
    assert scores.temporal_inconsistency(static) == 0.0
    assert scores.temporal_inconsistency(jumping) == 1.0
    assert 0.0 < scores.temporal_inconsistency(drifting) < 1.0
    one_frame = ClipEvidence(key="one", masks=[square(0, 0)])
    assert scores.temporal_inconsistency(one_frame) == 0.0


def test_temporal_inconsistency_on_probabilities():
    on, off = np.ones((H, W), dtype=np.float32), np.zeros((H, W), dtype=np.float32)
    flicker = ClipEvidence(key=1, probabilities=[on, off, on])
    steady = ClipEvidence(key=2, probabilities=[on, on, on])
    assert scores.temporal_inconsistency(flicker, mode="probability") == pytest.approx(1.0)
    assert scores.temporal_inconsistency(steady, mode="probability") == 0.0


def test_audio_tag_entropy_of_peaked_tags_is_low_and_of_flat_tags_high():
    peaked = ClipEvidence(key="dog", audio_tags=[[0.97, 0.01, 0.01, 0.01]] * 3)
    flat = ClipEvidence(key="noise", audio_tags=[[0.2, 0.2, 0.2, 0.2]] * 3)
    assert scores.audio_tag_entropy(peaked) < 0.2
    assert scores.audio_tag_entropy(flat) == pytest.approx(1.0)
    assert scores.normalised_entropy([0.9]) == 0.0


def test_a_score_without_its_evidence_says_what_is_missing():
    clip = ClipEvidence(key="c7", masks=[square(0, 0)])
    with pytest.raises(MissingEvidenceError, match="c7.*probability maps"):
        scores.mean_entropy(clip)
    with pytest.raises(MissingEvidenceError, match="two proposals"):
        scores.disagreement(clip)
    with pytest.raises(MissingEvidenceError, match="audio tags"):
        scores.audio_tag_entropy(clip)


def test_uint8_probability_maps_score_like_their_float_maps():
    rng = np.random.default_rng(0)
    float_map = rng.random((H, W)).astype(np.float32)
    png_map = np.round(float_map * 255).astype(np.uint8)  # as stored in an 8-bit PNG
    as_float = ClipEvidence(key=1, probabilities=[float_map])
    as_uint8 = ClipEvidence(key=1, probabilities=[png_map])
    assert scores.mean_entropy(as_uint8) == pytest.approx(scores.mean_entropy(as_float), abs=1e-3)
    assert scores.topk_entropy(as_uint8) == pytest.approx(scores.topk_entropy(as_float), abs=1e-3)
    # uint8 maps threshold like their probabilities: 128/255 > 0.5 is foreground, 127/255 is not
    mask = ClipEvidence(key=1, probabilities=[np.array([[127, 128]], dtype=np.uint8)]).first_masks()[0]
    assert mask.tolist() == [[False, True]]


def test_downsampled_maps_are_compared_at_a_common_size():
    full = square(8, 16, side=16, size=(64, 96))
    small = full[::2, ::2]  # a probability map stored at half resolution
    clip = ClipEvidence(key=1, masks=[full, full], second_probabilities=[small.astype(np.float32)] * 2)
    assert scores.disagreement(clip) == 0.0
    mixed = ClipEvidence(key=2, masks=[full, small, full])  # frames stored at different sizes
    assert scores.temporal_inconsistency(mixed) == 0.0
    moved = ClipEvidence(key=3, masks=[full], second_masks=[np.roll(small, 8, axis=1)])
    assert scores.disagreement(moved) == pytest.approx(1.0)


def test_invalid_evidence_is_refused_with_the_field_named():
    with pytest.raises(ValueError, match=r"probabilities\[1\].*\[0, 1\]"):
        ClipEvidence(key=1, probabilities=[np.zeros((4, 4)), np.full((4, 4), 2.0)])
    with pytest.raises(ValueError, match="same frames"):
        ClipEvidence(key=1, masks=[square(0, 0)], second_masks=[square(0, 0)] * 2)
    with pytest.raises(ValueError, match=r"masks\[0\].*H×W"):
        ClipEvidence(key=1, masks=[np.zeros((2, 2, 3), dtype=bool)])
    with pytest.raises(ValueError, match="audio_tags"):
        ClipEvidence(key=1, audio_tags=[[0.5, -1.0]])


def test_combine_contributions_sum_to_the_score_and_name_the_top_term():
    score, terms, top = scores.combine(
        {"entropy": 0.2, "disagreement": 0.9, "temporal": 0.1}, {"entropy": 1.0, "disagreement": 1.0, "temporal": 2.0}
    )
    assert score == pytest.approx((0.2 + 0.9 + 2 * 0.1) / 4)
    assert sum(t.contribution for t in terms.values()) == pytest.approx(score)
    assert top == "disagreement"
    assert terms["temporal"].contribution == pytest.approx(0.05)


def test_random_score_is_a_function_of_seed_and_key():
    draws = [scores.random_score(key, seed=3) for key in range(50)]
    assert draws == [scores.random_score(key, seed=3) for key in range(50)]
    assert draws != [scores.random_score(key, seed=4) for key in range(50)]
    assert all(0.0 <= d < 1.0 for d in draws) and len(set(draws)) == 50
