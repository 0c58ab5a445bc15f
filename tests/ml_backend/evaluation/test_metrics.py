"""AVSBench metrics on cases worked out by hand (REFERENCES.md §2)."""

from __future__ import annotations

import numpy as np
import pytest

from ml_backend.evaluation.metrics import (
    BinaryEvaluator,
    SemanticEvaluator,
    binary_scores,
    frame_fscore_curves,
    frame_ious,
    fscore_thresholds,
)

# F for precision 1/2 and recall 1 with β² = 0.3: 1.3 · 0.5 / (0.15 + 1) = 13/23
F_HALF_PRECISION = 13 / 23


def test_empty_gt_and_empty_prediction_is_iou_one():
    iou = frame_ious(np.zeros((1, 4, 4)), np.zeros((1, 4, 4), bool))
    assert iou[0] == pytest.approx(1.0, abs=1e-8)


def test_empty_gt_and_full_prediction_is_iou_zero():
    assert frame_ious(np.ones((1, 4, 4)), np.zeros((1, 4, 4), bool))[0] == 0.0


def test_empty_gt_scores_the_fraction_predicted_background():
    prob = np.zeros((1, 4, 4))
    prob[0, 0, :] = 0.9  # 4 of 16 pixels predicted foreground
    assert frame_ious(prob, np.zeros((1, 4, 4), bool))[0] == pytest.approx(12 / 16)


def test_partial_overlap():
    gt = np.zeros((1, 4, 4), bool)
    gt[0, :, 0:2] = True  # 8 pixels
    prob = np.zeros((1, 4, 4))
    prob[0, :, 1:3] = 0.7  # 8 pixels, 4 shared
    assert frame_ious(prob, gt)[0] == pytest.approx(4 / 12)


def test_prediction_exactly_half_is_background_for_iou():
    gt = np.ones((1, 2, 2), bool)
    assert frame_ious(np.full((1, 2, 2), 0.5), gt)[0] == pytest.approx(0.0)


def test_fscore_curve_of_a_tiny_frame_by_hand():
    # prob 0.9 0.6 / 0.2 0.0 against G = left column.
    prob = np.array([[[0.9, 0.6], [0.2, 0.0]]], dtype=np.float32)
    gt = np.array([[[True, False], [True, False]]])
    curves, valid = frame_fscore_curves(prob, gt)
    curve = curves[0]
    th = fscore_thresholds()
    assert valid.tolist() == [True]
    assert curve[0] == pytest.approx(F_HALF_PRECISION)  # threshold 0: all 4 pixels, TP 2
    assert curve[(th > 0) & (th <= np.float32(0.2))] == pytest.approx(1.3 * (2 / 3) / (0.3 * 2 / 3 + 1))  # 0.7222
    assert curve[(th > np.float32(0.2)) & (th <= np.float32(0.6))] == pytest.approx(0.5)  # P = R = 1/2
    assert curve[(th > np.float32(0.6)) & (th <= np.float32(0.9))] == pytest.approx(1.3 * 0.5 / 0.8)  # 0.8125
    assert curve[th > np.float32(0.9)] == pytest.approx(0.0)  # nothing predicted: NaN → 0
    report = binary_scores([(prob, gt)])
    assert report.fscore == pytest.approx(0.8125)
    # F at 0.5: prob > 0.5 predicts {0.9, 0.6}: TP 1, FP 1, FN 1 → P = R = 1/2 → F = 1/2
    assert report.fscore_at_0_5 == pytest.approx(0.5)


def test_thresholds_are_the_official_ones():
    th = fscore_thresholds()
    assert th.dtype == np.float32 and len(th) == 255
    assert th[0] == 0.0 and th[-1] == np.float32(1 - 1e-10)
    assert th[1] == pytest.approx(1 / 254)


# Two one-frame clips over a 1×2 image, G = [1, 0] in both:
#   A: prob [0.9, 0.6] → F = 13/23 for thresholds ≤ 0.6, 1 for (0.6, 0.9], 0 above.
#   B: prob [0.3, 0.0] → F = 13/23 at threshold 0, 1 for (0, 0.3], 0 above.
CLIP_A = (np.array([[[0.9, 0.6]]]), np.array([[[True, False]]]))
CLIP_B = (np.array([[[0.3, 0.0]]]), np.array([[[True, False]]]))
CLIP_EMPTY = (np.array([[[0.9, 0.0]]]), np.array([[[False, False]]]))


def test_batch_grouping_changes_the_official_fscore():
    alone = binary_scores([CLIP_A, CLIP_B], batch_clips=1)
    together = binary_scores([CLIP_A, CLIP_B], batch_clips=2)
    # Batches of one clip: each curve peaks at 1 → mean of maxima = 1.
    assert alone.fscore == pytest.approx(1.0)
    assert alone.batch_fscore == pytest.approx([1.0, 1.0])
    # One batch: mean curve peaks on (0, 0.3] at (13/23 + 1)/2 = 18/23.
    assert together.fscore == pytest.approx(18 / 23)
    assert together.n_batches == 1
    # mIoU: A predicts both pixels (IoU 1/2), B none (IoU 0): 1/4 either way here.
    assert alone.miou == pytest.approx(0.25) and together.miou == pytest.approx(0.25)


def test_a_batch_with_only_empty_gt_scores_zero_fscore():
    only_empty = binary_scores([CLIP_EMPTY], batch_clips=4)
    assert only_empty.fscore == 0.0
    # Alone, the empty batch pulls the mean down; grouped with A it is skipped inside the batch.
    assert binary_scores([CLIP_A, CLIP_EMPTY], batch_clips=1).fscore == pytest.approx(0.5)
    assert binary_scores([CLIP_A, CLIP_EMPTY], batch_clips=2).fscore == pytest.approx(1.0)


def test_batches_are_weighted_equally_not_by_frames():
    # Clip 1: one frame, IoU 1. Clip 2: three frames, IoU 0 each.
    gt1 = np.ones((1, 2, 2), bool)
    gt2 = np.ones((3, 2, 2), bool)
    clips = [(np.ones((1, 2, 2)), gt1), (np.zeros((3, 2, 2)), gt2)]
    assert binary_scores(clips, batch_clips=1).miou == pytest.approx(0.5)  # (1 + 0) / 2
    assert binary_scores(clips, batch_clips=2).miou == pytest.approx(0.25)  # (1 + 0 + 0 + 0) / 4


def test_last_partial_batch_counts_as_one_batch():
    report = binary_scores([CLIP_A, CLIP_A, CLIP_B], batch_clips=2)
    assert report.n_batches == 2 and report.n_clips == 3 and report.n_frames == 3
    assert report.batch_fscore[1] == pytest.approx(1.0)


def test_fscore_at_half_pools_counts_over_frames_with_objects():
    # Frame 1: G 2 px, P hits 1 of them + 1 FP. Frame 2: empty G with a false positive (skipped).
    gt = np.array([[[True, True, False, False]], [[False, False, False, False]]])
    prob = np.array([[[0.9, 0.1, 0.8, 0.0]], [[1.0, 1.0, 1.0, 1.0]]])
    report = binary_scores([(prob, gt)])
    assert report.fscore_at_0_5 == pytest.approx(0.5)  # TP 1, FP 1, FN 1


def _official_curve(prob: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """The official `_eval_pr` + F loop, written plainly (one comparison per threshold)."""
    th = fscore_thresholds()
    out = []
    for t in th:
        pred = (prob.astype(np.float32) >= t).astype(np.float64)
        tp = (pred * gt).sum()
        p, r = tp / (pred.sum() + 1e-20), tp / (gt.sum() + 1e-20)
        with np.errstate(invalid="ignore"):
            f = 1.3 * p * r / (0.3 * p + r)
        out.append(0.0 if np.isnan(f) else f)
    return np.array(out)


def test_vectorised_curves_match_the_plain_official_loop():
    rng = np.random.default_rng(0)
    prob = rng.random((3, 16, 16)).astype(np.float32)
    prob[1] = np.round(prob[1] * 4) / 4  # ties exactly on a few values
    gt = rng.random((3, 16, 16)) > 0.7
    curves, valid = frame_fscore_curves(prob, gt)
    assert valid.all()
    for t in range(3):
        np.testing.assert_allclose(curves[t], _official_curve(prob[t], gt[t]), rtol=1e-9, atol=1e-12)


def test_evaluator_rejects_probabilities_outside_unit_interval():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        BinaryEvaluator().add_clip(np.full((1, 2, 2), 2.0), np.ones((1, 2, 2), bool))
    with pytest.raises(ValueError, match="same shape"):
        BinaryEvaluator().add_clip(np.zeros((1, 2, 2)), np.ones((1, 3, 3), bool))


def test_semantic_miou_by_hand():
    # Frame 1: gt 0 1 / 1 2, pred 0 1 / 2 2 → class 0: 1, class 1: 1/2, class 2: 1/2.
    # Frame 2: gt all 1, pred 1 1 / 1 0 → class 0: 0 (pred only), class 1: 3/4.
    gt = np.array([[[0, 1], [1, 2]], [[1, 1], [1, 1]]])
    pred = np.array([[[0, 1], [2, 2]], [[1, 1], [1, 0]]])
    ev = SemanticEvaluator(num_classes=71)
    ev.add_clip(pred, gt)
    report = ev.result()
    # per class, averaged over the frames where it occurs: 0 → (1 + 0)/2, 1 → (1/2 + 3/4)/2, 2 → 1/2
    assert report.per_class_iou == pytest.approx({0: 0.5, 1: 0.625, 2: 0.5})
    assert report.miou == pytest.approx((0.5 + 0.625 + 0.5) / 3)
    assert report.miou_all_classes == pytest.approx((0.5 + 0.625 + 0.5) / 71)
    # one confusion matrix: class 0 TP 1 / union 2, class 1 TP 4 / union 6, class 2 TP 1 / union 2
    assert report.miou_ov == pytest.approx((0.5 + 4 / 6 + 0.5) / 3)
    assert report.n_classes_present == 3 and report.n_frames == 2


def test_semantic_perfect_prediction_and_class_agnostic_fscore():
    gt = np.zeros((2, 4, 4), dtype=np.int64)
    gt[0, :2, :2] = 17
    gt[1, 2:, 2:] = 5
    ev = SemanticEvaluator()
    ev.add_clip(gt.copy(), gt)
    report = ev.result()
    assert report.miou == pytest.approx(1.0) and report.fscore == pytest.approx(1.0)
    assert report.fscore_at_0_5 == pytest.approx(1.0) and report.miou_ov == pytest.approx(1.0)
    wrong_class = np.where(gt > 0, 9, 0)
    ev = SemanticEvaluator()
    ev.add_clip(wrong_class, gt)
    report = ev.result()
    assert report.per_class_iou[17] == 0.0 and report.per_class_iou[9] == 0.0
    assert report.fscore_at_0_5 == pytest.approx(1.0)  # the masks are right, only the classes are wrong


def test_semantic_rejects_labels_out_of_range():
    with pytest.raises(ValueError, match="labels must be in"):
        SemanticEvaluator(num_classes=71).add_clip(np.full((1, 2, 2), 71), np.zeros((1, 2, 2), dtype=int))
