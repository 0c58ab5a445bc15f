"""The training loop every student shares (plain torch): seeded, resumable, weighted BCE + soft IoU.

`train_loop(net, items, config, prepare_batch=..., progress=..., checkpoint_dir=...)` trains `net` in place and
returns a `TrainReport`. A student's `fit` builds its network (seeded), then calls it.

Contract with the student (`prepare_batch` and `net`):

- `prepare_batch(batch: TrainBatch, device: torch.device) -> inputs` turns a batch of training items into
  whatever the network takes (a tensor, a tuple, a dict: opaque to the loop), on `device`. `batch.items` are the
  items *as augmented* (frame, target and weight already flipped horizontally where `batch.flipped[i]`; the
  arrays may be non-contiguous views, `np.ascontiguousarray` them), read from `items` when first asked for. A
  student that caches per-item inputs (e.g. frozen image embeddings) should use `batch.indices` (positions in
  the `items` given to `train_loop`, stable over epochs and resumes) and `batch.flipped` instead, never touching
  `batch.items`; it must then apply the flip itself. `items` may be a lazy sequence (each `items[i]` decoding
  stored media): the loop reads every item once before training, and again only through `batch.items`.
  `frame_batch` and `audio_batch` below do the usual conversions.
- `net(inputs)` returns foreground **logits** (not probabilities), float, B×1×h×w or B×h×w, any h×w (the loop
  brings targets and weights to that size: area-averaged, so ignored pixels stay ignored exactly).
- Only parameters with `requires_grad` are optimised (and checkpointed, with all buffers): freeze what must stay
  frozen before calling. `net.train()` is called before each epoch; a student whose frozen parts must stay in
  eval mode overrides its module's `train()`. The loop leaves the network in eval mode.

Loss, per batch (`loss_terms`): with item weight a_i (`config.human_weight` for human items, 1 for pseudo ones)
and pixel weight w (the item's `weight`, 0 in the ignored band of pseudo-labels):
  BCE = Σ a_i·w·bce(p, t) / Σ a_i·w, soft IoU = Σ_i a_i·(1 − (Σ w·p·t + 1)/(Σ w·(p + t − p·t) + 1)) / Σ_i a_i
(items whose every pixel is ignored count in neither term). Pseudo-label targets are binarised at 0.5 and their
pixels whose teacher probability lies in (`pseudo_low`, `pseudo_high`) get weight 0; human targets are used as
given. Optimiser AdamW (`learning_rate`, `weight_decay`), learning rate decayed per step by a cosine to 0,
gradients clipped to norm 1.0.

Determinism and resume: the data order and flips of epoch e come from a generator seeded by (seed, e); the
global torch RNG (dropout) is seeded by `config.seed` and saved in each checkpoint. After each epoch the loop
writes `checkpoint_dir/checkpoint.pt` atomically (a temporary file, then a rename): trainable weights and
buffers, optimiser, scheduler, epoch, RNG state, loss curve and a fingerprint of the run (config without
`device`, the items' keys and shapes). `train_loop` called again with the same `checkpoint_dir` and the same
run continues after the last finished epoch and ends with the same weights as an uninterrupted run (bit for
bit on CPU); a checkpoint of another run is ignored (and overwritten). Checkpoints are read with
`torch.load(weights_only=True)`: reading one never executes code.

Cancellation: `progress` is called every `PROGRESS_EVERY` steps and after each epoch (after that epoch's
checkpoint is written). Any exception it raises propagates out of `train_loop` unchanged and stops training;
the finished epochs are kept in `checkpoint_dir`, so a later call resumes from there.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ml_backend.foundation.config import config_hash
from ml_backend.students.base import (
    SOURCE_HUMAN,
    SOURCE_PSEUDO,
    ProgressFn,
    StudentConfig,
    TrainItem,
    TrainProgress,
    TrainReport,
)

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_FORMAT = 1
PROGRESS_EVERY = 10  # steps between two progress reports within an epoch
GRAD_CLIP = 1.0
IOU_SMOOTH = 1.0


class TrainBatch:
    """What `prepare_batch` receives: the batch's `indices` (positions in the training list), whether each item
    is `flipped` horizontally, and `items`: the items as augmented, read from the training list only when first
    asked for (a lazy list, e.g. one decoding stored frames, is then read once per item and epoch; a student that
    caches its inputs by index never pays that)."""

    def __init__(self, source: Sequence[TrainItem], indices: list[int], flipped: list[bool]) -> None:
        self._source = source
        self.indices = indices
        self.flipped = flipped
        self._items: list[TrainItem] | None = None

    @property
    def items(self) -> list[TrainItem]:
        if self._items is None:
            self._items = [
                _flipped(self._source[i]) if f else self._source[i]
                for i, f in zip(self.indices, self.flipped, strict=True)
            ]
        return self._items


PrepareBatchFn = Callable[[TrainBatch, torch.device], Any]


# ---------------------------------------------------------------- devices, seeds, input helpers


def resolve_device(preference: str = "auto") -> torch.device:
    """ "auto": CUDA when torch sees a GPU, else CPU; "cpu"; "cuda" / "cuda:N" (an error when no GPU is there)."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if preference == "cpu":
        return torch.device("cpu")
    if preference.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {preference!r}: CUDA was asked for but no GPU is available to torch")
        return torch.device(preference)
    raise ValueError(f"device: expected 'auto', 'cpu' or 'cuda[:N]', got {preference!r}")


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators (call before building a network)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def frame_batch(items: Sequence[TrainItem], size: int, device: torch.device | str) -> torch.Tensor:
    """B×3×size×size float32 in [0, 1] from the items' H×W×3 uint8 frames (bilinear, antialiased)."""
    return frames_to_tensor([item.frame for item in items], size, device)


def frames_to_tensor(frames: Sequence[np.ndarray], size: int, device: torch.device | str) -> torch.Tensor:
    """B×3×size×size float32 in [0, 1] from H×W×3 uint8 frames (any sizes)."""
    out = []
    for frame in frames:
        tensor = torch.from_numpy(np.array(frame, copy=True)).to(device).permute(2, 0, 1)[None].float() / 255.0
        if tensor.shape[-2:] != (size, size):
            tensor = F.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        out.append(tensor)
    return torch.cat(out).clamp_(0.0, 1.0)


def audio_batch(items: Sequence[TrainItem], length: int, device: torch.device | str) -> torch.Tensor:
    """B×length float32: each item's audio window, cut or zero-padded to `length` samples."""
    return audio_to_tensor([item.audio for item in items], length, device)


def audio_to_tensor(windows: Sequence[np.ndarray | None], length: int, device: torch.device | str) -> torch.Tensor:
    out = np.zeros((len(windows), length), dtype=np.float32)
    for i, window in enumerate(windows):
        if window is None:
            continue
        samples = np.asarray(window, dtype=np.float32).reshape(-1)[:length]
        out[i, : len(samples)] = samples
    return torch.from_numpy(out).to(device)


# ---------------------------------------------------------------- targets, weights, loss


def target_and_weight(item: TrainItem, config: StudentConfig) -> tuple[np.ndarray, np.ndarray]:
    """The item's loss target and pixel weight (H×W float32), before resizing: pseudo-label targets binarised at
    0.5 with their uncertain band (`pseudo_low`, `pseudo_high`) weighted 0; human targets as given."""
    target = np.asarray(item.target, dtype=np.float32)
    weight = np.broadcast_to(np.asarray(item.weight, dtype=np.float32), target.shape).astype(np.float32)
    if item.source == SOURCE_PSEUDO:
        uncertain = (target > config.pseudo_low) & (target < config.pseudo_high)
        weight = np.where(uncertain, np.float32(0.0), weight)
        target = (target >= 0.5).astype(np.float32)
    return target, weight


def resize_target(target: torch.Tensor, weight: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, ...]:
    """B×H×W target and weight → B×h×w by area averaging of weight·target and weight, so a pixel of weight 0
    contributes nothing whatever its target. Returns (target, weight)."""
    if tuple(target.shape[-2:]) == tuple(size):
        return target, weight
    weighted = F.adaptive_avg_pool2d((weight * target)[:, None], size)[:, 0]
    pooled = F.adaptive_avg_pool2d(weight[:, None], size)[:, 0]
    resized = torch.where(pooled > 0, weighted / pooled.clamp_min(1e-12), torch.zeros_like(pooled))
    return resized.clamp_(0.0, 1.0), pooled


def loss_terms(
    logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, item_weight: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(weighted BCE, weighted soft-IoU loss) of B×h×w logits against B×h×w target/weight; see the module doc."""
    logits = logits.float()
    if logits.ndim == 4:
        logits = logits[:, 0]
    prob = torch.sigmoid(logits)
    pixel = weight * item_weight[:, None, None]
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    bce_loss = (pixel * bce).sum() / pixel.sum().clamp_min(1e-8)
    intersection = (weight * prob * target).flatten(1).sum(1)
    union = (weight * (prob + target - prob * target)).flatten(1).sum(1)
    iou = (intersection + IOU_SMOOTH) / (union + IOU_SMOOTH)
    counted = item_weight * (weight.flatten(1).sum(1) > 0).float()
    iou_loss = (counted * (1.0 - iou)).sum() / counted.sum().clamp_min(1e-8)
    return bce_loss, iou_loss


def segmentation_loss(
    logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, item_weight: torch.Tensor
) -> torch.Tensor:
    """Weighted BCE + soft IoU (AV2T-SAM's loss)."""
    bce, iou = loss_terms(logits, target, weight, item_weight)
    return bce + iou


# ---------------------------------------------------------------- the loop


def validate_items(items: Sequence[TrainItem]) -> None:
    """Raise ValueError naming the first malformed item (shapes, sources, weights)."""
    if not items:
        raise ValueError("no training items: a student needs at least one labelled or pseudo-labelled frame")
    for i, item in enumerate(items):
        validate_item(i, item)


def validate_item(i: int, item: TrainItem) -> None:
    """Raise ValueError naming item `i` when it is malformed (shapes, sources, weights)."""
    name = f"training item {i} ({item.clip_key or 'clip'} frame {item.frame_index})"
    frame = np.asarray(item.frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"{name}: frame must be H×W×3 uint8, got {frame.shape} {frame.dtype}")
    target = np.asarray(item.target)
    if target.shape != frame.shape[:2]:
        raise ValueError(f"{name}: target shape {target.shape} differs from the frame's {frame.shape[:2]}")
    if target.size and not (np.all(np.isfinite(target)) and target.min() >= 0 and target.max() <= 1):
        raise ValueError(f"{name}: target values must lie in [0, 1]")
    weight = np.asarray(item.weight)
    if weight.ndim and weight.shape != target.shape:
        raise ValueError(f"{name}: weight shape {weight.shape} differs from the target's {target.shape}")
    if not np.all(np.isfinite(weight)) or np.any(weight < 0):
        raise ValueError(f"{name}: weights must be finite and >= 0")
    if item.source not in (SOURCE_HUMAN, SOURCE_PSEUDO):
        raise ValueError(f"{name}: source must be {SOURCE_HUMAN!r} or {SOURCE_PSEUDO!r}, got {item.source!r}")


def item_key(item: TrainItem) -> list[Any]:
    """What identifies an item in a run's fingerprint: its clip, frame index, source and target shape."""
    return [item.clip_key, int(item.frame_index), item.source, list(np.asarray(item.target).shape)]


def run_fingerprint(keys: Sequence[list[Any]], config: StudentConfig) -> str:
    """What identifies a run for resuming: the config (its `device` aside) and the items' keys (`item_key`)."""
    settings = dataclasses.asdict(config)
    settings.pop("device", None)
    return config_hash({"config": settings, "items": [list(k) for k in keys]})


def cosine_factor(step: int, total: int) -> float:
    """Learning-rate factor after `step` of `total` steps: 0.5·(1 + cos(π·step/total)), from 1 down to 0."""
    return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / max(total, 1)))


def _epoch_plan(seed: int, epoch: int, count: int, augment: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([int(seed) % (2**63), epoch])
    order = rng.permutation(count)
    flips = rng.random(count) < 0.5 if augment else np.zeros(count, dtype=bool)
    return order, flips


def _flipped(item: TrainItem) -> TrainItem:
    weight = item.weight
    if isinstance(weight, np.ndarray) and weight.ndim == 2:
        weight = weight[:, ::-1]
    return dataclasses.replace(item, frame=item.frame[:, ::-1], target=np.asarray(item.target)[:, ::-1], weight=weight)


def _trainable_state(net: nn.Module) -> dict[str, torch.Tensor]:
    trainable = {name for name, p in net.named_parameters() if p.requires_grad}
    buffers = {name for name, _ in net.named_buffers()}
    return {k: v.detach().cpu().clone() for k, v in net.state_dict().items() if k in trainable or k in buffers}


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if torch.cuda.is_available() and "cuda" in state and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".checkpoint-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(checkpoint_dir: str | Path) -> dict[str, Any] | None:
    """The last checkpoint in `checkpoint_dir` (read with weights_only=True), or None when there is none or it
    cannot be read (a warning is logged; training then starts over)."""
    path = Path(checkpoint_dir) / CHECKPOINT_NAME
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: start over rather than fail the round
        logger.warning("ignoring unreadable training checkpoint %s: %s", path, exc)
        return None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        logger.warning("ignoring training checkpoint %s of an unknown format", path)
        return None
    return payload


def train_loop(
    net: nn.Module,
    items: Sequence[TrainItem],
    config: StudentConfig,
    *,
    prepare_batch: PrepareBatchFn,
    progress: ProgressFn | None = None,
    checkpoint_dir: str | Path | None = None,
) -> TrainReport:
    """Train `net` in place on `items` (see the module doc for the contract, the loss and resuming).

    Raises ValueError for no or malformed items or a bad device; whatever `progress` raises (cancellation).
    """
    count = len(items)
    if not count:
        raise ValueError("no training items: a student needs at least one labelled or pseudo-labelled frame")
    device = resolve_device(config.device)
    net.to(device)
    batch_size = max(1, int(config.batch_size))
    steps_per_epoch = math.ceil(count / batch_size)
    total_steps = steps_per_epoch * config.epochs
    augment = bool(getattr(config, "augment", True))

    parameters = [p for p in net.parameters() if p.requires_grad]
    if not parameters:
        raise ValueError("the network has no trainable parameter")
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: cosine_factor(step, total_steps))

    # One pass over the items (each read once): validated, targets and weights at the input size (area-averaged
    # from each item's own resolution), item weights, fingerprint keys.
    size = (int(config.input_size), int(config.input_size))
    targets = torch.empty((count, *size), dtype=torch.float32)
    weights = torch.empty((count, *size), dtype=torch.float32)
    item_weights = torch.empty(count, dtype=torch.float32)
    keys: list[list[Any]] = []
    for i in range(count):
        item = items[i]
        validate_item(i, item)
        target, weight = target_and_weight(item, config)
        t, w = resize_target(torch.from_numpy(target)[None], torch.from_numpy(weight)[None], size)
        targets[i], weights[i] = t[0], w[0]
        item_weights[i] = config.human_weight if item.source == SOURCE_HUMAN else 1.0
        keys.append(item_key(item))
        del item
    human_items = sum(1 for key in keys if key[2] == SOURCE_HUMAN)

    fingerprint = run_fingerprint(keys, config)
    checkpoint_path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    start_epoch, curve, seconds_before = 0, [], 0.0
    torch.manual_seed(config.seed)
    payload = load_checkpoint(checkpoint_dir) if checkpoint_dir is not None else None
    if payload is not None and payload.get("fingerprint") != fingerprint:
        logger.warning("training checkpoint in %s belongs to another run: starting over", checkpoint_dir)
        payload = None
    if payload is not None:
        missing = set(_trainable_state(net)) - set(payload["model"])
        if missing:
            raise ValueError(f"training checkpoint lacks weights {sorted(missing)[:3]}: not this network's")
        net.load_state_dict(payload["model"], strict=False)
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        _set_rng_state(payload["rng"])
        start_epoch = int(payload["epoch"])
        curve = [float(v) for v in payload["curve"]]
        seconds_before = float(payload.get("seconds", 0.0))
        logger.info("resuming training from epoch %d of %d (%s)", start_epoch, config.epochs, checkpoint_path)

    started = time.monotonic()
    for epoch in range(start_epoch, config.epochs):
        net.train()
        order, flips = _epoch_plan(config.seed, epoch, count, augment)
        total_loss, seen = 0.0, 0
        for step_in_epoch in range(steps_per_epoch):
            chosen = order[step_in_epoch * batch_size : (step_in_epoch + 1) * batch_size].tolist()
            flipped = [bool(flips[i]) for i in chosen]
            inputs = prepare_batch(TrainBatch(items, chosen, flipped), device)
            target = targets[chosen]
            weight = weights[chosen]
            flip_rows = torch.tensor(flipped)
            if flip_rows.any():
                target = torch.where(flip_rows[:, None, None], target.flip(-1), target)
                weight = torch.where(flip_rows[:, None, None], weight.flip(-1), weight)
            logits = net(inputs)
            if logits.ndim == 4:
                logits = logits[:, 0]
            target, weight = resize_target(target.to(device), weight.to(device), tuple(logits.shape[-2:]))
            loss = segmentation_loss(logits, target, weight, item_weights[chosen].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, GRAD_CLIP)
            optimizer.step()
            scheduler.step()
            total_loss += float(loss.detach()) * len(chosen)
            seen += len(chosen)
            step = epoch * steps_per_epoch + step_in_epoch + 1
            if (
                progress is not None
                and (step_in_epoch + 1) % PROGRESS_EVERY == 0
                and step_in_epoch + 1 < steps_per_epoch
            ):
                elapsed = seconds_before + time.monotonic() - started
                progress(TrainProgress(epoch + 1, config.epochs, step, total_steps, total_loss / seen, elapsed))
        curve.append(total_loss / max(seen, 1))
        elapsed = seconds_before + time.monotonic() - started
        if checkpoint_path is not None:
            _save_checkpoint(
                checkpoint_path,
                {
                    "format": CHECKPOINT_FORMAT,
                    "fingerprint": fingerprint,
                    "epoch": epoch + 1,
                    "model": _trainable_state(net),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "rng": _rng_state(),
                    "curve": curve,
                    "seconds": elapsed,
                },
            )
        if progress is not None:
            progress(
                TrainProgress(epoch + 1, config.epochs, (epoch + 1) * steps_per_epoch, total_steps, curve[-1], elapsed)
            )
    net.eval()
    return TrainReport(
        curve=curve,
        items=count,
        human_items=human_items,
        pseudo_items=count - human_items,
        resumed_from_epoch=start_epoch,
        seconds=seconds_before + time.monotonic() - started,
    )
