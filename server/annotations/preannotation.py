"""Pre-annotation: a proposer (OpenAVS from the project's model configuration, else the weight-free baseline)
proposes sounding-object masks for a project's clips, stored as one `Proposal` per clip and model version.

Flow::

    preannotate_request (web, managers)  ->  Job(kind=preannotate), one entry per clip in `job.result["clips"]`
        -> on commit: one `clip_preannotate_task(job_id, clip_id)` per clip, queue `inference`
            -> clip_preannotate (this module) -> ml_backend.serving.propose_stored_clip -> proposal_store_new

One task per clip: more inference workers pre-annotate a job in parallel, a worker that dies loses at most the
clip it was working on (the task is acknowledged late and redelivered), and time limits apply per clip. Each
worker process loads the models once (`ml_backend`'s process cache) and reuses them for every later clip.

Which proposer runs (`proposer_spec`): the file named by `Project.model_config`, else the AVS_MODEL_CONFIG
setting. Without one, with a file that is not a valid configuration, or when its models cannot be loaded, the
synchrony baseline runs, and the reason is kept (the baseline ModelVersion's `note`, the job's message, the
project's `proposer`). Proposals are stored under the ModelVersion of what actually ran
(`model_version_get_or_create` on its configuration: the same configuration always maps to the same version).

What a proposal keeps besides its masks: each instance's `confidence` (mean probability inside its mask), each
frame's 8-bit probability map (PNG, longer side at most AVS_PROBABILITY_MAP_MAX_SIDE) and the clip's evidence file
(`.npz`: audio tags, audio and visual embeddings, at most AVS_PROPOSAL_EVIDENCE_MAX_BYTES), written to media storage
while the proposer works (`server.annotations.records`); a run that stores no proposal deletes what it wrote. Once a
clip's proposal is stored, the clip is scored for the review queue from it (`server.learning.acquisition`).

Idempotence: a clip that already has a proposal of the model version is skipped (before any model runs);
a clip's entry, its proposal and the job's progress are written in one transaction under a lock on the job row,
so a redelivered task either finds its clip finished or does the clip again, never twice
(`Proposal` is unique per (clip, model version)).

`job.result` of a pre-annotation job::

    {"request": {"clips": [id, ...], "model_version": id | None},
     "expected": {"kind", "name", "reason", "config_hash"},          # what the request meant to run
     "clips": [{"clip": id, "name": str, "status": "queued" | "done" | "skipped" | "failed",
                "proposal": id | None, "model_version": id | None, "frames": int, "instances": int,
                "error": str}],                                      # in request order
     "model_versions": [{"id", "kind", "name", "reason"}],           # what ran
     "fallback": {"reason": str} | None,                             # OpenAVS was expected, the baseline ran
     "counts": {"total", "done", "skipped", "failed"},
     "outcome": "succeeded" | "succeeded_with_warnings" | "failed"}  # once every clip is finished

Outcome rule: the job fails only when every clip failed; when some clips failed and others got (or already had)
their proposal it succeeds with warnings: status `succeeded`, `outcome` "succeeded_with_warnings", the message
naming the failed clips, and each failed clip's entry holding its readable `error`.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.conf import settings
from django.core.files.storage import Storage, default_storage
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from server.annotations.models import Proposal
from server.annotations.records import RecordWriter
from server.annotations.services import proposal_store_new
from server.core.errors import ApplicationError, ConflictError
from server.jobs.models import Job
from server.jobs.services import job_create
from server.learning.models import ModelVersion
from server.learning.services import clip_score_acquisition, model_version_config_hash, model_version_get_or_create
from server.media.models import AudioTrack, Clip, Label, Project

logger = logging.getLogger(__name__)

RETRYABLE_ERRORS = (OperationalError, InterfaceError)
SETTING = "AVS_MODEL_CONFIG"
NOT_CONFIGURED = (
    "no model configuration is set (the project's model_config and the AVS_MODEL_CONFIG setting are empty): "
    "point one of them at the ML backend's config.json to run OpenAVS"
)
QUEUED, DONE, SKIPPED, FAILED = "queued", "done", "skipped", "failed"
FINISHED = (DONE, SKIPPED, FAILED)

Propose = Callable[..., dict[str, Any]]


# --- which proposer ---------------------------------------------------------------------------------


@dataclass
class ProposerSpec:
    """What a pre-annotation runs: `config_path` for `propose_stored_clip` (None: the baseline) and `info`, the
    ML backend's `model_info` of it (`kind`, `name`, `reason`, `config`, `config_hash`), with the server's
    `config_hash` of `info["config"]` (how the ModelVersion is found). `requested`: the model version a caller
    asked for by id. `temporary`: a config file written for `requested`, removed by `cleanup()`. `propose`: what
    proposes instead of `propose_stored_clip` (same keyword arguments), e.g. for a student version."""

    config_path: str | None
    info: dict[str, Any]
    requested: ModelVersion | None = None
    temporary: str | None = None
    propose: Propose | None = None
    version_hash: str = field(init=False)

    def __post_init__(self) -> None:
        self.version_hash = model_version_config_hash(config=self.info["config"])

    def summary(self) -> dict[str, Any]:
        return {
            "kind": self.info["kind"],
            "name": self.info["name"],
            "reason": self.info["reason"],
            "config_hash": self.version_hash,
        }

    def cleanup(self) -> None:
        if self.temporary:
            try:
                os.unlink(self.temporary)
            except OSError:
                pass


def project_model_config(*, project: Project) -> str:
    """The configuration file pre-annotation uses for `project`: its `model_config`, else AVS_MODEL_CONFIG ("": none)."""
    return (project.model_config or settings.AVS_MODEL_CONFIG or "").strip()


_INFO_CACHE: dict[tuple[str | None, int, int], tuple[float, dict[str, Any]]] = {}
INFO_CACHE_SECONDS = 10.0  # how long a configuration's model_info is reused while its file is unchanged


def _model_info(config_path: str | None, *, clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """`ml_backend.serving.model_info` (torch-free), reused for INFO_CACHE_SECONDS while the file is unchanged
    (every clip task and every project page asks; model files that appear or vanish show within seconds)."""
    from ml_backend.serving import model_info

    try:
        stat = os.stat(config_path) if config_path else None
    except OSError:
        stat = None
    key = (config_path, stat.st_mtime_ns if stat else 0, stat.st_size if stat else 0)
    cached = _INFO_CACHE.get(key)
    now = clock()
    if cached is not None and now - cached[0] < INFO_CACHE_SECONDS:
        return copy.deepcopy(cached[1])
    info = model_info(config_path)
    if len(_INFO_CACHE) > 64:
        _INFO_CACHE.clear()
    _INFO_CACHE[key] = (now, info)
    return copy.deepcopy(info)


def _baseline(reason: str) -> dict[str, Any]:
    return {**_model_info(None), "reason": reason}


def proposer_spec(*, project: Project, model_version: ModelVersion | None = None) -> ProposerSpec:
    """The proposer a pre-annotation of `project` runs (loads no model, imports no torch).

    Without `model_version`: the project's proposer chosen in its learning settings (a promoted student, or a
    version a manager chose; `server.learning`) when it can run, else the project's configuration
    (`project_model_config`); none, or one that is not a valid configuration file, or one whose model files are
    missing, means the baseline with the reason. With an OpenAVS `model_version`: its stored configuration (written
    to a temporary file, see `ProposerSpec.cleanup`); a baseline version: the baseline; a student version: its saved
    model in media storage (`server.learning.training.student_proposer_spec`).
    """
    from ml_backend.serving import ConfigError

    if model_version is not None:
        return _spec_of_version(model_version)
    chosen = _chosen_proposer(project)
    if chosen is not None:
        return chosen
    path = project_model_config(project=project)
    if not path:
        return ProposerSpec(config_path=None, info=_baseline(NOT_CONFIGURED))
    try:
        info = _model_info(path)
    except ConfigError as exc:
        return ProposerSpec(
            config_path=None,
            info=_baseline(f"the model configuration cannot be used: {exc} (fix the file or {SETTING})"),
        )
    # Model files missing: the baseline runs straight away (no failed load attempt per clip).
    return ProposerSpec(config_path=path if info["kind"] == ModelVersion.Kind.OPENAVS else None, info=info)


def _chosen_proposer(project: Project) -> ProposerSpec | None:
    """The spec of the proposer set in the project's learning settings; None when none is set or it cannot run
    (then the configured proposer runs: the project is never left without one; the problem is logged)."""
    from server.learning.selectors import learning_settings_of

    chosen = learning_settings_of(project_id=project.pk).proposer
    if chosen is None:
        return None
    try:
        spec = _spec_of_version(chosen)
    except ApplicationError as exc:
        logger.warning("project %s: its chosen proposer cannot run, the configured one runs: %s", project.pk, exc)
        return None
    if chosen.kind == ModelVersion.Kind.OPENAVS:
        spec.requested = None  # as the configured proposer: models that fail to load make the baseline run
    return spec


def _spec_of_version(version: ModelVersion) -> ProposerSpec:
    from ml_backend.serving import ConfigError

    if version.kind == ModelVersion.Kind.STUDENT:
        from server.learning.training import student_proposer_spec

        return student_proposer_spec(model_version=version)
    if version.kind == ModelVersion.Kind.BASELINE:
        info = _baseline(version.note or "model version chosen for this run")
        if model_version_config_hash(config=info["config"]) != version.config_hash:
            raise ApplicationError(
                f"Model version {version.pk} ({version.name}) is a baseline this ML backend no longer runs "
                "(its parameters changed); run pre-annotation without model_version.",
                {"field": "model_version"},
            )
        return ProposerSpec(config_path=None, info=info, requested=version)
    if version.kind != ModelVersion.Kind.OPENAVS:
        raise ApplicationError(
            f"Model version {version.pk} ({version.name}) is a {version.kind} model: pre-annotation runs OpenAVS "
            "configurations and the baseline.",
            {"field": "model_version"},
        )
    from ml_backend.serving import ConfigPolicyError

    handle = tempfile.NamedTemporaryFile("w", suffix=".json", prefix="avs-model-version-", delete=False)
    with handle:
        json.dump(version.config, handle)
    try:  # the server's model policy applies to stored configurations too, whenever they were registered
        info = _model_info(handle.name)
    except ConfigError as exc:
        os.unlink(handle.name)
        problem = str(exc).replace(f"{handle.name}: ", "")
        what = (
            "may not run on this server"
            if isinstance(exc, ConfigPolicyError)
            else "has a configuration this ML backend cannot read"
        )
        raise ApplicationError(
            f"Model version {version.pk} ({version.name}) {what}: {problem}", {"field": "model_version"}
        ) from exc
    return ProposerSpec(config_path=handle.name, info=info, requested=version, temporary=handle.name)


def project_proposer(*, project: Project) -> dict[str, Any]:
    """`{"kind": "openavs" | "baseline" | "student", "name", "reason"}`: what pre-annotating `project` would run now.

    Decided without loading a model (torch-free, for the web process): from the configuration file and whether
    its model files exist. If the configuration looks fine here but the last finished pre-annotation with the
    same configuration could not load its models (the workers fell back to the baseline), that is reported.
    """
    spec = proposer_spec(project=project)
    spec.cleanup()
    proposer = {"kind": spec.info["kind"], "name": spec.info["name"], "reason": spec.info["reason"]}
    if spec.info["kind"] != ModelVersion.Kind.OPENAVS:
        return proposer
    last = (
        Job.objects.filter(
            project=project, kind=Job.Kind.PREANNOTATE, status__in=(Job.Status.SUCCEEDED, Job.Status.FAILED)
        )
        .order_by("-created_at", "-id")
        .values("pk", "result__expected__config_hash", "result__fallback__reason")
        .first()
    )
    if last and last["result__expected__config_hash"] == spec.version_hash and last["result__fallback__reason"]:
        baseline = _model_info(None)
        return {
            "kind": baseline["kind"],
            "name": baseline["name"],
            "reason": f"{last['result__fallback__reason']} (at the last pre-annotation, job {last['pk']})",
        }
    return proposer


# --- request ----------------------------------------------------------------------------------------


def preannotate_request(
    *,
    project: Project,
    user: Any = None,
    clip_ids: list[int] | None = None,
    model_version_id: int | None = None,
    enqueue: bool = True,
) -> Job:
    """Create a pre-annotation job for `clip_ids` (None: every ready clip of the project) and, once the surrounding
    transaction commits, queue one `clip_preannotate_task` per clip (unless `enqueue` is False: the caller then
    runs `preannotate_run` itself).

    `model_version_id` re-runs one of the project's model versions (OpenAVS or baseline) instead of the project's
    configured proposer. Raises ApplicationError (400) for clips of another project or not ready, no clip to do, or
    a model version of another project or of a kind that cannot pre-annotate.
    """
    version = None
    if model_version_id is not None:
        version = ModelVersion.objects.filter(pk=model_version_id, project=project).first()
        if version is None:
            raise ApplicationError(
                f"Model version {model_version_id} is not a model version of this project.", {"field": "model_version"}
            )
    spec = proposer_spec(project=project, model_version=version)
    spec.cleanup()
    clips = _clips_to_do(project=project, clip_ids=clip_ids)
    entries = [
        {"clip": clip.pk, "name": clip.name, "status": QUEUED, "proposal": None, "model_version": None, "error": ""}
        for clip in clips
    ]
    with transaction.atomic():
        job = job_create(
            project_id=project.pk,
            kind=Job.Kind.PREANNOTATE,
            created_by=user,
            message=f"Queued: {len(entries)} clip{'s' if len(entries) != 1 else ''} for {spec.info['name']}.",
        )
        job.result = {
            "request": {"clips": [c.pk for c in clips], "model_version": model_version_id},
            "expected": spec.summary(),
            "clips": entries,
            "model_versions": [],
            "fallback": None,
            "counts": _counts(entries),
            "outcome": None,
        }
        job.save(update_fields=["result"])
        if enqueue:
            transaction.on_commit(partial(_enqueue, job_id=job.pk, clip_ids=[c.pk for c in clips]))
    return job


def _clips_to_do(*, project: Project, clip_ids: list[int] | None) -> list[Clip]:
    if clip_ids is None:
        clips = list(Clip.objects.filter(project=project, status=Clip.Status.READY).order_by("id"))
        if not clips:
            raise ApplicationError("The project has no ready clips to pre-annotate: upload videos first.")
        return clips
    wanted = list(dict.fromkeys(clip_ids))
    if not wanted:
        raise ApplicationError("clips is empty: name at least one clip, or leave it out for every ready clip.")
    found = {clip.pk: clip for clip in Clip.objects.filter(project=project, pk__in=wanted)}
    unknown = [str(pk) for pk in wanted if pk not in found]
    if unknown:
        raise ApplicationError(
            f"Not clips of this project: {', '.join(unknown)}.", {"field": "clips", "unknown": unknown}
        )
    not_ready = [found[pk] for pk in wanted if found[pk].status != Clip.Status.READY]
    if not_ready:
        listed = ", ".join(f"{c.pk} ({c.name}: {c.status})" for c in not_ready)
        raise ApplicationError(
            f"Only ingested (ready) clips can be pre-annotated; not ready: {listed}.",
            {"field": "clips", "not_ready": [c.pk for c in not_ready]},
        )
    return [found[pk] for pk in wanted]


def _enqueue(*, job_id: int, clip_ids: list[int]) -> None:
    from kombu.exceptions import OperationalError as BrokerError

    from server.annotations.tasks import clip_preannotate_task

    for k, clip_id in enumerate(clip_ids):
        try:
            clip_preannotate_task.delay(job_id, clip_id)
        except BrokerError as exc:
            logger.exception("could not queue the pre-annotation of clip %s (job %s)", clip_id, job_id)
            project_id = Job.objects.filter(pk=job_id).values_list("project_id", flat=True).first()
            error = (
                f"Not queued: the task broker is unreachable ({exc}; setting CELERY_BROKER_URL). Nothing is lost: "
                f"POST /api/projects/{project_id}/preannotate/ again once the broker is back (clips that got their "
                "proposal are skipped)."
            )
            for pending in clip_ids[k:]:
                clip_preannotate_fail(job_id=job_id, clip_id=pending, error=error)
            return


def preannotate_run(
    *,
    job_id: int,
    storage: Storage | None = None,
    propose: Propose | None = None,
    on_clip: Callable[..., Any] | None = None,
) -> Job:
    """Run every queued clip of a pre-annotation job in this process, in order (`manage.py preannotate --sync`,
    benchmarks); `on_clip(entry)` is called after each clip. Returns the finished job."""
    job = Job.objects.get(pk=job_id)
    for entry in list(job.result.get("clips", [])):
        if entry["status"] != QUEUED:
            continue
        clip_preannotate(job_id=job_id, clip_id=entry["clip"], storage=storage, propose=propose)
        if on_clip is not None:
            on_clip(_entry(Job.objects.get(pk=job_id), entry["clip"]))
    return Job.objects.get(pk=job_id)


# --- one clip ---------------------------------------------------------------------------------------


def clip_preannotate(
    *, job_id: int, clip_id: int, storage: Storage | None = None, propose: Propose | None = None
) -> str:
    """Propose masks for one clip of a pre-annotation job; returns the clip's entry status (done, skipped, failed).

    Skips the clip (no model runs) when it already has a proposal of the model version; fails its entry with a
    readable message when the clip is gone, not ready, has no audio track (or silent audio), has more frames than
    AVS_PREANNOTATE_MAX_FRAMES, a stored frame or its audio cannot be read, or the proposal does not fit its frames.
    The clip is proposed from what ingest (or a dataset import) stored: its frames and its WAV track, opened
    through `storage` and read AVS_PREANNOTATE_CHUNK_FRAMES frames at a time (no source video is needed), so masks
    have the stored frames' sizes (checked by `proposal_store_new`) and `frame_index` is `Frame.index`. Database
    connection errors and Celery's soft time limit propagate (the task retries or fails the entry).

    `propose` replaces `ml_backend.serving.propose_stored_clip` (same keyword arguments), for tests.
    """
    from celery.exceptions import SoftTimeLimitExceeded

    job = Job.objects.filter(pk=job_id).only("status", "result", "project_id").first()
    entry = _entry(job, clip_id)
    if job is None or entry is None:
        logger.warning("pre-annotation of clip %s: job %s or its entry is gone; nothing to do", clip_id, job_id)
        return FAILED
    if entry["status"] in FINISHED:
        return entry["status"]  # a redelivered task whose clip was finished
    if job.status == Job.Status.QUEUED:
        Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
            status=Job.Status.RUNNING, started_at=timezone.now(), updated_at=timezone.now()
        )

    clip = Clip.objects.select_related("project").filter(pk=clip_id, project_id=job.project_id).first()
    if clip is None:
        return _finish(job_id, clip_id, status=FAILED, error="The clip was deleted before it could be pre-annotated.")
    if clip.status != Clip.Status.READY:
        return _finish(job_id, clip_id, status=FAILED, error=f"The clip is {clip.status}, not ready: ingest it first.")
    if not clip.has_audio:
        return _finish(
            job_id,
            clip_id,
            status=FAILED,
            error="The clip has no audio track: audio-visual segmentation needs the sound, so it cannot be "
            "pre-annotated.",
        )

    requested_id = job.result.get("request", {}).get("model_version")
    requested = ModelVersion.objects.filter(pk=requested_id).first() if requested_id else None
    if requested_id and requested is None:
        return _finish(job_id, clip_id, status=FAILED, error=f"Model version {requested_id} was deleted.")
    try:
        spec = proposer_spec(project=clip.project, model_version=requested)
    except ApplicationError as exc:
        return _finish(job_id, clip_id, status=FAILED, error=exc.message)
    writer = RecordWriter(project_id=clip.project_id, clip_id=clip.pk, storage=storage or default_storage)
    try:
        existing = _existing_proposal(clip=clip, config_hash=spec.version_hash)
        if existing is not None:
            return _finish(
                job_id, clip_id, status=SKIPPED, proposal=existing, error="", note="already had this model's proposal"
            )
        try:
            result = _propose(
                clip=clip, spec=spec, storage=storage or default_storage, propose=propose, write_file=writer
            )
        except (*RETRYABLE_ERRORS, SoftTimeLimitExceeded):
            raise
        except ApplicationError as exc:
            return _finish(job_id, clip_id, status=FAILED, error=exc.message)
        except Exception as exc:
            logger.exception("pre-annotation of clip %s failed unexpectedly", clip_id)
            return _finish(
                job_id,
                clip_id,
                status=FAILED,
                error=f"Pre-annotation failed unexpectedly ({type(exc).__name__}: {exc}). The error was logged.",
            )
        return _store(job_id=job_id, clip=clip, spec=spec, result=result, writer=writer)
    finally:
        spec.cleanup()
        if not writer.kept:  # no proposal refers to what this run wrote
            writer.discard()


def _entry(job: Job | None, clip_id: int) -> dict[str, Any] | None:
    if job is None:
        return None
    return next((e for e in job.result.get("clips", []) if e["clip"] == clip_id), None)


def _existing_proposal(*, clip: Clip, config_hash: str) -> Proposal | None:
    return (
        Proposal.objects.filter(
            clip_id=clip.pk, model_version__project_id=clip.project_id, model_version__config_hash=config_hash
        )
        .select_related("model_version")
        .first()
    )


def clip_stored_media(*, clip: Clip, storage: Storage) -> tuple[list[Any], Callable[[], Any]]:
    """The clip's stored frames as `ml_backend.serving.StoredFrame`s (index, timestamp, an opener through `storage`)
    and an opener of its stored WAV track: nothing is read here, the proposer opens each file when it needs it.

    Raises ApplicationError when the clip has no frames or no stored audio track (ingest it again)."""
    from ml_backend.serving import StoredFrame

    rows = list(clip.frames.order_by("index").values_list("index", "timestamp", "image"))
    if not rows:
        raise ApplicationError("The clip has no frames: ingest it again.")
    track = AudioTrack.objects.filter(clip_id=clip.pk).values_list("file", flat=True).first()
    if not track:
        raise ApplicationError("The clip has no stored audio track: ingest it again.")
    frames = [StoredFrame(index, timestamp, partial(storage.open, name, "rb")) for index, timestamp, name in rows]
    return frames, partial(storage.open, track, "rb")


def _propose(
    *,
    clip: Clip,
    spec: ProposerSpec,
    storage: Storage,
    propose: Propose | None,
    write_file: Callable[[str, bytes], str] | None = None,
) -> dict[str, Any]:
    """`propose_stored_clip` on the clip's stored frames and audio (read a chunk at a time, through `storage`);
    ApplicationError for what a person can fix, a clip over the frame budget included. `write_file` receives each
    frame's probability map and the clip's evidence file as they are ready (`server.annotations.records`)."""
    from ml_backend.serving import ConfigError, MediaError

    if propose is None:
        propose = spec.propose
    if propose is None:
        from ml_backend.serving import propose_stored_clip as propose
    budget = settings.AVS_PREANNOTATE_MAX_FRAMES
    count = clip.frames.count()
    if count > budget:
        raise ApplicationError(
            f"The clip has {count} frames, more than the {budget} that pre-annotation proposes for one clip "
            "(setting AVS_PREANNOTATE_MAX_FRAMES): split the video into shorter clips or ingest it at a lower frame "
            "rate. Nothing was stored for this clip."
        )
    frames, audio = clip_stored_media(clip=clip, storage=storage)
    labels = list(Label.objects.filter(project_id=clip.project_id).order_by("name").values_list("name", flat=True))
    try:
        return propose(
            frames=frames,
            audio=audio,
            fps=clip.fps or clip.project.fps,
            name=clip.name,
            config_path=spec.config_path,
            labels=labels,
            chunk_frames=settings.AVS_PREANNOTATE_CHUNK_FRAMES,
            max_frames=budget,
            write_file=write_file,
            probability_map_max_side=settings.AVS_PROBABILITY_MAP_MAX_SIDE,
            evidence_max_bytes=settings.AVS_PROPOSAL_EVIDENCE_MAX_BYTES,
        )
    except (MediaError, ConfigError) as exc:  # MediaError covers ClipInputError (no or silent audio, too long)
        raise ApplicationError(str(exc)) from exc


def clip_propose(
    *,
    clip: Clip,
    spec: ProposerSpec,
    storage: Storage | None = None,
    write_file: Callable[[str, bytes], str] | None = None,
) -> dict[str, Any]:
    """What pre-annotation computes for one clip with `spec`, outside a pre-annotation job (training rounds judge
    their held-out clips with it): the result of `propose_stored_clip` (or of `spec.propose`). ApplicationError for
    what a person can fix."""
    return _propose(clip=clip, spec=spec, storage=storage or default_storage, propose=None, write_file=write_file)


def _store(
    *, job_id: int, clip: Clip, spec: ProposerSpec, result: dict[str, Any], writer: RecordWriter | None = None
) -> str:
    """Store the proposal under the model version of what ran and finish the clip's entry, in one transaction.
    The proposal keeps the files `writer` saved (probability maps, evidence); `writer.kept` tells the caller so."""
    model = result["model"]
    fallback = None
    if model["config_hash"] == spec.info["config_hash"]:
        kind, name, config = spec.info["kind"], spec.info["name"], spec.info["config"]
        reason = spec.info["reason"]
    else:  # OpenAVS was expected but its models failed to load: the baseline ran
        baseline = _model_info(None)
        kind, name, config, reason = baseline["kind"], baseline["name"], baseline["config"], model.get("reason")
        fallback = reason
        if spec.requested is not None:
            return _finish(
                job_id,
                clip.pk,
                status=FAILED,
                error=f"Model version {spec.requested.pk} ({spec.requested.name}) could not run: {reason}. "
                "Nothing was stored for this clip.",
            )
    config_hash = spec.version_hash if config is spec.info["config"] else model_version_config_hash(config=config)
    version = ModelVersion.objects.filter(project_id=clip.project_id, config_hash=config_hash, kind=kind).first()
    if version is None:  # the first clip of this model in the project
        try:
            version, _ = model_version_get_or_create(project=clip.project, kind=kind, name=name, config=config)
        except ConflictError as exc:
            return _finish(job_id, clip.pk, status=FAILED, error=exc.message)
    if kind == ModelVersion.Kind.BASELINE and reason and version.note != reason:
        ModelVersion.objects.filter(pk=version.pk).update(note=reason, updated_at=timezone.now())
        version.note = reason
    frames = result.get("frames") or []
    folder = writer.folder if writer is not None and writer.names else ""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        entry = _entry(job, clip.pk)
        if job is None or entry is None or entry["status"] in FINISHED:
            return entry["status"] if entry else FAILED
        try:
            proposal = proposal_store_new(
                clip=clip, model_version=version, frames=frames, records_folder=folder, evidence=result.get("evidence")
            )
        except ApplicationError as exc:
            error = f"The proposal does not fit the clip's frames ({exc.message}); ingest the clip again."
            return _finish_locked(job, entry, status=FAILED, error=error, version=version, fallback=fallback)
        if proposal is None:  # stored meanwhile (another job with the same model): kept as it is
            existing = Proposal.objects.get(clip_id=clip.pk, model_version=version)
            return _finish_locked(job, entry, status=SKIPPED, proposal=existing, version=version, fallback=fallback)
        # Before the entry says done: a finished job has its clips scored.
        _score(clip=clip, version=version, storage=writer.storage if writer is not None else None)
        status = _finish_locked(job, entry, status=DONE, proposal=proposal, version=version, fallback=fallback)
    if writer is not None:
        writer.kept = True  # committed (or part of the caller's transaction): the proposal refers to the files
    return status


def _score(*, clip: Clip, version: ModelVersion, storage: Storage | None) -> None:
    """Score the clip for the review queue from the proposal just stored, while its evidence is at hand
    (`server.learning.acquisition`). In a savepoint, and never raising: a scoring problem is logged, the proposal
    stays."""
    try:
        with transaction.atomic():
            clip_score_acquisition(clip=clip, model_version=version, storage=storage)
    except Exception:
        logger.exception("acquisition scoring of clip %s (model version %s) failed", clip.pk, version.pk)


# --- job bookkeeping --------------------------------------------------------------------------------


def clip_preannotate_fail(*, job_id: int, clip_id: int, error: str) -> None:
    """Fail one clip's entry with `error` (for people), unless it is already finished: for the failure paths
    outside `clip_preannotate` (time limit, retries exhausted, broker unreachable)."""
    _finish(job_id, clip_id, status=FAILED, error=error)


def _finish(
    job_id: int,
    clip_id: int,
    *,
    status: str,
    error: str = "",
    proposal: Proposal | None = None,
    note: str = "",
) -> str:
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        entry = _entry(job, clip_id)
        if job is None or entry is None:
            return FAILED
        if entry["status"] in FINISHED:
            return entry["status"]
        version = proposal.model_version if proposal is not None else None
        return _finish_locked(job, entry, status=status, error=error, proposal=proposal, version=version, note=note)


def _finish_locked(
    job: Job,
    entry: dict[str, Any],
    *,
    status: str,
    error: str = "",
    proposal: Proposal | None = None,
    version: ModelVersion | None = None,
    fallback: str | None = None,
    note: str = "",
) -> str:
    """Finish `entry` (a dict inside `job.result`, whose row the caller locked), update counts and progress, and
    settle the job once every clip is finished. One UPDATE of the job row."""
    entry["status"] = status
    entry["error"] = error
    if note:
        entry["note"] = note
    if proposal is not None:
        entry["proposal"] = proposal.pk
        entry["frames"] = len(proposal.frames)
        entry["instances"] = sum(len(f.get("instances") or []) for f in proposal.frames)
    result = job.result
    if version is not None:
        entry["model_version"] = version.pk
        if not any(v["id"] == version.pk for v in result.setdefault("model_versions", [])):
            result["model_versions"].append(
                {"id": version.pk, "kind": version.kind, "name": version.name, "reason": version.note or None}
            )
    if fallback and not result.get("fallback"):
        result["fallback"] = {"reason": fallback}
    entries = result["clips"]
    counts = result["counts"] = _counts(entries)
    finished = counts["done"] + counts["skipped"] + counts["failed"]
    now = timezone.now()
    job.progress = int(100 * finished / max(1, counts["total"]))
    job.updated_at = now
    fields = ["result", "progress", "updated_at"]
    if finished < counts["total"]:
        job.message = f"Pre-annotating: {_tally(counts)} of {counts['total']} clips."[:500]
        fields.append("message")
    else:
        _settle(job, counts)
        fields += ["status", "message", "error", "finished_at"]
        if job.started_at is None:
            job.started_at = now
            fields.append("started_at")
    job.save(update_fields=fields)
    return status


def _counts(entries: list[dict[str, Any]]) -> dict[str, int]:
    counts = {"total": len(entries), DONE: 0, SKIPPED: 0, FAILED: 0}
    for entry in entries:
        if entry["status"] in FINISHED:
            counts[entry["status"]] += 1
    return counts


def _tally(counts: dict[str, int]) -> str:
    parts = [f"{counts[DONE]} done"]
    if counts[SKIPPED]:
        parts.append(f"{counts[SKIPPED]} skipped")
    if counts[FAILED]:
        parts.append(f"{counts[FAILED]} failed")
    return ", ".join(parts)


def _settle(job: Job, counts: dict[str, int]) -> None:
    """Every clip is finished: the job fails only if all of them failed (see the module docstring)."""
    result = job.result
    failures = [f"{e['name']} (clip {e['clip']}): {e['error']}" for e in result["clips"] if e["status"] == FAILED]
    job.finished_at = timezone.now()
    job.progress = 100
    if counts[FAILED] == counts["total"]:
        job.status = Job.Status.FAILED
        result["outcome"] = "failed"
        job.error = "\n".join(failures)
        job.message = f"All {counts['total']} clip{'s' if counts['total'] != 1 else ''} failed. {failures[0]}"[:500]
        return
    ran = result.get("model_versions") or []
    parts = []
    if counts[DONE]:
        names = ", ".join(v["name"] for v in ran) or result["expected"]["name"]
        parts.append(f"Pre-annotated {counts[DONE]} clip{'s' if counts[DONE] != 1 else ''} with {names}.")
    if counts[SKIPPED]:
        parts.append(f"{counts[SKIPPED]} already had this model's proposal (skipped).")
    reasons = [v["reason"] for v in ran if v["kind"] == ModelVersion.Kind.BASELINE and v["reason"]]
    if reasons and counts[DONE]:
        parts.append(f"The weight-free baseline ran: {reasons[0]}.")
    if failures:
        parts.append(f"{counts[FAILED]} failed: " + "; ".join(failures))
    job.status = Job.Status.SUCCEEDED
    job.error = ""
    result["outcome"] = "succeeded_with_warnings" if failures else "succeeded"
    message = " ".join(parts)
    job.message = message if len(message) <= 500 else message[:497] + "..."
