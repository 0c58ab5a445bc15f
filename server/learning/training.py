"""Self-training rounds (OpenAVS-ST) on the `training` queue: train a student, judge it on the held-out split,
promote it to the project's proposer only when it beats the current one.

Flow::

    training_round_start (web: managers; manage.py train; the automatic trigger)
        -> TrainingRound(queued) + Job(kind=train), on commit: training_round_task(round_id), queue `training`
            -> training_round_run (this module)
                1. plan: the training items, fixed once (`TrainingRound.plan`, so a resumed run trains on the same)
                2. train: ml_backend.serving.train_student, a checkpoint per epoch in the round's folder
                3. register: the student's ModelVersion (kind student, its folder in media storage), one per round
                4. judge: student and base proposer propose the held-out clips, both are scored
                   (server.datasets.services.evaluation, split "heldout"), the better one is the proposer

**Training items** (`training_plan_build`): over the ready clips with audio on the **train** side of the split
(`server.learning.splits`): every frame with an *accepted* annotation (status accepted: reviewed and approved, or
imported ground truth) is a human item, its target the union of the annotation's masks; every other frame that the
base proposer proposed is a pseudo item, its target the proposal's probability map when one was kept (else its
hard masks as probabilities 0/1), pixels between the student's `pseudo_low` and `pseudo_high` ignored by the loss.
Drafts, submitted and rejected annotations are not ground truth: those frames count as unlabelled. Held-out clips
give no item at all. At most AVS_TRAINING_MAX_ITEMS items: human items first, then pseudo items, each evenly
subsampled when there are more. Items are read from media storage lazily (`ml_backend.serving.TrainingFrame`).

**The base proposer** is the project's proposer when the round is created (`LearningSettings.proposer` when set, else
the configured OpenAVS, else the baseline; its ModelVersion is created if it never ran).

**Judging**: the held-out clips that are ready, have audio and at least one accepted annotation. The student
proposes each of them (from its checkpoint in media storage, as pre-annotation runs it), the base proposer
proposes those it has no proposal for; both are scored on the clips both proposed (`evaluation_run`, split
"heldout": the reports and `ModelVersion.metrics["evaluation"]["heldout"]` say so). The student is promoted when
its mIoU is higher, or equal with a higher F; otherwise, or with nothing to judge on, the proposer stays and
`TrainingRound.reason` says why. The project is never left without a working proposer: a promotion happens only
after the student proposed every judged clip from its stored checkpoint, failures never touch the proposer, and
managers can roll back (`server.learning.services.project_proposer_rollback`).

**Robustness**: the task is acknowledged late; a redelivered task (its worker was killed) finds the round running
and resumes training from the last per-epoch checkpoint (the round's local folder, restored from its mirror in media
storage when the worker is another machine); the student's ModelVersion is keyed by the round (its config names the
round), so a round never registers two. Cancel sets a flag that the progress callback checks (within and after each
epoch) and the judging loop checks per clip. Progress (epoch, loss, ETA) is on the Job (`result` and `message`).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage, default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from server.annotations.models import Annotation, Proposal
from server.core.errors import ApplicationError, ConflictError
from server.jobs.models import Job
from server.jobs.services import job_create, job_fail, job_start
from server.learning.models import LearningSettings, ModelVersion, ProposerChange, TrainingRound
from server.learning.selectors import learning_settings_of, project_clip_splits
from server.learning.splits import HELDOUT, TRAIN
from server.media.models import AudioTrack, Clip, Frame, Project

logger = logging.getLogger(__name__)

HUMAN, PSEUDO = "h", "p"
SPLIT_KEY = HELDOUT  # the evaluation reports' split name
TRAIN_SHARE = 80  # job progress (percent) spent training; judging takes the rest
STUDENT_FILE = "student.json"

ProgressHook = Callable[[dict[str, Any]], None]


class TrainingCancelled(Exception):
    """Raised inside a round when a manager cancelled it."""


# --- folders ---------------------------------------------------------------------------------------------


def round_storage_prefix(training_round: TrainingRound) -> str:
    """Media storage folder of a round's per-epoch checkpoint mirror."""
    return f"projects/{training_round.project_id}/training/round-{training_round.pk}"


def student_storage_prefix(training_round: TrainingRound) -> str:
    """Media storage folder of a round's saved student (its ModelVersion's `checkpoint_path`)."""
    return f"projects/{training_round.project_id}/students/round-{training_round.pk}"


def round_local_dir(training_round: TrainingRound) -> Path:
    """The worker's local folder of a round (AVS_TRAINING_DIR): `checkpoint/` (per epoch) and `student/`."""
    return Path(settings.AVS_TRAINING_DIR) / f"project-{training_round.project_id}" / f"round-{training_round.pk}"


def _storage_files(storage: Storage, prefix: str) -> list[str]:
    """Every file below `prefix` in `storage`, as paths relative to it."""
    try:
        folders, files = storage.listdir(prefix)
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = list(files)
    for folder in folders:
        found += [f"{folder}/{name}" for name in _storage_files(storage, f"{prefix}/{folder}")]
    return found


def folder_upload(*, local: Path, prefix: str, storage: Storage) -> list[str]:
    """Copy every file of `local` to `prefix/...` in `storage`, replacing what is there; returns the names."""
    names = []
    for path in sorted(p for p in local.rglob("*") if p.is_file() and not p.name.startswith(".")):
        name = f"{prefix}/{path.relative_to(local).as_posix()}"
        if storage.exists(name):
            storage.delete(name)
        with path.open("rb") as handle:
            names.append(storage.save(name, File(handle, name=path.name)))
    return names


def folder_download(*, prefix: str, local: Path, storage: Storage) -> bool:
    """Copy every file below `prefix` in `storage` into `local` (written to a temporary folder, then renamed into
    place). False when there is nothing under `prefix`."""
    files = _storage_files(storage, prefix)
    if not files:
        return False
    local.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{local.name}-", dir=local.parent))
    try:
        for relative in files:
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            with storage.open(f"{prefix}/{relative}", "rb") as source, target.open("wb") as out:
                shutil.copyfileobj(source, out)
        if local.exists():
            shutil.rmtree(local)
        os.replace(staging, local)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return True


def storage_folder_delete(*, prefix: str, storage: Storage) -> None:
    for relative in _storage_files(storage, prefix):
        try:
            storage.delete(f"{prefix}/{relative}")
        except OSError:
            logger.warning("could not delete %s/%s from media storage", prefix, relative)


def student_local_dir(*, model_version: ModelVersion, storage: Storage | None = None) -> Path:
    """A local copy of a student version's saved folder (AVS_TRAINING_DIR/students/<config hash>), downloaded from
    media storage the first time a process of this machine needs it. Raises ApplicationError when storage has none."""
    local = Path(settings.AVS_TRAINING_DIR) / "students" / model_version.config_hash
    if (local / STUDENT_FILE).is_file():
        return local
    storage = storage or default_storage
    try:
        found = folder_download(prefix=model_version.checkpoint_path, local=local, storage=storage)
    except OSError:
        if (local / STUDENT_FILE).is_file():  # another process of this machine downloaded it meanwhile
            return local
        raise
    if not found or not (local / STUDENT_FILE).is_file():
        raise ApplicationError(
            f"Model version {model_version.pk} ({model_version.name}) has no saved student in media storage "
            f"(expected under {model_version.checkpoint_path or '(no path)'}): train a new round, or roll the "
            "project's proposer back.",
            {"field": "model_version"},
        )
    return local


# --- students as proposers (pre-annotation) -----------------------------------------------------------------


def student_proposer_spec(*, model_version: ModelVersion, storage: Storage | None = None) -> Any:
    """The `server.annotations.preannotation.ProposerSpec` of a student version (torch-free: only checks that its
    saved folder is in media storage). Raises ApplicationError when it is not."""
    from server.annotations.preannotation import ProposerSpec

    storage = storage or default_storage
    path = model_version.checkpoint_path
    if not path or not storage.exists(f"{path}/{STUDENT_FILE}"):
        raise ApplicationError(
            f"Model version {model_version.pk} ({model_version.name}) is a student whose saved model is missing "
            f"from media storage ({path or 'no checkpoint path'}): it cannot propose.",
            {"field": "model_version"},
        )
    info = {
        "kind": ModelVersion.Kind.STUDENT,
        "name": model_version.name,
        "reason": None,
        "config": model_version.config,
        "config_hash": model_version.config_hash,
    }
    return ProposerSpec(
        config_path=None,
        info=info,
        requested=model_version,
        propose=partial(student_propose, model_version_id=model_version.pk),
    )


def student_propose(*, model_version_id: int, config_path: Any = None, **arguments: Any) -> dict[str, Any]:
    """`propose_stored_clip`'s stand-in for a student version (same keyword arguments; `config_path` is unused: the
    student's folder is what runs). Raises ApplicationError when the student cannot be loaded."""
    from ml_backend.serving import propose_stored_clip_student
    from server.annotations.preannotation import project_model_config

    version = ModelVersion.objects.select_related("project").get(pk=model_version_id)
    folder = student_local_dir(model_version=version)
    try:
        return propose_stored_clip_student(
            student_path=folder,
            model_name=version.name,
            model_hash=version.config_hash,
            model_config_path=project_model_config(project=version.project) or None,
            **arguments,
        )
    except ValueError as exc:
        raise ApplicationError(f"Model version {version.pk} ({version.name}) cannot run: {exc}") from exc


# --- starting and cancelling --------------------------------------------------------------------------------


def _settings_locked(project: Project) -> LearningSettings:
    LearningSettings.objects.get_or_create(project=project)
    return LearningSettings.objects.select_for_update().get(project=project)


def current_proposer_version(*, project: Project) -> ModelVersion:
    """The project's proposer now, as a ModelVersion: the one set in its learning settings, else the configured
    proposer (OpenAVS, or the baseline), whose version is created if it never ran (as pre-annotation would)."""
    from server.annotations.preannotation import proposer_spec
    from server.learning.services import model_version_get_or_create

    chosen = learning_settings_of(project_id=project.pk).proposer
    if chosen is not None:
        return chosen
    spec = proposer_spec(project=project)
    spec.cleanup()
    version = ModelVersion.objects.filter(
        project=project, config_hash=spec.version_hash, kind=spec.info["kind"]
    ).first()
    if version is None:
        version, _ = model_version_get_or_create(
            project=project, kind=spec.info["kind"], name=spec.info["name"], config=spec.info["config"]
        )
    return version


def training_round_start(
    *,
    project: Project,
    user: Any = None,
    student_kind: str | None = None,
    config: dict[str, Any] | None = None,
    trigger: str = TrainingRound.Trigger.API,
    enqueue: bool = True,
) -> TrainingRound:
    """Create a round (and its Job) and, once the transaction commits, queue `training_round_task` (unless
    `enqueue` is False: the caller then runs `training_round_run` itself).

    `student_kind` defaults to the project's setting; `config` overrides the student's training settings on top of
    the project's `student_config`: when given, the merged settings are checked now, as the ML backend checks them
    (the project's own were checked when saved; one that still fails when the round runs fails the round with a
    message naming it). Raises ConflictError (409) when a round of the project is queued or running,
    ApplicationError (400) for an unknown student kind, a config that is not a JSON object of plain values, or a
    setting the student cannot train with (naming it: "config.epochs must be a positive integer, got 0.").
    """
    kinds = LearningSettings.StudentKind.values
    if student_kind is not None and student_kind not in kinds:
        raise ApplicationError(f"student must be one of {', '.join(kinds)}, not {student_kind}.", {"field": "student"})
    overrides = _plain_config(config or {}, field="config")
    with transaction.atomic():
        learning = _settings_locked(project)
        active = TrainingRound.objects.filter(project=project, status__in=TrainingRound.ACTIVE).first()
        if active is not None:
            raise ConflictError(
                f"Training round {active.pk} of this project is {active.status}: wait for it to finish or cancel it.",
                {"training_round": active.pk},
            )
        base = current_proposer_version(project=project)
        round_config = {**_plain_config(learning.student_config, field="student_config"), **overrides}
        if overrides:
            student_settings_check(kind=student_kind or learning.student_kind, settings=round_config, field="config")
        try:
            with transaction.atomic():
                training_round = TrainingRound.objects.create(
                    project=project,
                    trigger=trigger,
                    student_kind=student_kind or learning.student_kind,
                    config=round_config,
                    base_proposer=base,
                    created_by=user if getattr(user, "is_authenticated", False) else None,
                )
        except IntegrityError:  # another request started one between our check and our insert
            raise ConflictError(
                "A training round of this project was just started: wait for it or cancel it."
            ) from None
        job = job_create(
            project_id=project.pk,
            kind=Job.Kind.TRAIN,
            created_by=training_round.created_by,
            target=training_round,
            message=f"Queued: training round {training_round.pk} ({training_round.student_kind} student).",
        )
        job.result = {"training_round": training_round.pk, "phase": "queued"}
        job.save(update_fields=["result"])
        training_round.job = job
        training_round.checkpoint_dir = str(round_local_dir(training_round))
        training_round.save(update_fields=["job", "checkpoint_dir"])
        if enqueue:
            transaction.on_commit(partial(_enqueue, round_id=training_round.pk))
    return training_round


def student_settings_check(
    *, kind: str, settings: dict[str, Any], field: str, prefix: str | None = None
) -> dict[str, Any]:
    """The full training settings a round of a `kind` student would train with, `settings` over the student's
    defaults, checked as the ML backend checks them when the round runs (`ml_backend.serving.check_student_settings`,
    no torch). Raises ApplicationError (400, `{"field": field}`) naming the first bad setting as
    `<prefix>.<setting>` (`prefix` defaults to `field`)."""
    from ml_backend.serving import ConfigError, check_student_settings

    try:
        return check_student_settings(kind, settings, prefix=prefix or field)
    except ConfigError as exc:
        raise ApplicationError(f"{exc}.", {"field": field}) from None


def _plain_config(config: Any, *, field: str) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise ApplicationError(f"{field} must be a JSON object of training settings.", {"field": field})
    for key, value in config.items():
        if key == "kind":
            raise ApplicationError(f"{field}.kind: choose the student with `student`.", {"field": field})
        if value is not None and not isinstance(value, bool | int | float | str):
            raise ApplicationError(
                f"{field}.{key} must be a number, a string or true/false, not {type(value).__name__}.",
                {"field": field},
            )
    return dict(config)


def _enqueue(*, round_id: int) -> None:
    from kombu.exceptions import OperationalError as BrokerError

    from server.learning.tasks import training_round_task

    try:
        training_round_task.delay(round_id)
    except BrokerError as exc:
        logger.exception("could not queue training round %s", round_id)
        training_round_fail(
            round_id=round_id,
            error=f"Not queued: the task broker is unreachable ({exc}; setting CELERY_BROKER_URL). Start a new "
            "round once the broker is back.",
        )


def training_round_cancel(*, training_round: TrainingRound, user: Any = None) -> TrainingRound:
    """A queued round is cancelled at once; a running one is asked to stop (it stops within a few training steps,
    keeping the proposer). Raises ConflictError (409) for a finished round."""
    with transaction.atomic():
        current = TrainingRound.objects.select_for_update().get(pk=training_round.pk)
        if current.status not in TrainingRound.ACTIVE:
            raise ConflictError(
                f"Training round {current.pk} is {current.status}: only queued or running rounds can be cancelled.",
                {"status": current.status},
            )
        who = getattr(user, "username", "") or "a manager"
        if current.status == TrainingRound.Status.QUEUED:
            _finish(current, status=TrainingRound.Status.CANCELLED, reason=f"Cancelled by {who} before it started.")
        else:
            current.cancel_requested = True
            current.save(update_fields=["cancel_requested", "updated_at"])
            if current.job_id:
                Job.objects.filter(pk=current.job_id).update(
                    message=f"Cancelling (asked by {who})...", updated_at=timezone.now()
                )
    current.refresh_from_db()
    return current


def training_round_fail(*, round_id: int, error: str) -> None:
    """Fail a round that is still queued or running with `error` (for people): for the failure paths outside
    `training_round_run` (time limit, retries exhausted, a worker that died too often, broker unreachable)."""
    with transaction.atomic():
        current = TrainingRound.objects.select_for_update().filter(pk=round_id).first()
        if current is not None and current.status in TrainingRound.ACTIVE:
            _finish(current, status=TrainingRound.Status.FAILED, error=error)
    _cleanup_quietly(round_id)


def _finish(training_round: TrainingRound, *, status: str, error: str = "", reason: str = "") -> None:
    """Settle the round and its job (the caller holds the round's lock or is its only runner)."""
    now = timezone.now()
    training_round.status = status
    training_round.error = error
    if reason:
        training_round.reason = reason
    training_round.finished_at = now
    training_round.save(update_fields=["status", "error", "reason", "finished_at", "updated_at"])
    if not training_round.job_id:
        return
    if status == TrainingRound.Status.SUCCEEDED:
        message = training_round.reason or "Done."
        Job.objects.filter(pk=training_round.job_id).update(
            status=Job.Status.SUCCEEDED,
            progress=100,
            message=message[:500],
            error="",
            finished_at=now,
            updated_at=now,
        )
    elif status == TrainingRound.Status.CANCELLED:
        job_fail(job_id=training_round.job_id, error=training_round.reason or "Cancelled.", message="Cancelled.")
    else:
        job_fail(job_id=training_round.job_id, error=error, message=f"Training round failed: {error}"[:500])
    Job.objects.filter(pk=training_round.job_id).update(
        result={**_job_result(training_round.job_id), "phase": status, "training_round": training_round.pk}
    )


def _job_result(job_id: int) -> dict[str, Any]:
    result = Job.objects.filter(pk=job_id).values_list("result", flat=True).first()
    return dict(result) if isinstance(result, dict) else {}


# --- the plan --------------------------------------------------------------------------------------------


def training_plan_build(*, project: Project, base: ModelVersion | None, max_items: int) -> dict[str, Any]:
    """The round's training items (see the module docstring): `{"items": [[clip id, frame index, "h" | "p"]...],
    "proposals": {clip id: proposal id of the base proposer}, "counts": {...}}`, in clip and frame order."""
    learning = learning_settings_of(project_id=project.pk)
    clips = Clip.objects.filter(project=project, status=Clip.Status.READY, has_audio=True)
    splits = project_clip_splits(project_id=project.pk, settings=learning, clips=clips)
    train = {pk for pk, split in splits.items() if split == TRAIN}
    human = sorted(
        (clip_id, index)
        for clip_id, index in Annotation.objects.filter(
            clip__project=project, status=Annotation.Status.ACCEPTED
        ).values_list("clip_id", "frame__index")
        if clip_id in train
    )
    labelled = set(human)
    pseudo: list[tuple[int, int]] = []
    proposals: dict[str, int] = {}
    if base is not None:
        rows = Proposal.objects.filter(model_version=base, clip__project=project).order_by("clip_id")
        for pk, clip_id, frames in rows.values_list("pk", "clip_id", "frames").iterator(chunk_size=20):
            if clip_id not in train:
                continue
            indexes = sorted(
                {int(e["frame_index"]) for e in frames or [] if isinstance(e, dict) and "frame_index" in e}
                - {index for c, index in labelled if c == clip_id}
            )
            if indexes:
                proposals[str(clip_id)] = pk
                pseudo += [(clip_id, index) for index in indexes]
    kept_human = _evenly(human, max_items)
    kept_pseudo = _evenly(pseudo, max_items - len(kept_human))
    items = sorted([[c, i, HUMAN] for c, i in kept_human] + [[c, i, PSEUDO] for c, i in kept_pseudo])
    used = {str(c) for c, _, source in items if source == PSEUDO}
    return {
        "items": items,
        "proposals": {clip: pk for clip, pk in proposals.items() if clip in used},
        "counts": {
            "train_clips": len(train),
            "heldout_clips": sum(1 for split in splits.values() if split == HELDOUT),
            "human_frames": len(human),
            "pseudo_frames": len(pseudo),
            "human_items": len(kept_human),
            "pseudo_items": len(kept_pseudo),
            "max_items": max_items,
        },
    }


def _evenly(rows: list[tuple[int, int]], budget: int) -> list[tuple[int, int]]:
    """At most `budget` of `rows`, evenly spread over them (deterministic)."""
    if budget <= 0:
        return []
    if len(rows) <= budget:
        return list(rows)
    step = len(rows) / budget
    return [rows[int(k * step)] for k in range(budget)]


def training_frames(*, training_round: TrainingRound, storage: Storage) -> tuple[list[Any], int]:
    """The plan's items as `ml_backend.serving.TrainingFrame`s (nothing read yet), in plan order; and how many items
    were dropped because their frame, clip, annotation or proposal is gone."""
    from ml_backend.serving import StoredFrame, TrainingFrame

    plan = training_round.plan or {}
    items = plan.get("items") or []
    clip_ids = sorted({int(c) for c, _, _ in items})
    clips = {c.pk: c for c in Clip.objects.filter(pk__in=clip_ids, project_id=training_round.project_id)}
    tracks = dict(AudioTrack.objects.filter(clip_id__in=clip_ids).values_list("clip_id", "file"))
    wanted: dict[int, set[int]] = {}
    for clip_id, index, _ in items:
        wanted.setdefault(int(clip_id), set()).add(int(index))
    built: list[Any] = []
    dropped = 0
    per_clip: dict[int, dict[int, Any]] = {}
    for clip_id in clip_ids:
        clip, track = clips.get(clip_id), tracks.get(clip_id)
        if clip is None or not track:
            continue
        frames = {
            index: (timestamp, name)
            for index, timestamp, name in Frame.objects.filter(clip_id=clip_id, index__in=wanted[clip_id]).values_list(
                "index", "timestamp", "image"
            )
        }
        human = {
            index: instances
            for index, instances in Annotation.objects.filter(clip_id=clip_id, frame__index__in=wanted[clip_id])
            .values_list("frame__index", "instances")
            .iterator(chunk_size=100)
        }
        proposal_id = (plan.get("proposals") or {}).get(str(clip_id))
        proposed: dict[int, dict[str, Any]] = {}
        if proposal_id:
            stored = Proposal.objects.filter(pk=proposal_id).values_list("frames", flat=True).first() or []
            proposed = {int(e["frame_index"]): e for e in stored if int(e.get("frame_index", -1)) in wanted[clip_id]}
        audio = partial(storage.open, track, "rb")
        fps = clip.fps or training_round.project.fps
        entries = {}
        for index in wanted[clip_id]:
            if index not in frames:
                continue
            timestamp, name = frames[index]
            frame = StoredFrame(index, timestamp, partial(storage.open, name, "rb"))
            common = {"frame": frame, "audio": audio, "fps": fps, "clip_key": f"clip-{clip_id}"}
            entries[(index, HUMAN)] = (common, human.get(index))
            entries[(index, PSEUDO)] = (common, proposed.get(index))
        per_clip[clip_id] = entries
    for clip_id, index, source in items:
        common, data = per_clip.get(int(clip_id), {}).get((int(index), source), (None, None))
        if common is None or data is None:
            dropped += 1
            continue
        if source == HUMAN:
            instances = data
            built.append(
                TrainingFrame(
                    **common,
                    source="human",
                    masks=tuple(i["mask"] for i in instances),
                    label=_label(instances),
                )
            )
        else:
            instances = data.get("instances") or []
            record = data.get("probability_map") or {}
            probability = partial(storage.open, record["path"], "rb") if record.get("path") else None
            built.append(
                TrainingFrame(
                    **common,
                    source="pseudo",
                    masks=tuple(i["mask"] for i in instances),
                    probability=probability,
                    label=_label(instances),
                )
            )
    return built, dropped


def _label(instances: list[dict[str, Any]]) -> str:
    labels = [(i.get("label") or "").strip() for i in instances]
    labels = [label for label in labels if label]
    return max(set(labels), key=labels.count) if labels else ""


# --- running ---------------------------------------------------------------------------------------------


def training_round_run(
    *, round_id: int, storage: Storage | None = None, on_progress: ProgressHook | None = None
) -> TrainingRound | None:
    """Run (or resume) a round to its end; returns it, or None when it is gone. A finished round is left as it is.

    Readable failures (nothing to train on, invalid student settings, unreadable media, a student that cannot
    load) fail the round with the message; unexpected ones too, logged. Database connection errors and Celery's
    soft time limit propagate (the task retries or fails the round). `on_progress(dict)`, for tests, is called
    after each progress report (whatever it raises stops the run as a worker's death would, if it is not an
    `Exception`)."""
    from celery.exceptions import SoftTimeLimitExceeded
    from django.db import InterfaceError, OperationalError

    storage = storage or default_storage
    with transaction.atomic():
        training_round = TrainingRound.objects.select_for_update().filter(pk=round_id).first()
        if training_round is None or training_round.status not in TrainingRound.ACTIVE:
            return training_round
        if training_round.cancel_requested:
            _finish(training_round, status=TrainingRound.Status.CANCELLED, reason="Cancelled before training started.")
            return training_round
        resumed = training_round.status == TrainingRound.Status.RUNNING
        training_round.status = TrainingRound.Status.RUNNING
        training_round.started_at = training_round.started_at or timezone.now()
        training_round.save(update_fields=["status", "started_at", "updated_at"])
    if training_round.job_id:
        job_start(job_id=training_round.job_id, message="Resuming the round." if resumed else "Preparing the round.")
    try:
        if training_round.model_version_id is None:
            _train(training_round, storage=storage, on_progress=on_progress)
        _check_cancel(training_round)
        _judge(training_round, storage=storage)
    except TrainingCancelled:
        training_round.refresh_from_db()
        _finish(training_round, status=TrainingRound.Status.CANCELLED, reason="Cancelled; the proposer was kept.")
    except (OperationalError, InterfaceError, SoftTimeLimitExceeded):
        raise
    except ApplicationError as exc:
        _fail(training_round, exc.message)
    except Exception as exc:
        from ml_backend.serving import ConfigError, MediaError

        if isinstance(exc, ConfigError | MediaError | ValueError):
            _fail(training_round, f"{exc}")
        else:
            logger.exception("training round %s failed unexpectedly", round_id)
            _fail(training_round, f"The round failed unexpectedly ({type(exc).__name__}: {exc}). The error was logged.")
    else:
        return TrainingRound.objects.get(pk=round_id)
    _cleanup_quietly(round_id, storage=storage)
    return TrainingRound.objects.get(pk=round_id)


def _fail(training_round: TrainingRound, error: str) -> None:
    training_round.refresh_from_db()
    _finish(training_round, status=TrainingRound.Status.FAILED, error=error)


def _cleanup_quietly(round_id: int, *, storage: Storage | None = None) -> None:
    """Delete a finished round's per-epoch checkpoints (local and mirrored); its student stays."""
    training_round = TrainingRound.objects.filter(pk=round_id).first()
    if training_round is None:
        return
    try:
        shutil.rmtree(round_local_dir(training_round) / "checkpoint", ignore_errors=True)
        storage_folder_delete(prefix=round_storage_prefix(training_round), storage=storage or default_storage)
    except Exception:  # clean-up must never hide the round's outcome
        logger.warning("could not remove the checkpoints of training round %s", round_id, exc_info=True)


def _check_cancel(training_round: TrainingRound) -> None:
    if TrainingRound.objects.filter(pk=training_round.pk, cancel_requested=True).exists():
        raise TrainingCancelled


def _set_job(training_round: TrainingRound, *, progress: float, message: str, **result: Any) -> None:
    if not training_round.job_id:
        return
    Job.objects.filter(pk=training_round.job_id).update(
        progress=max(0, min(99, int(progress))),
        message=message[:500],
        result={"training_round": training_round.pk, **result},
        updated_at=timezone.now(),
    )


def _train(training_round: TrainingRound, *, storage: Storage, on_progress: ProgressHook | None) -> None:
    from ml_backend.serving import train_student
    from server.annotations.preannotation import project_model_config
    from server.learning.services import model_version_get_or_create

    project = training_round.project
    if not training_round.plan:
        plan = training_plan_build(
            project=project, base=training_round.base_proposer, max_items=settings.AVS_TRAINING_MAX_ITEMS
        )
        TrainingRound.objects.filter(pk=training_round.pk).update(plan=plan, updated_at=timezone.now())
        training_round.plan = plan
    frames, dropped = training_frames(training_round=training_round, storage=storage)
    counts = dict(training_round.plan.get("counts") or {})
    if not frames:
        raise ApplicationError(
            "Nothing to train on: no clip of the train split has an accepted annotation or a proposal of the "
            f"current proposer ({counts.get('train_clips', 0)} train clips, {counts.get('heldout_clips', 0)} held "
            "out). Accept annotations or pre-annotate clips, then start a round."
        )
    local = round_local_dir(training_round)
    checkpoints, output = local / "checkpoint", local / "student"
    if not (checkpoints / "checkpoint.pt").is_file():
        if folder_download(prefix=round_storage_prefix(training_round), local=checkpoints, storage=storage):
            logger.info("training round %s: checkpoint restored from media storage", training_round.pk)
    checkpoints.mkdir(parents=True, exist_ok=True)
    _set_job(
        training_round,
        progress=1,
        message=f"Training on {len(frames)} frames ({counts.get('human_items', 0)} accepted, "
        f"{counts.get('pseudo_items', 0)} pseudo-labelled).",
        phase="training",
    )

    def progress(report: dict[str, Any]) -> None:
        epoch, epochs, step, steps = report["epoch"], report["epochs"], report["step"], report["steps"]
        epoch_end = step * epochs == epoch * steps
        if epoch_end:  # the epoch's checkpoint is written: mirror it for a worker on another machine
            folder_upload(local=checkpoints, prefix=round_storage_prefix(training_round), storage=storage)
        seconds = float(report.get("seconds") or 0.0)
        eta = seconds / step * (steps - step) if step else None
        _set_job(
            training_round,
            progress=1 + (TRAIN_SHARE - 1) * step / max(steps, 1),
            message=f"Epoch {epoch} of {epochs}, loss {report['loss']:.4f}"
            + (f", about {_duration(eta)} left." if eta is not None else "."),
            phase="training",
            epoch=epoch,
            epochs=epochs,
            step=step,
            steps=steps,
            loss=report["loss"],
            eta_seconds=round(eta, 1) if eta is not None else None,
        )
        _check_cancel(training_round)
        if on_progress is not None:
            on_progress(report)

    student_config = {"kind": training_round.student_kind, **(training_round.config or {})}
    result = train_student(
        frames,
        student_config,
        progress=progress,
        checkpoint_dir=checkpoints,
        output_dir=output,
        model_config_path=project_model_config(project=project) or None,
    )
    report = result["report"]
    prefix = student_storage_prefix(training_round)
    folder_upload(local=output, prefix=prefix, storage=storage)
    training = {
        "items": report["items"],
        "human_items": report["human_items"],
        "pseudo_items": report["pseudo_items"],
        "dropped_items": dropped,
        "resumed_from_epoch": report["resumed_from_epoch"],
        "seconds": round(float(report["seconds"]), 3),
        "curve": report["curve"],
    }
    with transaction.atomic():
        version, _ = model_version_get_or_create(
            project=project,
            kind=ModelVersion.Kind.STUDENT,
            name=f"{result['kind']} student (round {training_round.pk})",
            config={
                "student": result["config"],
                "training_round": training_round.pk,
                "base_proposer": training_round.base_proposer_id,
            },
            checkpoint_path=prefix,
        )
        locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
        metrics = dict(locked.metrics or {})
        metrics["training"] = training
        ModelVersion.objects.filter(pk=version.pk).update(metrics=metrics, updated_at=timezone.now())
        TrainingRound.objects.filter(pk=training_round.pk).update(
            model_version=version,
            curve=report["curve"],
            config=training_round.config,
            metrics={**(training_round.metrics or {}), "training": training},
            updated_at=timezone.now(),
        )
    training_round.refresh_from_db()


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


# --- judging ---------------------------------------------------------------------------------------------


def heldout_judge_clips(*, project: Project) -> list[Clip]:
    """The held-out clips a round is judged on: ready, with audio and at least one accepted annotation (id order)."""
    with_truth = set(
        Annotation.objects.filter(clip__project=project, status=Annotation.Status.ACCEPTED).values_list(
            "clip_id", flat=True
        )
    )
    clips = Clip.objects.filter(project=project, status=Clip.Status.READY, has_audio=True, pk__in=with_truth)
    splits = project_clip_splits(project_id=project.pk, clips=clips)
    return list(clips.filter(pk__in=[pk for pk, split in splits.items() if split == HELDOUT]).order_by("id"))


def clip_proposal_ensure(*, clip: Clip, model_version: ModelVersion, storage: Storage) -> Proposal:
    """The clip's proposal of `model_version`, proposed now (as pre-annotation does, probability maps and evidence
    kept) when it has none. Raises ApplicationError when the version cannot propose the clip (the message says why)."""
    from server.annotations.preannotation import clip_propose, proposer_spec
    from server.annotations.records import RecordWriter
    from server.annotations.services import proposal_store_new

    existing = Proposal.objects.filter(clip=clip, model_version=model_version).first()
    if existing is not None:
        return existing
    spec = proposer_spec(project=clip.project, model_version=model_version)
    writer = RecordWriter(project_id=clip.project_id, clip_id=clip.pk, storage=storage)
    stored = None
    try:
        result = clip_propose(clip=clip, spec=spec, storage=storage, write_file=writer)
        model = result.get("model") or {}
        if model.get("config_hash") != spec.info["config_hash"]:
            raise ApplicationError(f"{model_version.name} could not run: {model.get('reason') or 'unknown reason'}.")
        stored = proposal_store_new(
            clip=clip,
            model_version=model_version,
            frames=result.get("frames") or [],
            records_folder=writer.folder if writer.names else "",
            evidence=result.get("evidence"),
        )
    finally:
        spec.cleanup()
        if stored is None:  # nothing refers to what this run wrote
            writer.discard()
    return stored or Proposal.objects.get(clip=clip, model_version=model_version)


def _judge(training_round: TrainingRound, *, storage: Storage) -> None:
    from server.datasets.services.evaluation import HEADLINE, evaluation_run

    project = training_round.project
    student = training_round.model_version
    base = training_round.base_proposer
    assert student is not None
    clips = heldout_judge_clips(project=project)
    compared: list[int] = []
    skipped: list[dict[str, Any]] = []
    for done, clip in enumerate(clips):
        _check_cancel(training_round)
        _set_job(
            training_round,
            progress=TRAIN_SHARE + (99 - TRAIN_SHARE) * done / max(len(clips), 1),
            message=f"Judging on the held-out split: clip {done + 1} of {len(clips)}.",
            phase="judging",
        )
        problems = []
        for who, version in (("student", student), ("proposer", base)):
            if version is None:
                problems.append(f"{who}: the base proposer's model version was deleted")
                continue
            try:
                clip_proposal_ensure(clip=clip, model_version=version, storage=storage)
            except ApplicationError as exc:
                problems.append(f"{who}: {exc.message}")
        if problems:
            skipped.append({"clip": clip.pk, "name": clip.name, "why": "; ".join(problems)})
        else:
            compared.append(clip.pk)

    metrics: dict[str, Any] = {
        **(training_round.metrics or {}),
        "split": SPLIT_KEY,
        "heldout_clips": [c.pk for c in clips],
        "compared_clips": compared,
        "skipped_clips": skipped,
    }
    promoted, reason = False, ""
    if not compared:
        reason = (
            "Not promoted: no held-out clip to judge on (held-out clips need audio and accepted annotations"
            + (f"; {len(skipped)} could not be proposed" if skipped else "")
            + "). The proposer was kept."
        )
    else:
        scores = {}
        for who, version in (("student", student), ("proposer", base)):
            assert version is not None
            report = evaluation_run(model_version_id=version.pk, clip_ids=compared, split=SPLIT_KEY)
            scores[who] = {key: report.summary[key] for key in HEADLINE} | {"report": report.pk}
        metrics["student"], metrics["proposer"] = scores["student"], scores["proposer"]
        s, b = scores["student"], scores["proposer"]
        better = s["miou"] > b["miou"] + 1e-12 or (abs(s["miou"] - b["miou"]) <= 1e-12 and s["fscore"] > b["fscore"])
        figures = (
            f"student mIoU {s['miou']:.4f}, F {s['fscore']:.4f}; {base.name} mIoU {b['miou']:.4f}, F {b['fscore']:.4f} "
            f"on {len(compared)} held-out clip{'s' if len(compared) != 1 else ''}"
        )
        if better:
            promoted, reason = _promote(training_round, student=student, base=base, figures=figures)
        else:
            reason = f"Not promoted: the student does not beat the proposer ({figures}). The proposer was kept."
    if skipped and compared:
        reason += f" {len(skipped)} held-out clip{'s' if len(skipped) != 1 else ''} could not be proposed (skipped)."
    with transaction.atomic():
        current = TrainingRound.objects.select_for_update().get(pk=training_round.pk)
        current.metrics = metrics
        current.promoted = promoted
        current.save(update_fields=["metrics", "promoted", "updated_at"])
        _finish(current, status=TrainingRound.Status.SUCCEEDED, reason=reason)
        transaction.on_commit(partial(_rescore_pool, project_id=project.pk, model_version_id=student.pk))
    _cleanup_quietly(training_round.pk, storage=storage)


def _rescore_pool(*, project_id: int, model_version_id: int) -> None:
    """After a round, the pool's acquisition scores are computed again with the new student (its own task on the
    training queue); a failure there never changes the round's outcome."""
    try:
        from server.learning.tasks import project_rescore_task

        project_rescore_task.delay(project_id=project_id, model_version_id=model_version_id)
    except Exception:
        logger.warning("could not rescore the pool of project %s after a round", project_id, exc_info=True)


def _promote(
    training_round: TrainingRound, *, student: ModelVersion, base: ModelVersion | None, figures: str
) -> tuple[bool, str]:
    """Make `student` the project's proposer, unless the proposer changed since the round started."""
    with transaction.atomic():
        learning = _settings_locked(training_round.project)
        now_proposer = learning.proposer_id or current_proposer_version(project=training_round.project).pk
        if base is None or now_proposer != base.pk:
            return False, (
                f"Not promoted: the project's proposer changed while the round ran ({figures}, against the proposer "
                "the round started with). The proposer was kept."
            )
        previous = learning.proposer
        learning.proposer = student
        learning.save(update_fields=["proposer", "updated_at"])
        reason = f"Promoted: the student beats the proposer ({figures})."
        ProposerChange.objects.create(
            project=training_round.project,
            action=ProposerChange.Action.PROMOTE,
            model_version=student,
            previous=previous,
            training_round=training_round,
            changed_by=None,
            reason=reason,
        )
    return True, reason
