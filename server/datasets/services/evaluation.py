"""Evaluation reports: a model version's proposals scored against the accepted annotations of chosen clips.

Scored with `ml_backend.evaluation` (through `ml_backend.serving.datasets`), AVSBench-exact (REFERENCES.md §2):

- **binary** (S4/MS3 style): ground truth of a frame = the union of its accepted annotation's instances;
  prediction = the union of the proposal's instances on that frame (a stored proposal keeps hard masks, so
  every instance counts as probability 1 and the official F equals F at a fixed threshold frame by frame).
  Official mIoU and F with batch semantics — batches of 4 clips in clip-id order, each batch weighted
  equally, F the per-batch maximum over 255 thresholds — beside the batch-independent F at 0.5.
- **semantic** (AVSS style): the project's labels, by name, are class indices 1..N (0 background); instances
  are painted in order (later on top; proposal instances by ascending score, so the surest is on top);
  unlabelled proposal instances are "sounding object" (as when a proposal is accepted), and labels outside the
  vocabulary count as one extra class. `semantic_miou` is the mean over the
  classes that occur; `per_class_iou` names each class.
- **per clip**: the same binary figures for the clip alone (a batch of one) and its semantic mIoU.

Scored frame by frame: one frame's label maps (uint8 for up to 255 classes) are in memory at a time, and the
evaluators keep per-frame statistics only, so memory does not grow with clip length (the figures equal those
of stacking each clip's frames).

Only frames with an accepted annotation are scored. A proposal without an entry for such a frame predicts
nothing there. Clips without a proposal of the model version are refused with an error naming them: comparing
versions on different clip sets would mislead (evaluate the clips that have proposals by listing them).

Results: an `EvaluationReport` (everything, per clip too) and `ModelVersion.metrics["evaluation"][split]` —
the headline figures, keyed by split name ("all", or the name given) with `evaluated_at`, so the model
versions list shows versions side by side per split (a later evaluation on the same split replaces the entry;
the reports keep the history).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from ml_backend.serving.datasets import BACKGROUND, BinaryEvaluator, SemanticEvaluator
from server.annotations.models import Annotation, Proposal
from server.annotations.services import PROPOSAL_FALLBACK_LABEL
from server.core.errors import ApplicationError
from server.core.masks import rle_decode
from server.datasets.models import EvaluationReport
from server.jobs.models import Job
from server.jobs.services import job_create, job_fail, job_progress, job_start, job_succeed
from server.learning.models import ModelVersion
from server.media.models import Clip, Label, Project

logger = logging.getLogger(__name__)

ALL = "all"
BATCH_CLIPS = 4  # clips per batch of the official S4/MS3 test script
UNKNOWN_LABEL = "(label not in the project)"
METRICS_KEY = "evaluation"
HEADLINE = (
    "miou",
    "fscore",
    "fscore_at_0_5",
    "semantic_miou",
    "semantic_fscore",
    "per_class_iou",
    "n_clips",
    "n_frames",
)
SPLIT_NAME_MAX = EvaluationReport._meta.get_field("split").max_length


def evaluation_split_key(*, split: str | list[int], name: str = "") -> str:
    """The metrics key of an evaluation: `name` when given, "all", or "clips-{n}-{hash of the ids}"."""
    name = name.strip()
    if name:
        if len(name) > SPLIT_NAME_MAX:
            raise ApplicationError(f"name is longer than {SPLIT_NAME_MAX} characters.", {"field": "name"})
        return name
    if split == ALL:
        return ALL
    ids = sorted(set(split))
    digest = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:8]
    return f"clips-{len(ids)}-{digest}"


def evaluation_clips_resolve(*, project: Project, model_version: ModelVersion, split: str | list[int]) -> list[Clip]:
    """The clips to score, in id order: "all" (every ready clip with an accepted annotation) or the listed ids.

    Raises ApplicationError naming the clips that are not ready clips of the project, that have no accepted
    annotation, or that have no proposal of `model_version` (`extra["missing_clips"]`).
    """
    if model_version.project_id != project.pk:
        raise ApplicationError(
            f"Model version {model_version.pk} belongs to another project.", {"field": "model_version"}
        )
    accepted = set(
        Annotation.objects.filter(
            clip__project=project, clip__status=Clip.Status.READY, status=Annotation.Status.ACCEPTED
        ).values_list("clip_id", flat=True)
    )
    if split == ALL:
        if not accepted:
            raise ApplicationError(
                f'Project "{project.name}" has no accepted annotations to evaluate against.', {"field": "split"}
            )
        ids = sorted(accepted)
    else:
        if not isinstance(split, list) or not split or not all(isinstance(i, int) for i in split):
            raise ApplicationError('split must be "all" or a non-empty list of clip ids.', {"field": "split"})
        ids = sorted(set(split))
        ready = set(
            Clip.objects.filter(project=project, status=Clip.Status.READY, pk__in=ids).values_list("pk", flat=True)
        )
        unknown = [i for i in ids if i not in ready]
        if unknown:
            raise ApplicationError(
                f"{_ids_text(unknown)} {'is not a ready clip' if len(unknown) == 1 else 'are not ready clips'} of this "
                "project.",
                {"field": "split", "clips": unknown},
            )
        no_truth = [i for i in ids if i not in accepted]
        if no_truth:
            raise ApplicationError(
                f"{_ids_text(no_truth)} {'has' if len(no_truth) == 1 else 'have'} no accepted annotations to "
                "compare against.",
                {"field": "split", "clips": no_truth},
            )
    clips = list(Clip.objects.filter(pk__in=ids).order_by("id"))
    proposed = set(
        Proposal.objects.filter(model_version=model_version, clip_id__in=ids).values_list("clip_id", flat=True)
    )
    missing = [clip for clip in clips if clip.pk not in proposed]
    if missing:
        shown = ", ".join(f'{clip.pk} "{clip.name}"' for clip in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise ApplicationError(
            f'Model version {model_version.pk} ("{model_version.name}") has no proposals for {len(missing)} of the '
            f"{len(clips)} clips to evaluate: clip{'s' if len(missing) > 1 else ''} {shown}{more}. Pre-annotate "
            "them with this model version, or evaluate a list of clips that have its proposals.",
            {"field": "split", "missing_clips": [clip.pk for clip in missing]},
        )
    return clips


def _ids_text(ids: list[int]) -> str:
    return ("Clip " if len(ids) == 1 else "Clips ") + ", ".join(map(str, ids[:10])) + (" ..." if len(ids) > 10 else "")


# --- the API's asynchronous evaluation ------------------------------------------------------------------


def evaluation_start(
    *, project: Project, model_version: ModelVersion, split: str | list[int], name: str = "", user: Any = None
) -> Job:
    """Check the request (readable 400s) and queue the evaluation as a Job of kind evaluate."""
    clips = evaluation_clips_resolve(project=project, model_version=model_version, split=split)
    key = evaluation_split_key(split=split, name=name)
    with transaction.atomic():
        job = job_create(
            project_id=project.pk,
            kind=Job.Kind.EVALUATE,
            created_by=user,
            target=model_version,
            message=f"Queued: {len(clips)} clips, split {key}.",
        )
        transaction.on_commit(
            partial(
                _enqueue,
                job_id=job.pk,
                model_version_id=model_version.pk,
                clip_ids=[clip.pk for clip in clips],
                split=key,
                user_id=getattr(user, "pk", None),
            )
        )
    return job


def _enqueue(*, job_id: int, model_version_id: int, clip_ids: list[int], split: str, user_id: int | None) -> None:
    from kombu.exceptions import OperationalError as BrokerError

    from server.datasets.tasks import evaluation_run_task

    try:
        evaluation_run_task.delay(job_id, model_version_id, clip_ids, split, user_id)
    except BrokerError as exc:
        logger.exception("could not queue evaluation job %s", job_id)
        job_fail(
            job_id=job_id,
            error=f"The evaluation could not be queued: the task broker is unreachable ({exc}; setting CELERY_BROKER_URL).",
        )


def evaluation_job_run(
    *, job_id: int, model_version_id: int, clip_ids: list[int], split: str, user_id: int | None = None
) -> None:
    """The Celery task's body: run `evaluation_run` with the job's progress; the job fails with a readable error."""
    job_start(job_id=job_id, message="Scoring proposals.")
    try:
        report = evaluation_run(
            model_version_id=model_version_id,
            clip_ids=clip_ids,
            split=split,
            job_id=job_id,
            user_id=user_id,
            progress=lambda done, total: job_progress(
                job_id=job_id, progress=100.0 * done / total, message=f"Scored {done} of {total} clips."
            ),
        )
    except ApplicationError as exc:
        job_fail(job_id=job_id, error=exc.message, message="Evaluation failed.")
        return
    job_succeed(job_id=job_id, message=evaluation_summary_text(report))


def evaluation_summary_text(report: EvaluationReport) -> str:
    s = report.summary
    return (
        f"mIoU {s['miou']:.4f}, F {s['fscore']:.4f} (F at 0.5 {s['fscore_at_0_5']:.4f}), semantic mIoU "
        f"{s['semantic_miou']:.4f} over {s['n_clips']} clips, {s['n_frames']} frames (split {report.split}; "
        f"report {report.pk})."
    )


# --- scoring --------------------------------------------------------------------------------------------


def evaluation_run(
    *,
    model_version_id: int,
    clip_ids: list[int] | str,
    split: str,
    job_id: int | None = None,
    user_id: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvaluationReport:
    """Score the model version's proposals on `clip_ids` (or "all"); store the report and the metrics entry."""
    model_version = ModelVersion.objects.select_related("project").filter(pk=model_version_id).first()
    if model_version is None:
        raise ApplicationError(f"Model version {model_version_id} does not exist (any more).")
    project = model_version.project
    clips = evaluation_clips_resolve(project=project, model_version=model_version, split=clip_ids)

    labels = list(Label.objects.filter(project=project).order_by("name").values_list("name", flat=True))
    index_of = {name.lower(): k + 1 for k, name in enumerate(labels)}
    class_names = [BACKGROUND, *labels, UNKNOWN_LABEL]
    binary = BinaryEvaluator(batch_clips=BATCH_CLIPS)
    semantic = SemanticEvaluator(num_classes=len(class_names))
    per_clip = []
    for done, clip in enumerate(clips, start=1):
        alone = BinaryEvaluator(batch_clips=1)
        clip_semantic = SemanticEvaluator(num_classes=len(class_names))
        n_frames = 0
        for truth, predicted in _clip_label_maps(clip=clip, model_version=model_version, index_of=index_of):
            gt, hard = truth > 0, predicted > 0  # a stored proposal's masks are hard: probability 0 or 1
            binary.add_frame(hard, gt)
            alone.add_frame(hard, gt)
            semantic.add_frame(predicted, truth)
            clip_semantic.add_frame(predicted, truth)
            n_frames += 1
        if not n_frames:  # its accepted annotations were reopened since the clips were resolved
            raise ApplicationError(f'Clip {clip.pk} "{clip.name}" has no accepted annotations any more.')
        for evaluator in (binary, alone, semantic, clip_semantic):
            evaluator.end_clip()
        clip_binary = alone.result()
        per_clip.append(
            {
                "clip_id": clip.pk,
                "clip_name": clip.name,
                "n_frames": n_frames,
                "miou": clip_binary.miou,
                "fscore": clip_binary.fscore,
                "fscore_at_0_5": clip_binary.fscore_at_0_5,
                "semantic_miou": clip_semantic.result().miou,
            }
        )
        if progress is not None:
            progress(done, len(clips))

    b, s = binary.result(), semantic.result()
    summary = {
        "miou": b.miou,
        "fscore": b.fscore,
        "fscore_at_0_5": b.fscore_at_0_5,
        "semantic_miou": s.miou,
        "semantic_fscore": s.fscore,
        "per_class_iou": {class_names[c]: iou for c, iou in s.per_class_iou.items()},
        "n_clips": b.n_clips,
        "n_frames": b.n_frames,
        "n_batches": b.n_batches,
        "batch_clips": b.batch_clips,
        "evaluated_at": timezone.now().isoformat(),
    }
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().get(pk=model_version.pk)
        metrics = dict(locked.metrics) if isinstance(locked.metrics, dict) else {}
        entries = metrics.get(METRICS_KEY)
        entries = dict(entries) if isinstance(entries, dict) else {}
        entries[split] = {**{k: summary[k] for k in HEADLINE}, "evaluated_at": summary["evaluated_at"]}
        metrics[METRICS_KEY] = entries
        ModelVersion.objects.filter(pk=locked.pk).update(metrics=metrics, updated_at=timezone.now())
        report = EvaluationReport.objects.create(
            project=project,
            model_version=model_version,
            job_id=job_id,
            split=split,
            clip_ids=[clip.pk for clip in clips],
            summary=summary,
            per_clip=per_clip,
            created_by_id=user_id,
        )
    return report


ANNOTATION_CHUNK = 100  # accepted annotations (with their masks) read from the database at a time


def _clip_label_maps(
    *, clip: Clip, model_version: ModelVersion, index_of: dict[str, int]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(ground truth, prediction) H×W label maps, one frame at a time, over the clip's frames with an accepted
    annotation in frame order; the smallest unsigned dtype that holds the class indices (uint8 up to 255)."""
    unknown = len(index_of) + 1
    dtype = np.min_scalar_type(unknown)
    proposal = Proposal.objects.get(clip=clip, model_version=model_version)
    proposed = {entry.get("frame_index"): entry.get("instances") or [] for entry in proposal.frames}
    annotations = (
        Annotation.objects.filter(clip=clip, status=Annotation.Status.ACCEPTED)
        .select_related("frame")
        .order_by("frame__index")
    )
    for annotation in annotations.iterator(chunk_size=ANNOTATION_CHUNK):
        frame = annotation.frame
        size = (frame.height, frame.width)
        where = f"clip {clip.pk} frame {frame.index}"
        truth = _paint(annotation.instances, size=size, index_of=index_of, unknown=unknown, dtype=dtype, where=where)
        ordered = sorted(proposed.get(frame.index, []), key=lambda i: float(i.get("score") or 0.0))
        predicted = _paint(
            ordered, size=size, index_of=index_of, unknown=unknown, dtype=dtype, where=f"the proposal of {where}"
        )
        yield truth, predicted


def _paint(
    instances: list[dict[str, Any]],
    *,
    size: tuple[int, int],
    index_of: dict[str, int],
    unknown: int,
    dtype: np.dtype,
    where: str,
) -> np.ndarray:
    labels = np.zeros(size, dtype=dtype)
    for instance in instances:
        mask = rle_decode(instance["mask"]).astype(bool)
        if mask.shape != size:
            raise ApplicationError(
                f"A mask of {where} is {mask.shape[1]}x{mask.shape[0]} but the frame is {size[1]}x{size[0]} (WxH)."
            )
        label = (instance.get("label") or "").strip() or PROPOSAL_FALLBACK_LABEL  # as accepting a proposal does
        labels[mask] = index_of.get(label.lower(), unknown)
    return labels
