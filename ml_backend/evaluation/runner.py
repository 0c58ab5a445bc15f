"""Score a prediction folder against an AVSBench layout: the code path of `python -m ml_backend evaluate`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml_backend.evaluation.datasets import (
    PROTOCOLS,
    DatasetError,
    iter_ground_truth,
    prediction_paths,
    read_binary_prediction,
    read_semantic_prediction,
    read_split,
)
from ml_backend.evaluation.metrics import BinaryEvaluator, SemanticEvaluator


@dataclass
class EvaluationResult:
    """Headline scores plus protocol-specific extras (`details`: batch values, per-class IoU, ...)."""

    protocol: str
    split: str
    miou: float
    fscore: float
    fscore_at_0_5: float
    n_frames: int
    n_clips: int
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "split": self.split,
            "miou": self.miou,
            "fscore": self.fscore,
            "fscore_at_0_5": self.fscore_at_0_5,
            "n_frames": self.n_frames,
            "n_clips": self.n_clips,
            **self.details,
        }


def evaluate_predictions(
    *, gt_root: str | Path, pred_dir: str | Path, protocol: str, split: str = "test", batch_clips: int = 4
) -> EvaluationResult:
    """Score the predictions in `pred_dir` on `split` of the layout at `gt_root`.

    Binary protocols (s4, ms3) use `BinaryEvaluator` with batches of `batch_clips` clips in metadata
    order; avss uses `SemanticEvaluator` (`miou`/`fscore` over the classes that occur; the official
    all-class means and the OV-AVSS confusion-matrix mIoU in `details`). Every labelled frame needs a
    prediction of the ground truth's size. Raises DatasetError with a readable message otherwise.
    """
    if protocol not in PROTOCOLS:
        raise DatasetError(f"unknown protocol {protocol!r} (one of {', '.join(PROTOCOLS)})")
    records = read_split(gt_root, protocol=protocol, split=split)
    paths = prediction_paths(pred_dir, records)
    if protocol == "avss":
        evaluator: BinaryEvaluator | SemanticEvaluator = SemanticEvaluator()
    else:
        evaluator = BinaryEvaluator(batch_clips=batch_clips)
    for record in records:  # frame by frame: one ground-truth mask and one prediction in memory at a time
        for k, gt in zip(record.labelled_frames, iter_ground_truth(record), strict=True):
            path = paths[(record.vid, k)]
            pred = read_semantic_prediction(path) if protocol == "avss" else read_binary_prediction(path)
            if pred.shape != gt.shape:
                raise DatasetError(
                    f"{path}: prediction is {pred.shape[1]}×{pred.shape[0]} (W×H) but the ground truth of clip "
                    f"{record.vid} frame {k} is {gt.shape[1]}×{gt.shape[0]}"
                )
            evaluator.add_frame(pred, gt)
        evaluator.end_clip()
    report = evaluator.result()
    details: dict[str, Any]
    if protocol == "avss":
        details = {
            "miou_all_classes": report.miou_all_classes,
            "fscore_all_classes": report.fscore_all_classes,
            "miou_ov": report.miou_ov,
            "n_classes_present": report.n_classes_present,
            "per_class_iou": {str(k): v for k, v in report.per_class_iou.items()},
        }
    else:
        details = {
            "batch_clips": report.batch_clips,
            "n_batches": report.n_batches,
            "batch_miou": report.batch_miou,
            "batch_fscore": report.batch_fscore,
        }
    return EvaluationResult(
        protocol=protocol,
        split=split,
        miou=report.miou,
        fscore=report.fscore,
        fscore_at_0_5=report.fscore_at_0_5,
        n_frames=report.n_frames,
        n_clips=report.n_clips,
        details=details,
    )
