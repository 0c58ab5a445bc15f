"""Mask propagation in the annotator: an annotator's masks on one frame, tracked through a range of the clip by the
configured video mask tracker (`models.tracker` of the project's model configuration), each propagated mask checked
against its frame's audio window; reviewed and accepted per frame or for the whole range.

Flow::

    propagation_request (web, annotators) -> Propagation + Job(kind=propagate)
        -> on commit: propagate_task(propagation_id), queue `inference`
            -> propagation_run (this module) -> ml_backend.serving.propagate_stored_clip, frame by frame
    propagation_accept (web, annotators): chosen frames' propagated instances into their annotations, all or nothing

Which configuration: the project's `model_config`, else AVS_MODEL_CONFIG (as for pre-annotation). Without one, or
when it names no tracker (`models.tracker`) or the tracker's folder is missing, a request answers 503 saying which
setting to fix, before anything is queued. A tracker that is there but fails to load fails the job with the loader's
message (it names `models.tracker.path`).

The job reports progress per frame; the propagation's `frames` are written every AVS_PREANNOTATE_CHUNK_FRAMES frames
while it runs (the annotator sees them come in) and once more at the end. A redelivered task (its worker died)
starts the range again; one whose job is finished does nothing; one that killed its worker
AVS_TASK_MAX_DELIVERIES times fails its job instead of running (`server.jobs.deliveries`).

Accepting (`propagation_accept`): per chosen frame, the instances that sound in its window (all of them with
`include_silent`; never an empty mask) replace the instances of the frame's annotation that came from the same track
of this propagation (`track_of` = "<propagation id>:<track>", kept on annotation instances) and are appended
otherwise; a frame without an annotation gets a new draft. Every frame is written through `annotation_update`
(revisions, labels, counters as for a save), all in one transaction: a frame whose annotation is not at the version
the client saw (`base_versions`) makes it a 409 listing the stale frames, with nothing stored.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.storage import Storage, default_storage
from django.db import InterfaceError, OperationalError, transaction

from server.accounts.models import Role
from server.accounts.selectors import ADMIN
from server.annotations.models import Annotation, Propagation
from server.annotations.preannotation import clip_stored_media, project_model_config
from server.annotations.services import (
    LABEL_MAX_LENGTH,
    AnnotationConflictError,
    annotation_update,
    clip_annotations_changing,
)
from server.core.errors import ApplicationError, ConflictError, ServiceUnavailableError
from server.core.masks import rle_area, rle_validate
from server.jobs.models import Job
from server.jobs.services import job_create, job_fail, job_progress, job_start, job_succeed
from server.media.models import Clip, Frame, Label

logger = logging.getLogger(__name__)

SETTING = "AVS_MODEL_CONFIG"
KIND = "propagation"
RETRYABLE_ERRORS = (OperationalError, InterfaceError)


# --- request ----------------------------------------------------------------------------------------


def propagation_tracker_check(*, clip: Clip) -> dict[str, Any]:
    """The tracker a propagation of `clip` would run (`ml_backend.serving.tracker_info`, torch-free); raises
    ServiceUnavailableError (503) naming `models.tracker` and the setting to fix when there is none."""
    from ml_backend.serving import ConfigError, tracker_info

    path = project_model_config(project=clip.project)
    if not path:
        raise ServiceUnavailableError(
            "Propagation is not available: no model configuration is set. Point the setting "
            f"{SETTING} (or the project's model_config) at the ML backend's config.json and give it a "
            "models.tracker (a SAM 2 video model: python -m ml_backend models fetch --set tracking).",
            {"setting": SETTING},
        )
    try:
        info = tracker_info(path)
    except ConfigError as exc:
        raise ServiceUnavailableError(
            f"Propagation is not available: the model configuration cannot be used ({exc}). Fix the file named by "
            f"{SETTING} or the project's model_config.",
            {"setting": SETTING},
        ) from exc
    if not info["available"]:
        raise ServiceUnavailableError(
            f"Propagation is not available: {info['reason']}. Add models.tracker (a SAM 2 video model directory) to "
            f"the configuration named by {SETTING} or the project's model_config.",
            {"setting": SETTING, "config": "models.tracker"},
        )
    return {**info, "config_path": path}


def _prompts_clean(*, frame: Frame, instances: Any) -> list[dict[str, Any]]:
    """`[{"track": k, "label", "mask"}]` of the request's instances, each checked against the frame (400)."""
    from ml_backend.serving.propagation import MAX_INSTANCES

    if not isinstance(instances, list) or not instances:
        raise ApplicationError(
            "instances must list 1 or more {mask, label} objects to propagate.", {"field": "instances"}
        )
    if len(instances) > MAX_INSTANCES:
        raise ApplicationError(
            f"One propagation tracks at most {MAX_INSTANCES} instances; this one has {len(instances)}.",
            {"field": "instances", "limit": MAX_INSTANCES, "count": len(instances)},
        )
    prompts = []
    for k, instance in enumerate(instances):
        field = f"instances[{k}]"
        if not isinstance(instance, dict):
            raise ApplicationError(f"{field} must be an object with 'mask' and 'label'.", {"field": field})
        label = instance.get("label")
        if not isinstance(label, str) or not label.strip() or "\x00" in label or len(label.strip()) > LABEL_MAX_LENGTH:
            raise ApplicationError(
                f"{field}.label must be a non-empty string of at most {LABEL_MAX_LENGTH} characters.",
                {"field": f"{field}.label"},
            )
        mask = rle_validate(instance.get("mask"), height=frame.height, width=frame.width, field=f"{field}.mask")
        if rle_area(mask) == 0:
            raise ApplicationError(f"{field}.mask is empty: paint the object first.", {"field": f"{field}.mask"})
        prompts.append({"track": k, "label": label.strip(), "mask": mask})
    return prompts


def propagation_request(
    *,
    clip: Clip,
    user: AbstractBaseUser,
    frame_index: int,
    instances: Any,
    direction: str,
    end_frame_index: int | None = None,
    enqueue: bool = True,
) -> Propagation:
    """Queue the propagation of `instances` (`[{"mask": COCO RLE of the frame's size, "label": str}]`, 1 to 20)
    from frame `frame_index` of `clip`, `direction` "forward" or "backward", to `end_frame_index` (None: to the
    clip's end or start, at most AVS_PROPAGATION_MAX_FRAMES frames).

    Raises ApplicationError (400) for a clip that is not ready, a frame the clip does not have, an end on the wrong
    side or too far, bad instances; ServiceUnavailableError (503) when no tracker is configured. Once the
    surrounding transaction commits, `propagate_task` is queued (unless `enqueue` is False: the caller then runs
    `propagation_run` itself)."""
    from ml_backend.serving.propagation import PropagationInputError, propagation_order

    if clip.status != Clip.Status.READY:
        raise ApplicationError(f"The clip is {clip.status}, not ready: ingest it first.", {"field": "clip"})
    indexes = list(Frame.objects.filter(clip_id=clip.pk).order_by("index").values_list("index", flat=True))
    try:
        order = propagation_order(
            indexes,
            source_frame_index=frame_index,
            direction=direction,
            end_frame_index=end_frame_index,
            max_frames=settings.AVS_PROPAGATION_MAX_FRAMES,
        )
    except PropagationInputError as exc:
        message = str(exc).replace(
            "one propagation may track", "one propagation may track (setting AVS_PROPAGATION_MAX_FRAMES)"
        )
        raise ApplicationError(message, {"field": exc.field}) from exc
    frame = Frame.objects.get(clip_id=clip.pk, index=frame_index)
    prompts = _prompts_clean(frame=frame, instances=instances)
    tracker = propagation_tracker_check(clip=clip)
    with transaction.atomic():
        propagation = Propagation.objects.create(
            clip=clip,
            created_by=user,
            source_frame_index=frame_index,
            direction=direction,
            start_frame_index=min(order),
            end_frame_index=max(order),
            tracker=tracker["name"] or "",
            instances=prompts,
            frames=[],
        )
        job = job_create(
            project_id=clip.project_id,
            kind=Job.Kind.PROPAGATE,
            created_by=user,
            target=propagation,
            message=f"Queued: {len(prompts)} instance{'s' if len(prompts) != 1 else ''} over {len(order)} frames "
            f"with {propagation.tracker}.",
        )
        propagation.job = job
        propagation.save(update_fields=["job"])
        if enqueue:
            transaction.on_commit(partial(_enqueue, propagation_id=propagation.pk, job_id=job.pk))
    return propagation


def _enqueue(*, propagation_id: int, job_id: int) -> None:
    from kombu.exceptions import OperationalError as BrokerError

    from server.annotations.tasks import propagate_task

    try:
        propagate_task.delay(propagation_id)
    except BrokerError as exc:
        logger.exception("could not queue propagation %s", propagation_id)
        job_fail(
            job_id=job_id,
            error=f"Not queued: the task broker is unreachable ({exc}; setting CELERY_BROKER_URL). Nothing was "
            "propagated: try again once the broker is back.",
            message="Not queued: the task broker is unreachable.",
        )


# --- the worker ---------------------------------------------------------------------------------------


def propagation_fail(*, propagation_id: int, error: str) -> None:
    """Fail the propagation's job with `error` (for people), unless it is already finished: for the failure paths
    outside `propagation_run` (time limit, retries exhausted, a worker that died each time)."""
    job_id = Propagation.objects.filter(pk=propagation_id).values_list("job_id", flat=True).first()
    if (
        job_id is not None
        and Job.objects.filter(pk=job_id, status__in=(Job.Status.QUEUED, Job.Status.RUNNING)).exists()
    ):
        job_fail(job_id=job_id, error=error, message="Propagation failed.")


def propagation_run(*, propagation_id: int, storage: Storage | None = None, propagate: Any = None) -> str:
    """Run one queued propagation in this process (the `inference` worker's task, or tests); returns the job's
    status. `propagate` replaces `ml_backend.serving.propagate_stored_clip` (same keyword arguments), for tests.
    Database connection errors and Celery's soft time limit propagate (the task retries or fails the job)."""
    from celery.exceptions import SoftTimeLimitExceeded

    from ml_backend.serving import ConfigError, MediaError

    propagation = Propagation.objects.select_related("clip", "clip__project", "job").filter(pk=propagation_id).first()
    if propagation is None or propagation.job is None:
        logger.warning("propagation %s or its job is gone; nothing to do", propagation_id)
        return Job.Status.FAILED
    job = propagation.job
    if job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED):
        return job.status  # a redelivered task whose propagation was finished
    job_start(job_id=job.pk, message="Reading the clip and loading the tracker.")
    Propagation.objects.filter(pk=propagation.pk).update(frames=[])  # a redelivery starts the range again
    clip = propagation.clip
    if propagate is None:
        from ml_backend.serving import propagate_stored_clip as propagate
    total = propagation.end_frame_index - propagation.start_frame_index + 1
    collected: list[dict[str, Any]] = []

    def progress(done: int, of: int) -> None:
        job_progress(job_id=job.pk, progress=100 * done / max(1, of), message=f"Propagating: {done} of {of} frames.")

    try:
        frames, audio = clip_stored_media(clip=clip, storage=storage or default_storage)
        if not clip.has_audio:
            audio = None
        labels = list(Label.objects.filter(project_id=clip.project_id).order_by("name").values_list("name", flat=True))
        results = propagate(
            config_path=project_model_config(project=clip.project),
            frames=[f for f in frames if propagation.start_frame_index <= f.index <= propagation.end_frame_index],
            audio=audio,
            fps=clip.fps or clip.project.fps,
            source_frame_index=propagation.source_frame_index,
            instances=[{"mask": p["mask"], "label": p["label"]} for p in propagation.instances],
            direction=propagation.direction,
            end_frame_index=(
                propagation.end_frame_index if propagation.direction == "forward" else propagation.start_frame_index
            ),
            labels=labels,
            max_frames=total,
            progress=progress,
            name=clip.name,
        )
        for result in results:  # stored once, at the end or at a failure: the annotator reads them when the job ends
            collected.append(result)
    except (*RETRYABLE_ERRORS, SoftTimeLimitExceeded):
        raise
    except (ApplicationError, ConfigError, MediaError, ValueError, RuntimeError) as exc:
        # ConfigError: no tracker any more; ModelLoadError (a RuntimeError) names models.tracker.path;
        # PropagationInputError (a ValueError): the prompts no longer fit the stored frames
        error = exc.message if isinstance(exc, ApplicationError) else str(exc)
        Propagation.objects.filter(pk=propagation.pk).update(frames=collected)
        job_fail(job_id=job.pk, error=f"Propagation failed: {error}", message="Propagation failed.")
        return Job.Status.FAILED
    except Exception as exc:
        logger.exception("propagation %s failed unexpectedly", propagation_id)
        Propagation.objects.filter(pk=propagation.pk).update(frames=collected)
        job_fail(
            job_id=job.pk,
            error=f"Propagation failed unexpectedly ({type(exc).__name__}: {exc}). The error was logged.",
            message="Propagation failed.",
        )
        return Job.Status.FAILED
    Propagation.objects.filter(pk=propagation.pk).update(frames=collected)
    silent = sum(1 for f in collected[1:] if f["silent"])
    unsure = sum(1 for f in collected[1:] if f["low_confidence"])
    job_succeed(
        job_id=job.pk,
        message=f"Propagated {len(collected) - 1} frame{'s' if len(collected) != 2 else ''}: {silent} silent here, "
        f"{unsure} with low tracking confidence.",
    )
    return Job.Status.SUCCEEDED


# --- accept ---------------------------------------------------------------------------------------------


def _instances_to_accept(entry: dict[str, Any], *, include_silent: bool) -> tuple[list[dict[str, Any]], str]:
    """(instances of a propagated frame to accept, the skip reason when there are none)."""
    tracked = [i for i in entry.get("instances") or [] if i.get("area", 1) > 0]
    chosen = [i for i in tracked if include_silent or i.get("sounding")]
    return chosen, ("silent" if tracked else "no instances")


@transaction.atomic
def propagation_accept(
    *,
    propagation: Propagation,
    user: AbstractBaseUser,
    role: str,
    frame_indexes: list[int] | None = None,
    include_silent: bool = False,
    base_versions: dict[str, int | None] | None = None,
) -> dict[str, Any]:
    """Accept the propagated instances of `frame_indexes` (None: every frame of the range but the source) into their
    frames' annotations (module docstring: the merge rule), all or nothing.

    `base_versions`: `{"<frame index>": version | None}`, the annotation version the client has of each frame
    (None, 0 or absent: no annotation). Returns `{"accepted": [{"frame_index", "annotation"}], "skipped":
    [{"frame_index", "reason": "silent" | "no instances"}]}` (`annotation`: the Annotation written). Raises
    ConflictError (409) when the job has not succeeded, when some frame's annotation is at another version than
    `base_versions` says (`extra.stale_frames`, `extra.current_versions`) or is accepted and locked for annotators;
    ApplicationError (400) for a frame outside the range, or bad instances (nothing is stored)."""
    job = propagation.job
    status = job.status if job is not None else Job.Status.FAILED
    if status != Job.Status.SUCCEEDED:
        raise ConflictError(
            f"This propagation is {status}: only a finished propagation can be accepted"
            + (f" ({job.error})." if job is not None and job.error else "."),
            {"status": status},
        )
    by_index = {entry["frame_index"]: entry for entry in propagation.frames}
    if frame_indexes is None:
        chosen = [i for i in by_index if i != propagation.source_frame_index]
    else:
        chosen = list(dict.fromkeys(frame_indexes))
        outside = [i for i in chosen if i not in by_index]
        if outside:
            raise ApplicationError(
                f"Frame {outside[0]} is not in this propagation's range (frames {propagation.start_frame_index} to "
                f"{propagation.end_frame_index}).",
                {"field": "frame_indexes", "outside": outside},
            )
    chosen.sort()
    # the clip's row first, as every annotation write locks it (lock order: the clip, then its annotations)
    with clip_annotations_changing(clip_id=propagation.clip_id):
        return _accept_locked(
            propagation=propagation,
            user=user,
            role=role,
            chosen=chosen,
            by_index=by_index,
            include_silent=include_silent,
            base_versions=base_versions,
        )


def _accept_locked(
    *,
    propagation: Propagation,
    user: AbstractBaseUser,
    role: str,
    chosen: list[int],
    by_index: dict[int, dict[str, Any]],
    include_silent: bool,
    base_versions: dict[str, int | None] | None,
) -> dict[str, Any]:
    base = {str(k): v for k, v in (base_versions or {}).items()}
    frames = {
        f.index: f for f in Frame.objects.select_related("clip").filter(clip_id=propagation.clip_id, index__in=chosen)
    }
    current = {
        a.frame.index: a
        for a in Annotation.objects.select_for_update(of=("self",))
        .select_related("frame")
        .filter(clip_id=propagation.clip_id, frame__index__in=chosen)
    }
    todo: list[tuple[int, list[dict[str, Any]]]] = []
    skipped = []
    for index in chosen:
        instances, reason = _instances_to_accept(by_index[index], include_silent=include_silent)
        if instances:
            todo.append((index, instances))
        else:
            skipped.append({"frame_index": index, "reason": reason})
    stale = []
    for index, _ in todo:
        annotation = current.get(index)
        have = annotation.version if annotation is not None else None
        expected = base.get(str(index)) or None
        if have != expected:
            stale.append(index)
    if stale:
        raise ConflictError(
            f"Nothing was accepted: {len(stale)} frame{'s' if len(stale) != 1 else ''} changed since you looked "
            f"({', '.join(map(str, stale[:10]))}{', ...' if len(stale) > 10 else ''}). Reload them, then accept again.",
            {
                "stale_frames": stale,
                "current_versions": {str(i): current[i].version if i in current else None for i in stale},
            },
        )
    if role not in (Role.MANAGER, ADMIN):
        locked = [i for i, _ in todo if i in current and current[i].status == Annotation.Status.ACCEPTED]
        if locked:
            raise ConflictError(
                f"Nothing was accepted: frame{'s' if len(locked) != 1 else ''} {', '.join(map(str, locked[:10]))} "
                "were accepted by a reviewer and can no longer be edited by annotators; leave them out, or ask a "
                "manager.",
                {"locked_frames": locked},
            )
    accepted = []
    for index, instances in todo:
        annotation = current.get(index)
        tracks = {f"{propagation.pk}:{i['track']}" for i in instances}
        kept = [i for i in (annotation.instances if annotation is not None else []) if i.get("track_of") not in tracks]
        new = [
            {"mask": i["mask"], "label": i["label"], "track_of": f"{propagation.pk}:{i['track']}"} for i in instances
        ]
        frame = frames[index]
        try:
            written = annotation_update(
                frame=frame,
                user=user,
                role=role,
                instances=kept + new,
                version=annotation.version if annotation is not None else None,
            )
        except AnnotationConflictError as exc:  # written meanwhile: nothing of this accept is kept
            raise ConflictError(
                f"Nothing was accepted: frame {index} changed since you looked. Reload it, then accept again.",
                {"stale_frames": [index], "current_versions": {str(index): exc.extra.get("current_version")}},
            ) from exc
        accepted.append({"frame_index": index, "annotation": written})
    return {"accepted": accepted, "skipped": skipped}
