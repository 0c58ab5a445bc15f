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

Streaming: both evaluators also take a clip frame by frame (`add_frame(...)` for each labelled frame, then
`end_clip()`), keeping per-frame statistics only (counts, one IoU, one F curve summed per batch) instead of
T×H×W arrays; binary predictions may be bool masks (hard masks, probability 0 or 1) and label maps any
integer dtype (uint8 suffices for up to 256 classes). The figures are bit-identical to stacking the frames
and calling `add_clip`: sums run in the order numpy's row reductions use.
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
PIXEL_BLOCK = 1 << 20  # pixels per histogram pass: bounds a frame's int64 temporaries (8 MiB)


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
    return prob, gt.astype(bool, copy=False)


def _check_probabilities(prob: np.ndarray) -> np.ndarray:
    """`prob` as float32 (bool stays bool: a hard mask); ValueError unless finite and in [0, 1]."""
    if prob.dtype == bool:
        return prob
    prob = prob.astype(np.float32, copy=False)
    if prob.size and (not np.all(np.isfinite(prob)) or prob.min() < 0.0 or prob.max() > 1.0):
        raise ValueError("probabilities must be finite and in [0, 1]")
    return prob


@dataclass
class BinaryFrame:
    """One labelled frame's binary statistics (everything the evaluator keeps of it).

    iou: the official frame IoU. curve: (num_thresholds,) float64 F over the thresholds. valid: G non-empty
    (frames with empty G are skipped by the official F and by F at 0.5). tp, fp, fn: pixel counts of
    P = prob > 0.5 against G.
    """

    iou: float
    curve: np.ndarray
    valid: bool
    tp: int
    fp: int
    fn: int


def binary_frame(
    prob: np.ndarray,
    gt: np.ndarray,
    *,
    thresholds: np.ndarray | None = None,
    beta2: float = BETA2,
    eps: float = IOU_EPS,
) -> BinaryFrame:
    """Statistics of one frame: prob H×W float in [0, 1] (float32 precision) or bool, gt H×W bool.

    The F curve comes from one histogram of the pixels over the thresholds (in blocks of `PIXEL_BLOCK`
    pixels) instead of `num` comparisons; a bool `prob` needs two counts only.
    """
    prob, gt = np.asarray(prob), np.asarray(gt).astype(bool, copy=False)
    if prob.ndim != 2 or prob.shape != gt.shape:
        raise ValueError(f"expected prob and gt of the same shape H×W, got {prob.shape} and {gt.shape}")
    thresholds = fscore_thresholds() if thresholds is None else thresholds
    size = thresholds.size + 1
    n_gt = int(np.count_nonzero(gt))
    hist_pred = np.zeros(size, dtype=np.int64)
    hist_tp = np.zeros(size, dtype=np.int64)
    if prob.dtype == bool:
        pred = prob
        # bin = number of thresholds ≤ prob, for prob 0 and 1
        low, high = np.searchsorted(thresholds, np.array([0.0, 1.0], dtype=np.float32), side="right")
        n_pred = int(np.count_nonzero(pred))
        tp = int(np.count_nonzero(pred & gt))
        hist_pred[low] += pred.size - n_pred
        hist_pred[high] += n_pred
        hist_tp[low] += n_gt - tp
        hist_tp[high] += tp
    else:
        pred = prob > BINARY_THRESHOLD
        n_pred = int(np.count_nonzero(pred))
        tp = int(np.count_nonzero(pred & gt))
        flat_prob, flat_gt = prob.reshape(-1), gt.reshape(-1)
        for start in range(0, flat_prob.size, PIXEL_BLOCK):
            block = flat_prob[start : start + PIXEL_BLOCK].astype(np.float32, copy=False)
            bins = np.searchsorted(thresholds, block, side="right")
            hist_pred += np.bincount(bins, minlength=size)
            hist_tp += np.bincount(bins[flat_gt[start : start + PIXEL_BLOCK]], minlength=size)
    if n_gt:
        iou = np.float64(tp) / (np.float64(n_pred + n_gt - tp) + eps)
    else:
        iou = np.float64(pred.size - n_pred) / (np.float64(pred.size) + eps)
    # count for threshold i = number of pixels with bin > i (reverse cumulative sum, shifted by one).
    counted = np.cumsum(hist_pred[::-1])[::-1][1:].astype(np.float64)
    hits = np.cumsum(hist_tp[::-1])[::-1][1:].astype(np.float64)
    precision = hits / (counted + PR_EPS)
    recall = hits / (np.float64(n_gt) + PR_EPS)
    valid = n_gt > 0
    return BinaryFrame(
        iou=float(iou),
        curve=f_measure(precision, recall, beta2=beta2),
        valid=valid,
        tp=tp if valid else 0,
        fp=n_pred - tp if valid else 0,
        fn=n_gt - tp if valid else 0,
    )


def frame_ious(prob: np.ndarray, gt: np.ndarray, *, eps: float = IOU_EPS) -> np.ndarray:
    """Per-frame IoU of the official `mask_iou`: prob, gt T×H×W → (T,) float64.

    P = prob > 0.5. IoU = |P∩G| / (|P∪G| + eps); a frame with empty G scores |¬P| / (H·W + eps).
    """
    prob, gt = _check_binary(prob, gt)
    thresholds = fscore_thresholds()
    return np.array([binary_frame(p, g, thresholds=thresholds, eps=eps).iou for p, g in zip(prob, gt, strict=True)])


def fscore_thresholds(num: int = NUM_THRESHOLDS) -> np.ndarray:
    """The official thresholds `torch.linspace(0, 1 - 1e-10, num)` in float32: (num,) float32."""
    return np.linspace(0.0, 1.0 - 1e-10, num, dtype=np.float64).astype(np.float32)


def frame_fscore_curves(
    prob: np.ndarray, gt: np.ndarray, *, num_thresholds: int = NUM_THRESHOLDS, beta2: float = BETA2
) -> tuple[np.ndarray, np.ndarray]:
    """F curves of the official `Eval_Fmeasure`: prob, gt T×H×W → (curves T×num float64, valid (T,) bool).

    Row t is F over the thresholds (pixel predicted iff prob ≥ threshold) for frame t; `valid[t]` is
    False for frames with empty G, which the official code skips (their rows are meaningless zeros).
    One histogram per frame instead of `num` comparisons (see `binary_frame`).
    """
    prob, gt = _check_binary(prob, gt)
    thresholds = fscore_thresholds(num_thresholds)
    frames = [binary_frame(p, g, thresholds=thresholds, beta2=beta2) for p, g in zip(prob, gt, strict=True)]
    if not frames:
        return np.zeros((0, num_thresholds)), np.zeros(0, dtype=bool)
    return np.stack([f.curve for f in frames]), np.array([f.valid for f in frames])


def batch_fscore(curves: np.ndarray, valid: np.ndarray) -> float:
    """Official batch F: mean of the valid frames' curves, max over thresholds; 0.0 if no frame is valid."""
    if not np.any(valid):
        return 0.0
    return float(curves[np.asarray(valid)].mean(axis=0).max())


class RowSum:
    """The sum of equal-length float64 rows added one at a time, equal bit for bit to stacking them into an
    N×K array and calling `.sum(axis=0)`: numpy adds the rows of such an array in order when K ≥ 2, which a
    running sum repeats; for K = 1 it sums pairwise, so single-value rows are kept and summed at the end."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.count = 0
        self._sum = np.zeros(width)
        self._kept: list[np.ndarray] = []

    def add(self, row: np.ndarray) -> None:
        if self.width == 1:
            self._kept.append(np.asarray(row, dtype=np.float64).reshape(1))
        else:
            self._sum += row
        self.count += 1

    def total(self) -> np.ndarray:
        if self.width == 1 and self._kept:
            return np.stack(self._kept).sum(axis=0)
        return self._sum.copy()


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


class _BinaryBatch:
    """One batch's frame IoUs (one float each) and the sum of its valid frames' F curves."""

    def __init__(self, num_thresholds: int) -> None:
        self.ious: list[float] = []
        self.curves = RowSum(num_thresholds)
        self.n_clips = 0

    def scores(self) -> tuple[float, float]:
        miou = float(np.array(self.ious).mean())
        if not self.curves.count:
            return miou, 0.0
        return miou, float((self.curves.total() / self.curves.count).max())


class BinaryEvaluator:
    """Streams clips in metadata order and scores them with the official S4/MS3 batch semantics.

    >>> ev = BinaryEvaluator(batch_clips=4)
    >>> for prob, gt in clips:  # prob T×H×W float in [0, 1], gt T×H×W bool (labelled frames only)
    ...     ev.add_clip(prob, gt)
    >>> report = ev.result()

    Or frame by frame, holding one frame at a time (prob may be an H×W bool mask):

    >>> for frames in clips:
    ...     for prob, gt in frames:  # H×W each
    ...         ev.add_frame(prob, gt)
    ...     ev.end_clip()
    """

    def __init__(self, *, batch_clips: int = 4, num_thresholds: int = NUM_THRESHOLDS, beta2: float = BETA2) -> None:
        if batch_clips < 1:
            raise ValueError(f"batch_clips must be ≥ 1, got {batch_clips}")
        self.batch_clips = batch_clips
        self.num_thresholds = num_thresholds
        self.beta2 = beta2
        self._thresholds = fscore_thresholds(num_thresholds)
        self._done: list[tuple[float, float]] = []
        self._batch = _BinaryBatch(num_thresholds)
        self._tp = self._fp = self._fn = 0
        self._n_frames = 0
        self._n_clips = 0
        self._open_frames = 0  # frames added to the clip not ended yet

    def add_frame(self, prob: np.ndarray, gt: np.ndarray) -> None:
        """Add one labelled frame of the current clip: prob H×W float in [0, 1] or bool, gt H×W bool."""
        prob, gt = np.asarray(prob), np.asarray(gt)
        if prob.ndim != 2 or prob.shape != gt.shape:
            raise ValueError(f"expected prob and gt of the same shape H×W, got {prob.shape} and {gt.shape}")
        self._add(_check_probabilities(prob), gt.astype(bool, copy=False))

    def _add(self, prob: np.ndarray, gt: np.ndarray) -> None:
        frame = binary_frame(prob, gt, thresholds=self._thresholds, beta2=self.beta2)
        self._batch.ious.append(frame.iou)
        if frame.valid:
            self._batch.curves.add(frame.curve)
        self._tp += frame.tp
        self._fp += frame.fp
        self._fn += frame.fn
        self._open_frames += 1

    def end_clip(self) -> None:
        """Close the current clip (it needs at least one frame); every `batch_clips` clips close a batch."""
        if not self._open_frames:
            raise ValueError("a clip needs at least one labelled frame")
        self._n_frames += self._open_frames
        self._open_frames = 0
        self._n_clips += 1
        self._batch.n_clips += 1
        if self._batch.n_clips == self.batch_clips:
            self._done.append(self._batch.scores())
            self._batch = _BinaryBatch(self.num_thresholds)

    def add_clip(self, prob: np.ndarray, gt: np.ndarray) -> None:
        """Add one clip: prob T×H×W float in [0, 1] (or bool), gt T×H×W bool (T ≥ 1 labelled frames)."""
        prob, gt = _check_binary(prob, gt)
        if prob.shape[0] == 0:
            raise ValueError("a clip needs at least one labelled frame")
        if self._open_frames:
            raise ValueError("add_clip while a clip is open: call end_clip() first")
        prob = _check_probabilities(prob)
        for p, g in zip(prob, gt, strict=True):
            self._add(p, g)
        self.end_clip()

    def result(self) -> BinaryReport:
        """Scores over the clips added so far (a partial last batch counts as one batch)."""
        if self._open_frames:
            raise ValueError("a clip is still open: call end_clip() first")
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


def _check_labels(name: str, labels: np.ndarray, num_classes: int) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{name} labels must be in [0, {num_classes}), got [{labels.min()}, {labels.max()}]")


def frame_confusion(pred: np.ndarray, gt: np.ndarray, *, num_classes: int) -> np.ndarray:
    """One frame's confusion matrix: pred, gt H×W integer label maps → C×C int64, [g, p] = #pixels gt g, pred p.

    Counted in blocks of `PIXEL_BLOCK` pixels, so the temporaries stay small whatever the frame size.
    """
    pred, gt = np.asarray(pred), np.asarray(gt)
    if pred.ndim != 2 or pred.shape != gt.shape:
        raise ValueError(f"expected pred and gt label maps of the same shape H×W, got {pred.shape} and {gt.shape}")
    _check_labels("pred", pred, num_classes)
    _check_labels("gt", gt, num_classes)
    c2 = num_classes * num_classes
    confusion = np.zeros(c2, dtype=np.int64)
    flat_pred, flat_gt = pred.reshape(-1), gt.reshape(-1)
    for start in range(0, flat_pred.size, PIXEL_BLOCK):
        codes = flat_gt[start : start + PIXEL_BLOCK].astype(np.int64) * num_classes
        codes += flat_pred[start : start + PIXEL_BLOCK]
        confusion += np.bincount(codes, minlength=c2)
    return confusion.reshape(num_classes, num_classes)


def frame_confusions(pred: np.ndarray, gt: np.ndarray, *, num_classes: int) -> np.ndarray:
    """Per-frame confusion matrices: pred, gt T×H×W int → T×C×C int64, [t, g, p] = #pixels gt g, pred p."""
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.ndim == 2:
        pred, gt = pred[None], gt[None]
    if pred.ndim != 3 or pred.shape != gt.shape:
        raise ValueError(f"expected pred and gt label maps of the same shape T×H×W, got {pred.shape} and {gt.shape}")
    _check_labels("pred", pred, num_classes)
    _check_labels("gt", gt, num_classes)
    if not pred.shape[0]:
        return np.zeros((0, num_classes, num_classes), dtype=np.int64)
    return np.stack([frame_confusion(p, g, num_classes=num_classes) for p, g in zip(pred, gt, strict=True)])


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

    A clip is added whole (`add_clip`, T×H×W) or frame by frame (`add_frame` with H×W label maps of any
    integer dtype, then `end_clip()`); only a C×C confusion matrix and per-class sums are kept.
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
        self._clip_iou = RowSum(num_classes)  # the open clip's per-class sums, added to the totals at its end
        self._clip_f = RowSum(num_classes)

    def add_frame(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """Add one labelled frame of the current clip: pred, gt H×W integer label maps."""
        self._add(frame_confusion(pred, gt, num_classes=self.num_classes))

    def _add(self, conf: np.ndarray) -> None:
        inter = np.diagonal(conf).astype(np.float64)  # C
        area_pred = conf.sum(axis=0).astype(np.float64)
        area_gt = conf.sum(axis=1).astype(np.float64)
        union = area_pred + area_gt - inter
        self._clip_iou.add(inter / (SEMANTIC_EPS + union))
        with np.errstate(divide="ignore", invalid="ignore"):
            self._clip_f.add(f_measure(inter / area_pred, inter / area_gt, beta2=self.beta2))
        self._count += union > 0
        self._confusion += conf
        if area_gt[1:].sum() > 0:
            tp = int(conf[1:, 1:].sum())
            self._tp += tp
            self._fp += int(conf[0, 1:].sum())
            self._fn += int(conf[1:, 0].sum())

    def end_clip(self) -> None:
        """Close the current clip (it needs at least one frame)."""
        if not self._clip_iou.count:
            raise ValueError("a clip needs at least one labelled frame")
        self._iou_sum += self._clip_iou.total()
        self._f_sum += self._clip_f.total()
        self._n_frames += self._clip_iou.count
        self._n_clips += 1
        self._clip_iou = RowSum(self.num_classes)
        self._clip_f = RowSum(self.num_classes)

    def add_clip(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """Add one clip: pred, gt T×H×W integer label maps (labelled frames only)."""
        if self._clip_iou.count:
            raise ValueError("add_clip while a clip is open: call end_clip() first")
        pred, gt = np.asarray(pred), np.asarray(gt)
        if pred.ndim == 2:
            pred, gt = pred[None], gt[None]
        if pred.ndim != 3 or pred.shape != gt.shape:
            raise ValueError(
                f"expected pred and gt label maps of the same shape T×H×W, got {pred.shape} and {gt.shape}"
            )
        _check_labels("pred", pred, self.num_classes)
        _check_labels("gt", gt, self.num_classes)
        for p, g in zip(pred, gt, strict=True):
            self.add_frame(p, g)
        if self._clip_iou.count:
            self.end_clip()
        else:  # no labelled frame: nothing scored, the clip still counts (as it always has)
            self._n_clips += 1

    def result(self) -> SemanticReport:
        if self._clip_iou.count:
            raise ValueError("a clip is still open: call end_clip() first")
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
