"""Evaluation reports scored frame by frame: the figures of whole stacked clips, in memory bounded by one frame."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from server.annotations.models import Annotation, Proposal
from server.annotations.services import PROPOSAL_FALLBACK_LABEL
from server.core.masks import rle_decode, rle_encode
from server.datasets.services.evaluation import BATCH_CLIPS, evaluation_run
from server.media.models import Clip, Label
from tests.factories import AnnotationFactory, ClipFactory, FrameFactory, ModelVersionFactory
from tests.ml_backend.evaluation.reference_metrics import reference_binary, reference_semantic
from tests.server.datasets.conftest import proposals_from_ground_truth

pytestmark = pytest.mark.django_db


def _stacked_label_maps(clip: Clip, version, index_of: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """(truth, prediction) T×H×W int64 over the accepted frames: the whole-clip arrays scored before streaming."""
    unknown = len(index_of) + 1
    proposed = {e["frame_index"]: e["instances"] for e in Proposal.objects.get(clip=clip, model_version=version).frames}

    def paint(instances, size):
        labels = np.zeros(size, dtype=np.int64)
        for instance in instances:
            label = (instance.get("label") or "").strip() or PROPOSAL_FALLBACK_LABEL
            labels[rle_decode(instance["mask"]).astype(bool)] = index_of.get(label.lower(), unknown)
        return labels

    truths, predictions = [], []
    for a in Annotation.objects.filter(clip=clip, status="accepted").select_related("frame").order_by("frame__index"):
        size = (a.frame.height, a.frame.width)
        truths.append(paint(a.instances, size))
        ordered = sorted(proposed.get(a.frame.index, []), key=lambda i: float(i.get("score") or 0.0))
        predictions.append(paint(ordered, size))
    return np.stack(truths), np.stack(predictions)


def _perturb(project, version) -> None:
    """Proposals that get things wrong in several ways: dropped, shifted, relabelled, unlabelled, unknown labels."""
    rng = np.random.default_rng(3)
    for n, proposal in enumerate(Proposal.objects.filter(model_version=version).order_by("clip_id")):
        frames = proposal.frames
        for k, entry in enumerate(frames):
            kept = []
            for j, instance in enumerate(entry["instances"]):
                instance["score"] = float(rng.random())  # painting order follows the score
                case = (n + k + j) % 5
                if case == 0:
                    continue  # missed
                if case == 1:
                    mask = np.roll(rle_decode(instance["mask"]), 5, axis=1)
                    instance["mask"] = rle_encode(mask)
                elif case == 2:
                    instance["label"] = "a label the project does not have"
                elif case == 3 and n % 2:
                    instance["label"] = ""  # counts as "sounding object"
                kept.append(instance)
            entry["instances"] = kept
        proposal.frames = frames
        proposal.save()


@pytest.mark.parametrize("protocol", ["ms3", "avss"])
def test_streamed_report_equals_the_stacked_reference(protocol, project, datasets, import_dataset):
    out, error = import_dataset(project, datasets(protocol), protocol)
    assert error is None, out
    version = ModelVersionFactory(project=project)
    proposals_from_ground_truth(project=project, model_version=version)
    _perturb(project, version)

    report = evaluation_run(model_version_id=version.pk, clip_ids="all", split="all")

    labels = list(Label.objects.filter(project=project).order_by("name").values_list("name", flat=True))
    index_of = {name.lower(): k + 1 for k, name in enumerate(labels)}
    names = ["background", *labels, "(label not in the project)"]
    clips = list(Clip.objects.filter(project=project).order_by("id"))
    stacked = [_stacked_label_maps(clip, version, index_of) for clip in clips]
    binary = reference_binary([((p > 0).astype(np.float32), t > 0) for t, p in stacked], batch_clips=BATCH_CLIPS)
    semantic = reference_semantic([(p, t) for t, p in stacked], num_classes=len(names))
    s = report.summary
    assert (s["miou"], s["fscore"], s["fscore_at_0_5"]) == (binary["miou"], binary["fscore"], binary["fscore_at_0_5"])
    assert (s["semantic_miou"], s["semantic_fscore"]) == (semantic["miou"], semantic["fscore"])
    assert s["per_class_iou"] == {names[int(c)]: v for c, v in semantic["per_class_iou"].items()}
    assert (s["n_clips"], s["n_frames"], s["n_batches"]) == (len(clips), binary["n_frames"], binary["n_batches"])
    assert len(s["per_class_iou"]) >= (5 if protocol == "avss" else 3)  # several classes, the unknown one included
    assert 0.0 < s["semantic_miou"] < 1.0 and 0.0 < s["miou"] < 1.0
    for row, clip, (truth, predicted) in zip(report.per_clip, clips, stacked, strict=True):
        alone = reference_binary([((predicted > 0).astype(np.float32), truth > 0)], batch_clips=1)
        assert row["clip_id"] == clip.pk and row["n_frames"] == truth.shape[0]
        assert (row["miou"], row["fscore"], row["fscore_at_0_5"]) == (
            alone["miou"],
            alone["fscore"],
            alone["fscore_at_0_5"],
        )
        assert row["semantic_miou"] == reference_semantic([(predicted, truth)], num_classes=len(names))["miou"]


def _long_clip(project, version, frames: int, size: int = 256) -> None:
    """One clip of `frames` accepted size×size frames, each with a box, and a proposal shifting the box."""
    clip = ClipFactory(project=project)
    truth = np.zeros((size, size), dtype=bool)
    truth[40:200, 30:180] = True
    guess = np.roll(truth, 12, axis=0)
    entries = []
    for k in range(frames):
        frame = FrameFactory(clip=clip, index=k, image__width=size, image__height=size)
        AnnotationFactory(frame=frame, status="accepted", instances=[{"mask": rle_encode(truth), "label": "dog"}])
        entries.append({"frame_index": k, "instances": [{"mask": rle_encode(guess), "label": "dog", "score": 0.9}]})
    Proposal.objects.create(clip=clip, model_version=version, frames=entries)


def _peak_of_evaluating(project, frames: int) -> tuple[int, dict]:
    version = ModelVersionFactory(project=project)
    _long_clip(project, version, frames)
    tracemalloc.start()
    try:
        report = evaluation_run(model_version_id=version.pk, clip_ids="all", split="all")
        return tracemalloc.get_traced_memory()[1], report.summary
    finally:
        tracemalloc.stop()


def test_memory_of_an_evaluation_does_not_grow_with_clip_length():
    from tests.factories import ProjectFactory

    short, short_summary = _peak_of_evaluating(ProjectFactory(), 6)
    long, long_summary = _peak_of_evaluating(ProjectFactory(), 24)

    assert long_summary["n_frames"] == 24 and long_summary["miou"] == pytest.approx(short_summary["miou"])
    # Whole-clip int64 label maps (truth and prediction) of 24 frames alone would be 24·2·256²·8 B = 24 MiB.
    assert long < 1.5 * short, (short, long)
