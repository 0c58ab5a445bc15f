"""AVSBench metrics, computed exactly as the official test code does (REFERENCES.md §2).

Binary protocols (S4, MS3) — inputs per clip: `prob` T×H×W float in [0, 1] (sounding-object
probability) and `gt` T×H×W bool, one row per *labelled* frame.

- **mIoU (J)**: P = prob > 0.5. Per frame IoU = |P∩G| / (|P∪G| + 1e-7); when G is empty the frame's
  IoU is the fraction of pixels predicted background, |¬P| / (H·W + 1e-7) (so ≈1.0 when P is empty
  too). Frames are averaged within a batch, then batches are averaged, each batch weighted equally.
- **F-score (official)**: β² = 0.3, F = (1+β²)·P·R / (β²·P + R). For every frame with non-empty G,
  a curve of F over 255 thresholds `linspace(0, 1 − 1e-10, 255)` (in float32 like the official torch
  code), pixel predicted iff prob ≥ threshold, precision = TP / (#pred + 1e-20), recall =
  TP / (#G + 1e-20), NaN → 0. The curves of a batch are averaged, the maximum over thresholds is the
  batch's F (0 when every frame of the batch has an empty G), batch values are averaged.
- **Batches** are consecutive groups of `batch_clips` clips (the official test uses 4) in metadata
  order; the last batch may be smaller and still counts as one batch.
- **F at 0.5 (dataset-level, ours)**: P = prob > 0.5 (the same binarisation as J); TP, FP, FN are
  summed over all frames with non-empty G (frames with empty G are skipped, as in the official F);
  precision = TP / (TP + FP), recall = TP / (TP + FN) (each 0 when its denominator is 0), and
  F = (1+β²)·P·R / (β²·P + R), 0 when P = R = 0. Batch-independent and threshold-fixed, so it is
  reported beside the optimistic official figure.

Semantic protocol (AVSS) — inputs per clip: `pred` and `gt` T×H×W integer label maps over
`num_classes` indices (71: background 0 + 70 classes), see `SemanticEvaluator`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import numpy as np

BETA2 = 0.3  # β² of the F-measure (AVSBench)
NUM_THRESHOLDS = 255  # thresholds of the official F curve
IOU_EPS = 1e-7  # added to the binary IoU denominator (official `mask_iou`)
PR_EPS = 1e-20  # added to precision / recall denominators (official `_eval_pr`)
SEMANTIC_EPS = 2.220446049250313e-16  # added to the per-class union (official AVSS `_batch_miou_fscore`)
BINARY_THRESHOLD = 0.5  # P = prob > 0.5


def f_measure(precision: np.ndarray | float, recall: np.ndarray | float, *, beta2: float = BETA2) -> np.ndarray:
    """(1+β²)·P·R / (β²·P + R), elementwise, with NaN (0/0) replaced by 0."""
    precision = np.asarray(precision, dtype=np.float64)
    recall = np.asarray(recall, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (1.0 + beta2) * precision * recall / (beta2 * precision + recall)
    return np.nan_to_num(f, nan=0.0, posinf=0.0, neginf=0.0)


def _check_binary(prob: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    prob = np.asarray(prob)
    gt = np.asarray(gt)
    if prob.ndim == 2:
        prob, gt = prob[None], gt[None]
    if prob.ndim != 3 or prob.shape != gt.shape:
        raise ValueError(f"expected prob and gt of the same shape T×H×W, got {prob.shape} and {gt.shape}")
    return prob, gt.astype(bool)


def frame_ious(prob: np.ndarray, gt: np.ndarray, *, eps: float = IOU_EPS) -> np.ndarray:
    """Per-frame IoU of the official `mask_iou`: prob, gt T×H×W → (T,) float64.

    P = prob > 0.5. IoU = |P∩G| / (|P∪G| + eps); a frame with empty G scores |¬P| / (H·W + eps).
    """
    prob, gt = _check_binary(prob, gt)
    pred = prob > BINARY_THRESHOLD
    inter = np.logical_and(pred, gt).sum(axis=(1, 2)).astype(np.float64)
    union = np.logical_or(pred, gt).sum(axis=(1, 2)).astype(np.float64)
    empty = ~gt.any(axis=(1, 2))
    if empty.any():
        inter[empty] = (~pred[empty]).sum(axis=(1, 2))
        union[empty] = gt.shape[1] * gt.shape[2]
    return inter / (union + eps)


def fscore_thresholds(num: int = NUM_THRESHOLDS) -> np.ndarray:
    """The official thresholds `torch.linspace(0, 1 - 1e-10, num)` in float32: (num,) float32."""
    return np.linspace(0.0, 1.0 - 1e-10, num, dtype=np.float64).astype(np.float32)


def frame_fscore_curves(
    prob: np.ndarray, gt: np.ndarray, *, num_thresholds: int = NUM_THRESHOLDS, beta2: float = BETA2
) -> tuple[np.ndarray, np.ndarray]:
    """F curves of the official `Eval_Fmeasure`: prob, gt T×H×W → (curves T×num float64, valid (T,) bool).

    Row t is F over the thresholds (pixel predicted iff prob ≥ threshold) for frame t; `valid[t]` is
    False for frames with empty G, which the official code skips (their rows are meaningless zeros).
    Vectorised with one histogram per frame instead of `num` comparisons.
    """
    prob, gt = _check_binary(prob, gt)
    thresholds = fscore_thresholds(num_thresholds)
    n = prob.shape[0]
    valid = gt.any(axis=(1, 2))
    # bins[t, p] = number of thresholds ≤ prob → the pixel is predicted for threshold indices < bins.
    bins = np.searchsorted(thresholds, prob.astype(np.float32).reshape(n, -1), side="right")
    offsets = (np.arange(n) * (num_thresholds + 1))[:, None]
    flat = (bins + offsets).ravel()
    size = n * (num_thresholds + 1)
    hist_pred = np.bincount(flat, minlength=size).reshape(n, num_thresholds + 1)
    hist_tp = np.bincount(flat, weights=gt.reshape(n, -1).ravel().astype(np.float64), minlength=size)
    hist_tp = hist_tp.reshape(n, num_thresholds + 1)
    # count for threshold i = number of pixels with bin > i (reverse cumulative sum, shifted by one).
    n_pred = np.cumsum(hist_pred[:, ::-1], axis=1)[:, ::-1][:, 1:].astype(np.float64)
    tp = np.cumsum(hist_tp[:, ::-1], axis=1)[:, ::-1][:, 1:]
    n_pos = gt.reshape(n, -1).sum(axis=1).astype(np.float64)[:, None]
    precision = tp / (n_pred + PR_EPS)
    recall = tp / (n_pos + PR_EPS)
    return f_measure(precision, recall, beta2=beta2), valid


def batch_fscore(curves: np.ndarray, valid: np.ndarray) -> float:
    """Official batch F: mean of the valid frames' curves, max over thresholds; 0.0 if no frame is valid."""
    if not np.any(valid):
        return 0.0
    return float(curves[np.asarray(valid)].mean(axis=0).max())


@dataclass
class BinaryReport:
    """Binary AVSBench scores of one evaluation (see the module docstring for the definitions)."""

    miou: float
    fscore: float
    fscore_at_0_5: float
    n_frames: int
    n_clips: int
    n_batches: int
    batch_clips: int
    batch_miou: list[float] = field(default_factory=list)
    batch_fscore: list[float] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class _BinaryBatch:
    ious: list[np.ndarray] = field(default_factory=list)
    curves: list[np.ndarray] = field(default_factory=list)
    valid: list[np.ndarray] = field(default_factory=list)
    n_clips: int = 0

    def scores(self) -> tuple[float, float]:
        ious = np.concatenate(self.ious)
        return float(ious.mean()), batch_fscore(np.concatenate(self.curves), np.concatenate(self.valid))


class BinaryEvaluator:
    """Streams clips in metadata order and scores them with the official S4/MS3 batch semantics.

    >>> ev = BinaryEvaluator(batch_clips=4)
    >>> for prob, gt in clips:  # prob T×H×W float in [0, 1], gt T×H×W bool (labelled frames only)
    ...     ev.add_clip(prob, gt)
    >>> report = ev.result()
    """

    def __init__(self, *, batch_clips: int = 4, num_thresholds: int = NUM_THRESHOLDS, beta2: float = BETA2) -> None:
        if batch_clips < 1:
            raise ValueError(f"batch_clips must be ≥ 1, got {batch_clips}")
        self.batch_clips = batch_clips
        self.num_thresholds = num_thresholds
        self.beta2 = beta2
        self._done: list[tuple[float, float]] = []
        self._batch = _BinaryBatch()
        self._tp = self._fp = self._fn = 0
        self._n_frames = 0
        self._n_clips = 0

    def add_clip(self, prob: np.ndarray, gt: np.ndarray) -> None:
        """Add one clip: prob T×H×W float in [0, 1], gt T×H×W bool (T ≥ 1 labelled frames)."""
        prob, gt = _check_binary(prob, gt)
        if prob.shape[0] == 0:
            raise ValueError("a clip needs at least one labelled frame")
        prob = prob.astype(np.float32, copy=False)
        if not np.all(np.isfinite(prob)) or prob.min() < 0.0 or prob.max() > 1.0:
            raise ValueError("probabilities must be finite and in [0, 1]")
        self._batch.ious.append(frame_ious(prob, gt))
        curves, valid = frame_fscore_curves(prob, gt, num_thresholds=self.num_thresholds, beta2=self.beta2)
        self._batch.curves.append(curves)
        self._batch.valid.append(valid)
        self._batch.n_clips += 1
        pred = prob[valid] > BINARY_THRESHOLD
        g = gt[valid]
        self._tp += int(np.logical_and(pred, g).sum())
        self._fp += int(np.logical_and(pred, ~g).sum())
        self._fn += int(np.logical_and(~pred, g).sum())
        self._n_frames += prob.shape[0]
        self._n_clips += 1
        if self._batch.n_clips == self.batch_clips:
            self._done.append(self._batch.scores())
            self._batch = _BinaryBatch()

    def result(self) -> BinaryReport:
        """Scores over the clips added so far (a partial last batch counts as one batch)."""
        batches = list(self._done)
        if self._batch.n_clips:
            batches.append(self._batch.scores())
        if not batches:
            raise ValueError("no clips were added")
        precision = self._tp / (self._tp + self._fp) if self._tp + self._fp else 0.0
        recall = self._tp / (self._tp + self._fn) if self._tp + self._fn else 0.0
        return BinaryReport(
            miou=float(np.mean([b[0] for b in batches])),
            fscore=float(np.mean([b[1] for b in batches])),
            fscore_at_0_5=float(f_measure(precision, recall, beta2=self.beta2)),
            n_frames=self._n_frames,
            n_clips=self._n_clips,
            n_batches=len(batches),
            batch_clips=self.batch_clips,
            batch_miou=[b[0] for b in batches],
            batch_fscore=[b[1] for b in batches],
        )


def binary_scores(clips: Iterable[tuple[np.ndarray, np.ndarray]], *, batch_clips: int = 4) -> BinaryReport:
    """Score (prob, gt) pairs, one per clip in metadata order, with `BinaryEvaluator`."""
    evaluator = BinaryEvaluator(batch_clips=batch_clips)
    for prob, gt in clips:
        evaluator.add_clip(prob, gt)
    return evaluator.result()


@dataclass
class SemanticReport:
    """AVSS scores (see `SemanticEvaluator`). Class indices are label2idx indices (0 = background)."""

    miou: float
    fscore: float
    fscore_at_0_5: float
    miou_all_classes: float
    fscore_all_classes: float
    miou_ov: float
    n_frames: int
    n_clips: int
    n_classes_present: int
    per_class_iou: dict[int, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["per_class_iou"] = {str(k): v for k, v in self.per_class_iou.items()}
        return data


def frame_confusions(pred: np.ndarray, gt: np.ndarray, *, num_classes: int) -> np.ndarray:
    """Per-frame confusion matrices: pred, gt T×H×W int → T×C×C int64, [t, g, p] = #pixels gt g, pred p."""
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.ndim == 2:
        pred, gt = pred[None], gt[None]
    if pred.ndim != 3 or pred.shape != gt.shape:
        raise ValueError(f"expected pred and gt label maps of the same shape T×H×W, got {pred.shape} and {gt.shape}")
    for name, labels in (("pred", pred), ("gt", gt)):
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"{name} labels must be in [0, {num_classes}), got [{labels.min()}, {labels.max()}]")
    n = pred.shape[0]
    c2 = num_classes * num_classes
    codes = gt.reshape(n, -1).astype(np.int64) * num_classes + pred.reshape(n, -1).astype(np.int64)
    codes += (np.arange(n, dtype=np.int64) * c2)[:, None]
    return np.bincount(codes.ravel(), minlength=n * c2).reshape(n, num_classes, num_classes)


class SemanticEvaluator:
    """AVSS semantic metrics over `num_classes` label indices (background 0 included).

    Per frame and class c (official AVSS test code): inter = |P=c ∧ G=c|, union = |P=c| + |G=c| − inter,
    IoU_c = inter / (union + 2.2e-16); F_c = (1+β²)·prec·rec / (β²·prec + rec) with prec = inter/|P=c|,
    rec = inter/|G=c|, NaN → 0. Each class's IoU and F are summed over frames and divided by the number
    of frames where the class occurs (union > 0).

    - `miou` / `fscore`: plain mean over the classes that occurred at least once (in prediction or G);
    - `miou_all_classes` / `fscore_all_classes`: the official test script's final figure, the mean over
      all `num_classes` with never-occurring classes counted as 0 (it depends on the class count, so we
      report it beside, not as, the headline);
    - `miou_ov`: OV-AVSS style — one confusion matrix accumulated over all frames,
      IoU_c = TP_c / (TP_c + FP_c + FN_c), mean over classes with a non-zero union;
    - `fscore_at_0_5`: class-agnostic dataset-level F (foreground = label ≠ 0, hard labels, so the 0.5
      threshold is implicit), TP/FP/FN pooled over frames with non-empty foreground G, as the binary one.

    The official loader zero-pads 5-frame (v1) clips to 10 frames; padded frames are not scored here.
    """

    def __init__(self, *, num_classes: int = 71, beta2: float = BETA2) -> None:
        self.num_classes = num_classes
        self.beta2 = beta2
        self._iou_sum = np.zeros(num_classes)
        self._f_sum = np.zeros(num_classes)
        self._count = np.zeros(num_classes, dtype=np.int64)
        self._confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
        self._tp = self._fp = self._fn = 0
        self._n_frames = 0
        self._n_clips = 0

    def add_clip(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """Add one clip: pred, gt T×H×W integer label maps (labelled frames only)."""
        conf = frame_confusions(pred, gt, num_classes=self.num_classes)
        inter = np.diagonal(conf, axis1=1, axis2=2).astype(np.float64)  # T×C
        area_pred = conf.sum(axis=1).astype(np.float64)
        area_gt = conf.sum(axis=2).astype(np.float64)
        union = area_pred + area_gt - inter
        self._iou_sum += (inter / (SEMANTIC_EPS + union)).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            self._f_sum += f_measure(inter / area_pred, inter / area_gt, beta2=self.beta2).sum(axis=0)
        self._count += (union > 0).sum(axis=0)
        self._confusion += conf.sum(axis=0)
        fg_valid = area_gt[:, 1:].sum(axis=1) > 0
        fg = conf[fg_valid]
        tp = int(fg[:, 1:, 1:].sum())
        self._tp += tp
        self._fp += int(fg[:, 0, 1:].sum())
        self._fn += int(fg[:, 1:, 0].sum())
        self._n_frames += conf.shape[0]
        self._n_clips += 1

    def result(self) -> SemanticReport:
        if not self._n_clips:
            raise ValueError("no clips were added")
        present = self._count > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            per_class_iou = np.where(present, self._iou_sum / np.maximum(self._count, 1), 0.0)
            per_class_f = np.where(present, self._f_sum / np.maximum(self._count, 1), 0.0)
        conf = self._confusion
        tp = np.diagonal(conf).astype(np.float64)
        union = conf.sum(axis=0) + conf.sum(axis=1) - tp
        ov_present = union > 0
        precision = self._tp / (self._tp + self._fp) if self._tp + self._fp else 0.0
        recall = self._tp / (self._tp + self._fn) if self._tp + self._fn else 0.0
        return SemanticReport(
            miou=float(per_class_iou[present].mean()),
            fscore=float(per_class_f[present].mean()),
            fscore_at_0_5=float(f_measure(precision, recall, beta2=self.beta2)),
            miou_all_classes=float(per_class_iou.mean()),
            fscore_all_classes=float(per_class_f.mean()),
            miou_ov=float((tp[ov_present] / union[ov_present]).mean()),
            n_frames=self._n_frames,
            n_clips=self._n_clips,
            n_classes_present=int(present.sum()),
            per_class_iou={int(c): float(per_class_iou[c]) for c in np.flatnonzero(present)},
        )
