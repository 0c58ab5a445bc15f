"""The shared training loop (ml_backend.students.training): loss weighting, progress, cancel and resume."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from ml_backend.students.base import SOURCE_HUMAN, SOURCE_PSEUDO, TrainItem, TrainProgress
from ml_backend.students.compact import CompactStudent, tiny_config
from ml_backend.students.training import (
    CHECKPOINT_NAME,
    loss_terms,
    resize_target,
    target_and_weight,
    train_loop,
)


class Cancelled(Exception):
    pass


def weights_of(student: CompactStudent) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in student.net.state_dict().items()}


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"weights differ: {different[:3]}"


def fit(items, config, **kwargs) -> tuple[CompactStudent, object]:
    student = CompactStudent(config)
    report = student.fit(items, config, **kwargs)
    return student, report


@pytest.fixture(scope="module")
def items(synth_set) -> list[TrainItem]:
    return synth_set.train[:24]


def test_a_cancelled_run_resumes_from_its_checkpoint_and_ends_like_an_uninterrupted_one(items, tmp_path):
    config = tiny_config(epochs=4)
    whole, whole_report = fit(items, config, checkpoint_dir=tmp_path / "whole")

    seen: list[TrainProgress] = []

    def cancel_after_epoch_2(progress: TrainProgress) -> None:
        seen.append(progress)
        if progress.epoch == 2 and progress.step == progress.steps // 2:
            raise Cancelled

    with pytest.raises(Cancelled):
        fit(items, config, progress=cancel_after_epoch_2, checkpoint_dir=tmp_path / "run")
    assert [p.epoch for p in seen] == [1, 2]
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [CHECKPOINT_NAME]  # no temporary file left
    checkpoint = torch.load(tmp_path / "run" / CHECKPOINT_NAME, weights_only=True)  # plain data, no code
    assert checkpoint["epoch"] == 2 and len(checkpoint["curve"]) == 2

    resumed, report = fit(items, config, checkpoint_dir=tmp_path / "run")
    assert report.resumed_from_epoch == 2 and whole_report.resumed_from_epoch == 0
    assert report.curve == whole_report.curve and len(report.curve) == 4
    assert_same_weights(weights_of(resumed), weights_of(whole))

    again, report = fit(items, config, checkpoint_dir=tmp_path / "run")  # all epochs done: nothing to train
    assert report.resumed_from_epoch == 4
    assert_same_weights(weights_of(again), weights_of(whole))


def test_a_checkpoint_of_another_run_or_a_damaged_one_is_not_resumed(items, tmp_path):
    fit(items, tiny_config(epochs=2, seed=0), checkpoint_dir=tmp_path)
    other, report = fit(items, tiny_config(epochs=2, seed=1), checkpoint_dir=tmp_path)
    fresh, _ = fit(items, tiny_config(epochs=2, seed=1))
    assert report.resumed_from_epoch == 0
    assert_same_weights(weights_of(other), weights_of(fresh))

    (tmp_path / CHECKPOINT_NAME).write_bytes(b"not a checkpoint")
    _, report = fit(items, tiny_config(epochs=2, seed=1), checkpoint_dir=tmp_path)
    assert report.resumed_from_epoch == 0 and len(report.curve) == 2


def pseudo_items(items: list[TrainItem], band_value: float) -> list[TrainItem]:
    """Pseudo-labels: confident teacher probabilities (0.95 / 0.05), except a ring around each object whose
    probability is `band_value`."""
    out = []
    for item in items:
        mask = item.target > 0.5
        ring = np.zeros_like(mask)
        if mask.any():
            ys, xs = np.nonzero(mask)
            ring[max(ys.min() - 3, 0) : ys.max() + 4, max(xs.min() - 3, 0) : xs.max() + 4] = True
            ring &= ~mask
        else:
            ring[:8, :8] = True
        probability = np.where(mask, 0.95, 0.05).astype(np.float32)
        probability[ring] = band_value
        out.append(dataclasses.replace(item, target=probability, source=SOURCE_PSEUDO))
    return out


def test_pseudo_label_pixels_in_the_uncertain_band_are_ignored(items):
    config = tiny_config(epochs=2, pseudo_low=0.3, pseudo_high=0.7)
    low, _ = fit(pseudo_items(items, 0.35), config)
    high, _ = fit(pseudo_items(items, 0.65), config)
    assert_same_weights(weights_of(low), weights_of(high))  # band targets 0.35 vs 0.65: the same training

    outside, _ = fit(pseudo_items(items, 0.75), config)  # 0.75 is a confident foreground: it is learned
    assert not all(
        torch.equal(a, b) for a, b in zip(weights_of(low).values(), weights_of(outside).values(), strict=True)
    )

    # At the loss itself: only the ignored pixels differ, the loss is identical.
    a, wa = target_and_weight(pseudo_items(items[:1], 0.31)[0], config)
    b, wb = target_and_weight(pseudo_items(items[:1], 0.69)[0], config)
    assert np.array_equal(wa, wb) and (wa == 0).any()
    logits = torch.randn(1, 1, 16, 16)
    one = resize_target(torch.from_numpy(a)[None], torch.from_numpy(wa)[None], (16, 16))
    two = resize_target(torch.from_numpy(b)[None], torch.from_numpy(wb)[None], (16, 16))
    assert [float(t) for t in loss_terms(logits, *one, torch.ones(1))] == [
        float(t) for t in loss_terms(logits, *two, torch.ones(1))
    ]


def test_pseudo_targets_are_binarised_and_human_targets_kept():
    probability = np.array([[0.1, 0.35, 0.55, 0.9]], dtype=np.float32)
    item = TrainItem(np.zeros((1, 4, 3), np.uint8), np.zeros(16, np.float32), 16000, probability, source=SOURCE_PSEUDO)
    target, weight = target_and_weight(item, tiny_config(pseudo_low=0.3, pseudo_high=0.6))
    assert target.tolist() == [[0.0, 0.0, 1.0, 1.0]] and weight.tolist() == [[1.0, 0.0, 0.0, 1.0]]
    human = dataclasses.replace(item, source=SOURCE_HUMAN, weight=0.5)
    target, weight = target_and_weight(human, tiny_config())
    assert np.array_equal(target, probability) and weight.tolist() == [[0.5] * 4]


def test_human_labels_weigh_more_than_conflicting_pseudo_labels(items):
    """The same frames twice: a person marks the sounding object, the teacher (confidently) marks nothing.
    With a high human weight the student follows the person; with a low one, the teacher."""
    sounding = [item for item in items if item.target.any()][:12]
    conflict = sounding + [
        dataclasses.replace(item, target=np.zeros_like(item.target), source=SOURCE_PSEUDO) for item in sounding
    ]

    def foreground_probability(human_weight: float) -> float:
        student, _ = fit(conflict, tiny_config(epochs=8, human_weight=human_weight))
        inside = []
        for item in sounding:
            with torch.no_grad():
                prob = student.net(student._inputs([item.frame], [item.audio], [item.sample_rate]))
            prob = torch.sigmoid(torch.nn.functional.interpolate(prob, size=item.target.shape, mode="bilinear"))
            inside.append(float(prob[0, 0][torch.from_numpy(item.target > 0.5)].mean()))
        return float(np.mean(inside))

    heavy, light = foreground_probability(8.0), foreground_probability(0.125)
    assert heavy > 0.5 > light
    assert heavy - light > 0.3


def test_progress_is_reported_within_and_after_each_epoch(items):
    seen: list[TrainProgress] = []
    _, report = fit(items[:12], tiny_config(epochs=2, batch_size=1), progress=seen.append)
    assert [(p.epoch, p.step) for p in seen] == [(1, 10), (1, 12), (2, 22), (2, 24)]
    assert all(p.steps == 24 and p.epochs == 2 and np.isfinite(p.loss) for p in seen)
    assert [p.loss for p in seen if p.step % 12 == 0] == report.curve
    assert seen[-1].seconds >= seen[0].seconds
    assert (report.items, report.human_items, report.pseudo_items) == (12, 12, 0)


def test_malformed_items_are_refused_with_the_item_named(items):
    config = tiny_config(epochs=1)
    with pytest.raises(ValueError, match="no training items"):
        fit([], config)
    bad = dataclasses.replace(items[0], target=np.zeros((3, 3), np.float32), clip_key="c1", frame_index=4)
    with pytest.raises(ValueError, match=r"training item 1 \(c1 frame 4\): target shape"):
        fit([items[1], bad], config)
    negative = dataclasses.replace(items[0], weight=-1.0)
    with pytest.raises(ValueError, match="weights must be finite and >= 0"):
        fit([negative], config)


def test_the_loop_trains_any_network_through_prepare_batch(items):
    """A network that is not a student: the loop only needs `prepare_batch` and logits of any size."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 1, 1))
    batches = []

    def prepare_batch(batch, device):
        batches.append(batch)
        from ml_backend.students.training import frame_batch

        return frame_batch(batch.items, 16, device)  # logits at 16×16 while targets are at input_size 32

    config = tiny_config(epochs=2, learning_rate=0.05)
    report = train_loop(net, items, config, prepare_batch=prepare_batch)
    assert len(report.curve) == 2 and report.curve[1] < report.curve[0]
    assert not net.training
    first = batches[0]
    for item, index, flipped in zip(first.items, first.indices, first.flipped, strict=True):
        original = items[index]
        assert np.array_equal(item.frame, original.frame[:, ::-1] if flipped else original.frame)
    assert any(f for b in batches for f in b.flipped) and not all(f for b in batches for f in b.flipped)
