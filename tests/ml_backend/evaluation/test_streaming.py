"""Frame-by-frame evaluation: the same figures as whole stacked clips, in memory that does not grow with T."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from ml_backend.evaluation.datasets import read_ground_truth, read_layout, write_prediction
from ml_backend.evaluation.metrics import BinaryEvaluator, SemanticEvaluator
from ml_backend.evaluation.runner import evaluate_predictions
from ml_backend.media.synth import generate_dataset
from tests.ml_backend.evaluation.reference_metrics import reference_binary, reference_semantic


def _binary_clips(rng: np.random.Generator, n: int, *, hard: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    clips = []
    for _ in range(n):
        t, h, w = int(rng.integers(1, 9)), int(rng.integers(3, 40)), int(rng.integers(3, 40))
        gt = rng.random((t, h, w)) < rng.uniform(0.05, 0.6)
        gt[rng.random(t) < 0.25] = False  # some frames without a sounding object
        if hard:
            prob = rng.random((t, h, w)) < 0.4
        else:
            prob = rng.random((t, h, w)).astype(np.float32)
            prob[rng.random((t, h, w)) < 0.1] = 0.5  # ties on the binarisation threshold
            prob[rng.random((t, h, w)) < 0.05] = 1.0
        clips.append((prob, gt))
    return clips


def _semantic_clips(rng: np.random.Generator, n: int, num_classes: int) -> list[tuple[np.ndarray, np.ndarray]]:
    clips = []
    for _ in range(n):
        t, h, w = int(rng.integers(1, 9)), int(rng.integers(3, 40)), int(rng.integers(3, 40))
        gt = rng.integers(0, num_classes, (t, h, w))
        gt[rng.random((t, h, w)) < 0.5] = 0
        pred = np.where(rng.random((t, h, w)) < 0.7, gt, rng.integers(0, num_classes, (t, h, w)))
        clips.append((pred, gt))
    return clips


@pytest.mark.parametrize("hard", [False, True], ids=["probabilities", "hard-masks"])
@pytest.mark.parametrize("batch_clips", [1, 3, 4])
def test_binary_frame_by_frame_equals_the_stacked_reference_exactly(hard, batch_clips):
    clips = _binary_clips(np.random.default_rng(batch_clips + 10 * hard), 11, hard=hard)
    expected = reference_binary(clips, batch_clips=batch_clips)

    by_frame = BinaryEvaluator(batch_clips=batch_clips)
    by_clip = BinaryEvaluator(batch_clips=batch_clips)
    for prob, gt in clips:
        for p, g in zip(prob, gt, strict=True):
            by_frame.add_frame(p, g)
        by_frame.end_clip()
        by_clip.add_clip(prob, gt)

    assert by_frame.result().as_dict() == expected  # equal floats, not approximately
    assert by_clip.result().as_dict() == expected


@pytest.mark.parametrize("num_classes", [2, 5, 71])
def test_semantic_frame_by_frame_equals_the_stacked_reference_exactly(num_classes):
    clips = _semantic_clips(np.random.default_rng(num_classes), 9, num_classes)
    expected = reference_semantic(clips, num_classes=num_classes)

    by_frame = SemanticEvaluator(num_classes=num_classes)
    by_clip = SemanticEvaluator(num_classes=num_classes)
    for pred, gt in clips:
        for p, g in zip(pred, gt, strict=True):
            by_frame.add_frame(p.astype(np.uint8), g.astype(np.uint8))  # compact label maps
        by_frame.end_clip()
        by_clip.add_clip(pred, gt)

    assert by_frame.result().as_dict() == expected
    assert by_clip.result().as_dict() == expected


def test_one_threshold_curves_still_match_the_reference():
    # A one-column sum is pairwise in numpy, unlike the row-by-row sums: the streaming sum must follow it.
    rng = np.random.default_rng(4)
    clips = [(rng.random((30, 4, 4)).astype(np.float32), rng.random((30, 4, 4)) < 0.5) for _ in range(20)]
    evaluator = BinaryEvaluator(batch_clips=20, num_thresholds=1)
    for prob, gt in clips:
        evaluator.add_clip(prob, gt)
    assert evaluator.result().as_dict() == reference_binary(clips, batch_clips=20, num=1)


def test_an_open_clip_must_be_ended_and_an_empty_clip_is_refused():
    evaluator = BinaryEvaluator()
    with pytest.raises(ValueError, match="at least one labelled frame"):
        evaluator.end_clip()
    evaluator.add_frame(np.ones((2, 2), bool), np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="end_clip"):
        evaluator.result()
    with pytest.raises(ValueError, match="same shape"):
        evaluator.add_frame(np.ones((2, 2), bool), np.ones((3, 2), bool))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        evaluator.add_frame(np.full((2, 2), -0.5), np.ones((2, 2), bool))
    semantic = SemanticEvaluator(num_classes=3)
    semantic.add_frame(np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match="end_clip"):
        semantic.result()
    with pytest.raises(ValueError, match="labels must be in"):
        semantic.add_frame(np.full((2, 2), 3, np.uint8), np.zeros((2, 2), np.uint8))


@pytest.mark.parametrize("protocol", ["ms3", "avss"])
def test_the_evaluate_command_streams_and_scores_as_the_stacked_reference(protocol, tmp_path):
    root = tmp_path / "gt"
    generate_dataset(root, clips=6, seed=7, layout=protocol, size=64, splits=(("test", 6),))
    records = read_layout(root, protocol=protocol, split="test")
    rng = np.random.default_rng(1)
    pairs = []
    for record in records:
        gt = read_ground_truth(record)
        if protocol == "avss":  # another class on some pixels, background on others
            pred = np.where(rng.random(gt.shape) < 0.1, rng.integers(0, 71, gt.shape), gt)
            pred[rng.random(gt.shape) < 0.05] = 0
        else:
            pred = np.clip(gt + rng.normal(0, 0.3, gt.shape), 0, 1).astype(np.float32)
        for k, frame in zip(record.labelled_frames, pred, strict=True):
            write_prediction(tmp_path / "pred", record, k, frame)
        pairs.append((pred, gt))

    result = evaluate_predictions(gt_root=root, pred_dir=tmp_path / "pred", protocol=protocol, split="test")

    if protocol == "avss":
        expected = reference_semantic(pairs)
        assert result.details["per_class_iou"] == expected["per_class_iou"]
        assert result.details["miou_ov"] == expected["miou_ov"]
        assert len(expected["per_class_iou"]) > 3  # several classes, not a binary case in disguise
    else:
        expected = reference_binary(pairs, batch_clips=4)
        assert result.details["batch_fscore"] == expected["batch_fscore"]
    assert (result.miou, result.fscore, result.fscore_at_0_5) == (
        expected["miou"],
        expected["fscore"],
        expected["fscore_at_0_5"],
    )
    assert (result.n_clips, result.n_frames) == (expected["n_clips"], expected["n_frames"])
    assert result.miou < 1.0


def _peak_of_streaming(frames: int, size: int) -> int:
    """Peak traced bytes of scoring one clip of `frames` frames, each made just before it is added."""
    rng = np.random.default_rng(0)
    binary, semantic = BinaryEvaluator(), SemanticEvaluator(num_classes=5)
    tracemalloc.start()
    try:
        for _ in range(frames):
            gt = rng.integers(0, 5, (size, size), dtype=np.uint8)
            pred = rng.integers(0, 5, (size, size), dtype=np.uint8)
            binary.add_frame(pred > 0, gt > 0)
            semantic.add_frame(pred, gt)
        binary.end_clip()
        semantic.end_clip()
        binary.result(), semantic.result()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_number_of_frames():
    short, long = _peak_of_streaming(4, 256), _peak_of_streaming(32, 256)
    # Stacking 32 frames as int64 (as clips were scored before) alone would take 32·256²·8 B = 16 MiB.
    assert long < 1.3 * short, (short, long)
    assert long < 4 * 2**20
