"""Array-stacked reference for the AVSBench metrics: whole clips as T×H×W arrays, vectorised over frames.

This is how `ml_backend.evaluation.metrics` computed the figures before it streamed frame by frame; the
streaming evaluators must give the same numbers, bit for bit. Kept plain and separate from the library so a
change there cannot change the reference too.
"""

from __future__ import annotations

import numpy as np

from ml_backend.evaluation.metrics import (
    BETA2,
    BINARY_THRESHOLD,
    IOU_EPS,
    NUM_THRESHOLDS,
    PR_EPS,
    SEMANTIC_EPS,
    f_measure,
    fscore_thresholds,
)


def _frame_ious(prob: np.ndarray, gt: np.ndarray) -> np.ndarray:
    pred = prob > BINARY_THRESHOLD
    inter = np.logical_and(pred, gt).sum(axis=(1, 2)).astype(np.float64)
    union = np.logical_or(pred, gt).sum(axis=(1, 2)).astype(np.float64)
    empty = ~gt.any(axis=(1, 2))
    if empty.any():
        inter[empty] = (~pred[empty]).sum(axis=(1, 2))
        union[empty] = gt.shape[1] * gt.shape[2]
    return inter / (union + IOU_EPS)


def _frame_curves(prob: np.ndarray, gt: np.ndarray, num: int) -> tuple[np.ndarray, np.ndarray]:
    thresholds = fscore_thresholds(num)
    n = prob.shape[0]
    valid = gt.any(axis=(1, 2))
    bins = np.searchsorted(thresholds, prob.astype(np.float32).reshape(n, -1), side="right")
    flat = (bins + (np.arange(n) * (num + 1))[:, None]).ravel()
    size = n * (num + 1)
    hist_pred = np.bincount(flat, minlength=size).reshape(n, num + 1)
    hist_tp = np.bincount(flat, weights=gt.reshape(n, -1).ravel().astype(np.float64), minlength=size)
    hist_tp = hist_tp.reshape(n, num + 1)
    n_pred = np.cumsum(hist_pred[:, ::-1], axis=1)[:, ::-1][:, 1:].astype(np.float64)
    tp = np.cumsum(hist_tp[:, ::-1], axis=1)[:, ::-1][:, 1:]
    n_pos = gt.reshape(n, -1).sum(axis=1).astype(np.float64)[:, None]
    return f_measure(tp / (n_pred + PR_EPS), tp / (n_pos + PR_EPS)), valid


def reference_binary(clips: list[tuple[np.ndarray, np.ndarray]], *, batch_clips: int = 4, num=NUM_THRESHOLDS) -> dict:
    """BinaryReport fields of (prob T×H×W, gt T×H×W) clips, computed on stacked arrays."""
    batches, ious, curves, valid = [], [], [], []
    tp = fp = fn = n_frames = 0
    for k, (prob, gt) in enumerate(clips, start=1):
        prob, gt = np.asarray(prob).astype(np.float32), np.asarray(gt).astype(bool)
        ious.append(_frame_ious(prob, gt))
        c, v = _frame_curves(prob, gt, num)
        curves.append(c)
        valid.append(v)
        pred, g = prob[v] > BINARY_THRESHOLD, gt[v]
        tp += int(np.logical_and(pred, g).sum())
        fp += int(np.logical_and(pred, ~g).sum())
        fn += int(np.logical_and(~pred, g).sum())
        n_frames += prob.shape[0]
        if k % batch_clips == 0 or k == len(clips):
            all_valid = np.concatenate(valid)
            f = float(np.concatenate(curves)[all_valid].mean(axis=0).max()) if all_valid.any() else 0.0
            batches.append((float(np.concatenate(ious).mean()), f))
            ious, curves, valid = [], [], []
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "miou": float(np.mean([b[0] for b in batches])),
        "fscore": float(np.mean([b[1] for b in batches])),
        "fscore_at_0_5": float(f_measure(precision, recall, beta2=BETA2)),
        "n_frames": n_frames,
        "n_clips": len(clips),
        "n_batches": len(batches),
        "batch_clips": batch_clips,
        "batch_miou": [b[0] for b in batches],
        "batch_fscore": [b[1] for b in batches],
    }


def reference_semantic(clips: list[tuple[np.ndarray, np.ndarray]], *, num_classes: int = 71) -> dict:
    """SemanticReport fields (`as_dict()` form) of (pred T×H×W, gt T×H×W) label-map clips, on stacked arrays."""
    c = num_classes
    iou_sum, f_sum = np.zeros(c), np.zeros(c)
    count = np.zeros(c, dtype=np.int64)
    confusion = np.zeros((c, c), dtype=np.int64)
    tp = fp = fn = n_frames = 0
    for pred, gt in clips:
        n = pred.shape[0]
        codes = gt.reshape(n, -1).astype(np.int64) * c + pred.reshape(n, -1).astype(np.int64)
        codes += (np.arange(n, dtype=np.int64) * c * c)[:, None]
        conf = np.bincount(codes.ravel(), minlength=n * c * c).reshape(n, c, c)
        inter = np.diagonal(conf, axis1=1, axis2=2).astype(np.float64)
        area_pred = conf.sum(axis=1).astype(np.float64)
        area_gt = conf.sum(axis=2).astype(np.float64)
        union = area_pred + area_gt - inter
        iou_sum += (inter / (SEMANTIC_EPS + union)).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            f_sum += f_measure(inter / area_pred, inter / area_gt).sum(axis=0)
        count += (union > 0).sum(axis=0)
        confusion += conf.sum(axis=0)
        fg = conf[area_gt[:, 1:].sum(axis=1) > 0]
        tp += int(fg[:, 1:, 1:].sum())
        fp += int(fg[:, 0, 1:].sum())
        fn += int(fg[:, 1:, 0].sum())
        n_frames += n
    present = count > 0
    per_iou = np.where(present, iou_sum / np.maximum(count, 1), 0.0)
    per_f = np.where(present, f_sum / np.maximum(count, 1), 0.0)
    diag = np.diagonal(confusion).astype(np.float64)
    ov_union = confusion.sum(axis=0) + confusion.sum(axis=1) - diag
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "miou": float(per_iou[present].mean()),
        "fscore": float(per_f[present].mean()),
        "fscore_at_0_5": float(f_measure(precision, recall, beta2=BETA2)),
        "miou_all_classes": float(per_iou.mean()),
        "fscore_all_classes": float(per_f.mean()),
        "miou_ov": float((diag[ov_union > 0] / ov_union[ov_union > 0]).mean()),
        "n_frames": n_frames,
        "n_clips": len(clips),
        "n_classes_present": int(present.sum()),
        "per_class_iou": {str(k): float(per_iou[k]) for k in np.flatnonzero(present)},
    }
