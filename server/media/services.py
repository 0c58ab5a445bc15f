"""Media services: upload a video as a clip, ingest it into frames + an audio track, delete it.

Files a clip owns in storage:

    projects/{pid}/sources/{checksum[:16]}/{name}       the uploaded file          (Clip.source)
    projects/{pid}/clips/{cid}/frames/{index:05d}.jpg   one JPEG per kept frame    (Frame.image)
    projects/{pid}/clips/{cid}/audio.wav                mono 16-bit PCM WAV        (AudioTrack.file)

Decoding follows the frame timing rule of `server.media.models`, implemented by `ml_backend.media.video`.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, BinaryIO

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from ml_backend.serving.media import (
    FRAME_POSITION,
    MediaError,
    VideoInfo,
    frame_count,
    iter_audio_mono,
    iter_frames,
    probe,
    write_wav,
)
from server.core.errors import ApplicationError, NotFoundError, PayloadTooLargeError
from server.core.queries import subquery_count
from server.jobs.models import Job
from server.jobs.services import job_create, job_fail, job_progress, job_start, job_succeed
from server.media.models import AudioTrack, Clip, Frame, Project
from server.media.storage import storage_download, storage_error_message

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
FRAMES_PHASE = 90.0  # job progress (percent) at the end of the frames phase; audio takes the rest
PROGRESS_INTERVAL = 0.5  # seconds between two progress writes
NO_AUDIO_NOTE = "no audio track: later steps that need sound will refuse this clip"

# Errors that mean "the infrastructure hiccupped", not "this file is bad": the task retries them.
RETRYABLE_ERRORS = (OperationalError, InterfaceError)


def clip_folder(*, clip: Clip) -> str:
    """Storage folder of a clip's derived files (frames, audio)."""
    return f"projects/{clip.project_id}/clips/{clip.pk}"


# --- counters ---------------------------------------------------------------------------------------


def project_clip_counts_refresh(*, project_id: int) -> None:
    """Store the project's clip counters (`clip_count`, `clips_<status>`, `clips_done`: ready clips whose every frame
    is accepted) recomputed from its clips.

    Called in the transaction of every write that creates a clip, changes its status or deletes it. The project's
    row is locked first, so concurrent writers take turns and each counts what the ones before it committed (one
    count, read from the index `clip_review_queue_order`; pages then read the counters instead of counting).
    """
    with transaction.atomic(savepoint=False):
        if not Project.objects.select_for_update().filter(pk=project_id).values_list("pk", flat=True).first():
            return  # deleted meanwhile
        done = Q(status=Clip.Status.READY, num_frames__gt=0, accepted_count=F("num_frames"))
        rows = (
            Clip.objects.filter(project_id=project_id)
            .order_by()
            .values("status")
            .annotate(n=Count("pk"), done=Count("pk", filter=done))
            .values_list("status", "n", "done")
        )
        found = {status: (n, finished) for status, n, finished in rows}
        counts = {f"clips_{status}": found.get(status, (0, 0))[0] for status in Clip.Status.values}
        Project.objects.filter(pk=project_id).update(
            clip_count=sum(n for n, _ in found.values()),
            clips_done=sum(finished for _, finished in found.values()),
            **counts,
        )


def clip_num_frames_refresh(*, clips: QuerySet[Clip]) -> int:
    """Store `num_frames` of `clips` counted from their frames (one UPDATE); returns the clips updated."""
    return clips.update(num_frames=subquery_count(Frame, link="clip"))


# --- upload -----------------------------------------------------------------------------------------


def clip_create_from_file(
    *,
    project: Project,
    file: File | BinaryIO,
    name: str,
    user: Any = None,
    storage: Storage | None = None,
    enqueue: bool = True,
) -> tuple[Clip, Job | None, bool]:
    """Store an uploaded video as a new clip of `project` and queue its ingest.

    `file` is a Django `File`/`UploadedFile` (a `TemporaryUploadedFile` is moved, not copied) or a binary
    file object open for reading; it is read in chunks, never whole. `name` is the file name the user
    gave (only its last path component is kept). Returns `(clip, job, created)`:

    - `(existing clip, None, False)` when the project already holds a clip with the same SHA-256
      (nothing is stored);
    - `(new clip, ingest job, True)` otherwise: the clip is `uploaded`, its source is in storage and, once
      the surrounding transaction commits, `clip_ingest_task` is queued (unless `enqueue` is False: the
      caller then runs `clip_ingest` itself).

    Raises `ApplicationError` (storing nothing) for an empty file, a file PyAV cannot read as a video,
    or one above the configured limits (`PayloadTooLargeError` above AVS_UPLOAD_MAX_BYTES); if storing
    the file fails, no row and no file stay behind.
    """
    storage = storage or default_storage
    upload = file if isinstance(file, File) else File(file, name=name)
    display_name = _display_name(name)

    checksum, size = _sha256(upload)
    if size == 0:
        raise ApplicationError("The file is empty.")
    if size > settings.AVS_UPLOAD_MAX_BYTES:
        raise PayloadTooLargeError(
            f"{display_name} is {size / 1024**2:.1f} MB; uploads are limited to "
            f"{settings.AVS_UPLOAD_MAX_BYTES / 1024**2:.1f} MB (setting AVS_UPLOAD_MAX_BYTES).",
            extra={"size_bytes": size, "limit_bytes": settings.AVS_UPLOAD_MAX_BYTES},
        )
    existing = Clip.objects.filter(project=project, checksum=checksum).first()
    if existing is not None:
        return existing, None, False

    info = _check_readable_video(upload, display_name=display_name)
    limit = _limit_error(info)
    if limit is not None:
        raise ApplicationError(f"{display_name} cannot be ingested. {limit}")

    stored: str | None = None
    try:
        with transaction.atomic():
            clip = Clip.objects.create(
                project=project,
                name=display_name,
                checksum=checksum,
                size_bytes=size,
                status=Clip.Status.UPLOADED,
                created_by=user,
            )
            target = Clip._meta.get_field("source").generate_filename(clip, display_name)
            stored = _store_source(storage=storage, name=target, content=upload)
            clip.source.name = stored
            clip.save(update_fields=["source", "updated_at"])
            job = job_create(
                project_id=project.pk, kind=Job.Kind.INGEST, created_by=user, target=clip, message="Queued for ingest."
            )
            project_clip_counts_refresh(project_id=project.pk)
            if enqueue:
                transaction.on_commit(partial(_enqueue_ingest, clip_id=clip.pk, job_id=job.pk))
    except IntegrityError:
        # Another upload of the same file won the race for the (project, checksum) constraint.
        _delete_quietly(storage, [stored] if stored else [])
        existing = Clip.objects.filter(project=project, checksum=checksum).first()
        if existing is None:
            raise
        return existing, None, False
    except BaseException:
        _delete_quietly(storage, [stored] if stored else [])
        raise
    return clip, job, True


def _display_name(name: str) -> str:
    base = os.path.basename((name or "").replace("\\", "/")).strip()
    return (base or "video")[:255]


def _sha256(upload: File) -> tuple[str, int]:
    """(hex SHA-256, size in bytes), reading `upload` in chunks from its start."""
    digest = hashlib.sha256()
    size = 0
    for chunk in upload.chunks(chunk_size=CHUNK_BYTES):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _check_readable_video(upload: File, *, display_name: str) -> VideoInfo:
    """Open the container and decode its first picture; ApplicationError if PyAV cannot."""
    source: str | BinaryIO
    if hasattr(upload, "temporary_file_path"):
        source = upload.temporary_file_path()
    else:
        source = upload.file if upload.file is not None else upload
    try:
        return probe(source)
    except MediaError as exc:
        raise ApplicationError(f"{display_name} is not a video file PyAV can read. {exc}") from exc
    finally:
        if not isinstance(source, str):
            upload.seek(0)


def _store_source(*, storage: Storage, name: str, content: File) -> str:
    """Save `content` at `name` (streamed); on failure remove whatever part of it was written."""
    target: str | None = None
    try:
        target = storage.get_available_name(name, max_length=500)
        return storage.save(target, content, max_length=500)
    except Exception as exc:
        _delete_quietly(storage, [target] if target else [])
        unreachable = storage_error_message(exc)
        if unreachable is not None:
            raise ApplicationError(f"The file could not be stored. {unreachable}", status=503) from exc
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ApplicationError(f"The file could not be stored: {reason}.", status=503) from exc


def _enqueue_ingest(*, clip_id: int, job_id: int) -> None:
    from kombu.exceptions import OperationalError as BrokerError

    from server.media.tasks import clip_ingest_task

    try:
        clip_ingest_task.delay(clip_id, job_id)
    except BrokerError as exc:
        logger.exception("could not queue the ingest of clip %s", clip_id)
        clip_ingest_fail(
            clip_id=clip_id,
            job_id=job_id,
            error=(
                f"The ingest could not be queued: the task broker is unreachable ({exc}; setting CELERY_BROKER_URL). "
                f"Nothing is lost: retry with POST /api/clips/{clip_id}/ingest/ once the broker is back."
            ),
        )


def _limit_error(info: VideoInfo) -> str | None:
    """Why the video is above the configured limits, or None."""
    max_seconds = settings.AVS_MAX_VIDEO_SECONDS
    if info.duration > max_seconds:
        return (
            f"The video lasts {info.duration:.1f} s; videos may last at most {max_seconds:g} s "
            "(setting AVS_MAX_VIDEO_SECONDS)."
        )
    max_side = settings.AVS_MAX_VIDEO_SIDE
    if max(info.width, info.height) > max_side:
        return (
            f"The video is {info.width}x{info.height} pixels; its longer side may be at most {max_side} pixels "
            "(setting AVS_MAX_VIDEO_SIDE)."
        )
    return None


# --- ingest -----------------------------------------------------------------------------------------


def clip_ingest(
    *,
    clip_id: int,
    job_id: int,
    storage: Storage | None = None,
    clock: Callable[[], float] = time.monotonic,
    attempt: uuid.UUID | None = None,
) -> None:
    """Decode a clip's source into frames (JPEG, at the project's fps and max side) and a mono WAV track.

    The job goes running → succeeded (progress: frames 0–90 %, audio 90–100 %) and the clip
    uploaded → processing → ready, with duration, source_fps, fps, width, height (as displayed), rotation and
    has_audio filled. Frames are stored upright: turned by the video's rotation (display matrix or tag). A
    video without audio is accepted (`has_audio` False; the job message says so).

    On any failure (unreadable, truncated or corrupt media, limits, unexpected errors) every frame and
    audio file and row of the clip is removed, the clip becomes `failed` with a readable `error` and the
    job fails with the same message; the source file stays. Database connection errors and Celery's soft
    time limit are re-raised after removing this run's files, for the task to retry or fail the job.

    Ownership (duplicate and stale deliveries): the run first claims the clip under a row lock, storing its
    `attempt` id (a new UUID unless given) in `Clip.ingest_attempt`; only the run holding the current attempt
    may store frames or fail the clip. So a later delivery of the same job takes the clip over from a run that
    died (or still runs: the older one then stops at its next progress write and removes only its own files); a
    delivery of a job that is finished, or not the clip's latest ingest job (a retry replaced it), changes
    nothing; and a clip that is `ready` is never touched again (its frames may carry annotations). Files left
    by runs that died are removed when a run stores its frames. `clock` (seconds, monotonic) paces the progress
    writes.
    """
    from celery.exceptions import SoftTimeLimitExceeded

    storage = storage or default_storage
    attempt = attempt or uuid.uuid4()
    clip = _ingest_claim(clip_id=clip_id, job_id=job_id, attempt=attempt)
    if clip is None:
        return

    written: list[str] = []
    try:
        with _local_source(storage=storage, name=clip.source.name) as path:
            _decode_into_clip(
                clip=clip, path=path, storage=storage, job_id=job_id, written=written, clock=clock, attempt=attempt
            )
    except (*RETRYABLE_ERRORS, SoftTimeLimitExceeded):
        _delete_quietly(storage, written)
        raise
    except _Superseded:
        logger.info("ingest of clip %s: attempt %s was superseded; its files are removed", clip.pk, attempt)
        _delete_quietly(storage, written)
    except Exception as exc:
        unreachable = storage_error_message(exc)
        if isinstance(exc, MediaError | ApplicationError):
            message = str(exc)
        elif unreachable is not None:
            logger.warning("ingest of clip %s: media storage error: %s", clip.pk, exc)
            message = (
                f"Ingest failed: {unreachable} No frames were kept; retry the ingest once the storage answers "
                f"(POST /api/clips/{clip.pk}/ingest/)."
            )
        else:
            logger.exception("ingest of clip %s failed unexpectedly", clip.pk)
            message = f"Ingest failed unexpectedly ({type(exc).__name__}: {exc}). The error was logged."
        _delete_quietly(storage, written)
        clip_ingest_fail(clip_id=clip.pk, job_id=job_id, error=message, storage=storage, attempt=attempt)


class _Superseded(Exception):
    """Another ingest run holds the clip now (`Clip.ingest_attempt`): this one stops and stores nothing."""


def _ingest_job_id(*, clip_id: int) -> int | None:
    """The clip's latest ingest job (upload or retry): the only one whose runs may write the clip."""
    return (
        Job.objects.filter(kind=Job.Kind.INGEST, target_type=ContentType.objects.get_for_model(Clip), target_id=clip_id)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )


def _finish_stale_job(*, job_id: int, error: str) -> None:
    Job.objects.filter(pk=job_id, status__in=(Job.Status.QUEUED, Job.Status.RUNNING)).update(
        status=Job.Status.FAILED,
        error=error,
        message=error[:500],
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )


def _ingest_claim(*, clip_id: int, job_id: int, attempt: uuid.UUID) -> Clip | None:
    """Make `attempt` the clip's ingest run (clip → processing, job → running), or None when this delivery has
    nothing to do: the clip is gone or ready, the job is finished, or a later ingest job replaced it."""
    with transaction.atomic():
        clip = Clip.objects.select_for_update(of=("self",)).select_related("project").filter(pk=clip_id).first()
        if clip is None:
            job_fail(job_id=job_id, error="The clip was deleted before it could be ingested.", message="Clip deleted.")
            return None
        latest = _ingest_job_id(clip_id=clip.pk)
        if latest is not None and latest != job_id:
            _finish_stale_job(job_id=job_id, error=f"Replaced by ingest job {latest} of the same clip.")
            return None
        job_status = Job.objects.filter(pk=job_id).values_list("status", flat=True).first()
        if clip.status == Clip.Status.READY:
            if job_status in (Job.Status.QUEUED, Job.Status.RUNNING):
                job_succeed(job_id=job_id, message=f"Already ingested: {clip.frames.count()} frames.")
            return None
        if job_status in (Job.Status.SUCCEEDED, Job.Status.FAILED):
            return None  # a late copy of a finished job's message
        Clip.objects.filter(pk=clip.pk).update(
            status=Clip.Status.PROCESSING, error="", ingest_attempt=attempt, updated_at=timezone.now()
        )
        project_clip_counts_refresh(project_id=clip.project_id)
        job_start(job_id=job_id, message="Decoding frames.")
    clip.status, clip.error, clip.ingest_attempt = Clip.Status.PROCESSING, "", attempt
    return clip


def _holds(*, clip_id: int, attempt: uuid.UUID) -> bool:
    """Whether `attempt` still owns the clip (run inside a transaction: locks the clip's row until it ends)."""
    owner = Clip.objects.select_for_update().filter(pk=clip_id).values_list("ingest_attempt", "status").first()
    return owner is not None and owner == (attempt, Clip.Status.PROCESSING)


def _decode_into_clip(
    *,
    clip: Clip,
    path: str,
    storage: Storage,
    job_id: int,
    written: list[str],
    clock: Callable[[], float],
    attempt: uuid.UUID,
) -> None:
    """Write the frames and the audio of `path` into `clip`, then mark the clip ready and the job succeeded.

    Files are written as they come (their names appended to `written`); rows in one transaction at the end,
    if `attempt` still owns the clip (`_Superseded` otherwise, also raised early at a progress write).
    """
    project = clip.project
    info = probe(path, check_decode=False)
    limit = _limit_error(info)
    if limit is not None:
        raise ApplicationError(limit)

    folder = clip_folder(clip=clip)
    quality = settings.AVS_FRAME_JPEG_QUALITY
    total = frame_count(duration=info.duration, fps=project.fps)
    progress = _ProgressReporter(
        job_id=job_id, clock=clock, owned=lambda: Clip.objects.filter(pk=clip.pk, ingest_attempt=attempt).exists()
    )
    frames: list[Frame] = []
    encoded: tuple[object, bytes] = (None, b"")  # the last image encoded: repeated pictures are encoded once
    for decoded in iter_frames(path, fps=project.fps, position=FRAME_POSITION, max_side=project.frame_max_side):
        if encoded[0] is not decoded.image:
            buffer = io.BytesIO()
            decoded.image.save(buffer, format="JPEG", quality=quality)
            encoded = (decoded.image, buffer.getvalue())
        name = storage.save(f"{folder}/frames/{decoded.index:05d}.jpg", ContentFile(encoded[1]))
        written.append(name)
        frames.append(
            Frame(
                clip=clip,
                index=decoded.index,
                timestamp=decoded.timestamp,
                image=name,
                width=decoded.image.width,
                height=decoded.image.height,
            )
        )
        progress.report(FRAMES_PHASE * len(frames) / total, f"Decoded {len(frames)} of {total} frames.")

    audio: AudioTrack | None = None
    if info.has_audio:
        progress.report(FRAMES_PHASE, "Extracting the audio track.")
        rate = project.audio_sample_rate
        with tempfile.SpooledTemporaryFile(max_size=32 * CHUNK_BYTES) as wav:
            num_samples = write_wav(wav, iter_audio_mono(path, sample_rate=rate), rate)
            wav.seek(0)
            name = storage.save(f"{folder}/audio.wav", File(wav, name="audio.wav"))
            written.append(name)
        audio = AudioTrack(clip=clip, file=name, sample_rate=rate, duration=num_samples / rate, num_samples=num_samples)

    with transaction.atomic():
        if not _holds(clip_id=clip.pk, attempt=attempt):
            raise _Superseded()
        # Rows an older run may have left (none normally: rows are only written here, with the clip ready).
        Frame.objects.filter(clip=clip).delete()
        AudioTrack.objects.filter(clip=clip).delete()
        Frame.objects.bulk_create(frames, batch_size=500)
        if audio is not None:
            audio.save()
        clip.duration = info.duration
        clip.source_fps = info.source_fps
        clip.fps = project.fps
        clip.width = info.width
        clip.height = info.height
        clip.rotation = info.rotation
        clip.has_audio = audio is not None
        clip.status = Clip.Status.READY
        clip.error = ""
        clip.ingest_attempt = None
        clip.num_frames = len(frames)
        clip.save(
            update_fields=[
                "num_frames",
                "duration",
                "source_fps",
                "fps",
                "width",
                "height",
                "rotation",
                "has_audio",
                "status",
                "error",
                "ingest_attempt",
                "updated_at",
            ]
        )
        project_clip_counts_refresh(project_id=clip.project_id)
        frames_text = f"{len(frames)} frame{'s' if len(frames) != 1 else ''}"
        if audio is None:
            job_succeed(job_id=job_id, message=f"{frames_text}; {NO_AUDIO_NOTE}.")
        else:
            job_succeed(job_id=job_id, message=f"{frames_text}, {audio.duration:.1f} s of audio.")
    # Files of runs that died (or were superseded and are still stopping) are nobody's now.
    kept = set(written)
    _delete_quietly(storage, [name for name in _folder_files(clip=clip, storage=storage) if name not in kept])


class _ProgressReporter:
    """Writes job progress at most every PROGRESS_INTERVAL seconds of `clock`, and only when it moved; before
    each write, raises `_Superseded` if `owned()` says another run took the clip over."""

    def __init__(self, *, job_id: int, clock: Callable[[], float], owned: Callable[[], bool] = lambda: True):
        self.job_id = job_id
        self.clock = clock
        self.owned = owned
        self.last_time = clock()  # the job already says "Decoding frames." at 0 %
        self.last_value = 0

    def report(self, progress: float, message: str) -> None:
        now = self.clock()
        if int(progress) != self.last_value and now - self.last_time >= PROGRESS_INTERVAL:
            if not self.owned():
                raise _Superseded()
            job_progress(job_id=self.job_id, progress=progress, message=message)
            self.last_time, self.last_value = now, int(progress)


@contextmanager
def _local_source(*, storage: Storage, name: str) -> Iterator[str]:
    """A local path to the stored file `name` (a temporary copy when the storage is not a local folder)."""
    if not name:
        raise ApplicationError("The clip has no source file to ingest.")
    try:
        path: str | None = storage.path(name)
    except NotImplementedError:
        path = None
    if path is not None:
        if not os.path.isfile(path):
            raise ApplicationError("The clip's source file is missing from storage.")
        yield path
        return
    # Media in a bucket: a temporary copy, downloaded in chunks (FILE_UPLOAD_TEMP_DIR or the system's temp folder).
    with tempfile.NamedTemporaryFile(suffix=os.path.splitext(name)[1], dir=settings.FILE_UPLOAD_TEMP_DIR) as copy:
        try:
            storage_download(storage=storage, name=name, out=copy)
        except FileNotFoundError:
            raise ApplicationError("The clip's source file is missing from storage.") from None
        copy.flush()
        yield copy.name


def clip_ingest_fail(
    *, clip_id: int, job_id: int, error: str, storage: Storage | None = None, attempt: uuid.UUID | None = None
) -> None:
    """Mark an ingest failed with `error` (for people): remove the clip's frames and audio, clip → failed, job → failed.

    For the failure paths outside `clip_ingest` (time limit, retries exhausted, broker unreachable, a task whose
    worker kept dying) and its own. Changes nothing when the clip is ready (a late failure report must not undo a
    finished ingest), when `job_id` is not the clip's latest ingest job (then only that job fails, if unfinished),
    or when `attempt` is given and another run holds the clip.
    """
    storage = storage or default_storage
    with transaction.atomic():
        clip = Clip.objects.select_for_update().filter(pk=clip_id).first()
        if clip is None:
            job_fail(job_id=job_id, error=error, message=error)
            return
        if clip.status == Clip.Status.READY:
            return
        latest = _ingest_job_id(clip_id=clip.pk)
        if latest is not None and latest != job_id:
            _finish_stale_job(job_id=job_id, error=error)
            return
        if attempt is not None and clip.ingest_attempt not in (None, attempt):
            logger.info("ingest of clip %s: attempt %s failed after it was superseded; ignored", clip.pk, attempt)
            return
        try:
            _clear_outputs(clip=clip, storage=storage)
        except Exception:
            logger.exception("could not remove the partial output of clip %s", clip.pk)
        Clip.objects.filter(pk=clip.pk).update(
            status=Clip.Status.FAILED, error=error, ingest_attempt=None, updated_at=timezone.now()
        )
        project_clip_counts_refresh(project_id=clip.project_id)
        job_fail(job_id=job_id, error=error, message=error)


def _clear_outputs(*, clip: Clip, storage: Storage) -> None:
    """Delete the clip's Frame and AudioTrack rows and every file under its folder (frames, audio)."""
    names = _output_names(clip=clip, storage=storage)
    Frame.objects.filter(clip=clip).delete()
    AudioTrack.objects.filter(clip=clip).delete()
    Clip.objects.filter(pk=clip.pk).update(num_frames=0)
    _delete_quietly(storage, names)
    _remove_empty_folders(storage, [f"{clip_folder(clip=clip)}/frames", clip_folder(clip=clip)])


def _output_names(*, clip: Clip, storage: Storage) -> list[str]:
    names = list(Frame.objects.filter(clip=clip).values_list("image", flat=True))
    names += list(AudioTrack.objects.filter(clip=clip).values_list("file", flat=True))
    names += _folder_files(clip=clip, storage=storage)
    return sorted(set(filter(None, names)))


def _folder_files(*, clip: Clip, storage: Storage) -> list[str]:
    """Names of the files in the clip's folder and its frames folder."""
    folder = clip_folder(clip=clip)
    names: list[str] = []
    for sub in (f"{folder}/frames", folder):
        try:
            _, files = storage.listdir(sub)
        except (FileNotFoundError, NotImplementedError):
            continue
        names += [f"{sub}/{file}" for file in files]
    return names


def _delete_quietly(storage: Storage, names: list[str]) -> None:
    for name in names:
        try:
            storage.delete(name)
        except FileNotFoundError:
            pass
        except Exception as exc:
            if storage_error_message(exc) is not None:
                # The storage is unreachable: the rest would fail alike. What is left in the clip's folder is removed
                # by its next ingest (retry) or its deletion.
                logger.warning("could not delete %d files from storage: %s", len(names), exc)
                return
            logger.exception("could not delete %s from storage", name)


def _remove_empty_folders(storage: Storage, folders: list[str]) -> None:
    """Local storage keeps empty folders after their files are deleted; remove them (innermost first)."""
    for folder in folders:
        try:
            os.rmdir(storage.path(folder))
        except (NotImplementedError, OSError):
            pass


# --- retry ------------------------------------------------------------------------------------------


def clip_ingest_retry(*, clip: Clip, user: Any = None) -> Job:
    """Queue the ingest of a failed (or never queued) clip again, from its stored source.

    Decided under a lock on the clip's row, so of concurrent retries one queues the ingest and the others get 409.
    A clip that is `ready` or `processing` is refused (409): re-ingesting would replace frames that annotations
    point at; so is an `uploaded` clip whose ingest is already queued. Partial output of earlier attempts is
    removed first; a delivery of an earlier ingest job that arrives later changes nothing (`clip_ingest`).
    """
    storage = default_storage
    with transaction.atomic():
        locked = Clip.objects.select_for_update().filter(pk=clip.pk).first()
        if locked is None:
            raise NotFoundError("Clip not found.")
        if locked.status in (Clip.Status.READY, Clip.Status.PROCESSING):
            raise ApplicationError(
                f"Clip {clip.pk} is {locked.status}; only failed or uploaded clips can be ingested again.",
                {"status": locked.status},
                status=409,
            )
        latest = _ingest_job_id(clip_id=clip.pk)
        pending = Job.objects.filter(pk=latest, status__in=(Job.Status.QUEUED, Job.Status.RUNNING)).first()
        if pending is not None:
            raise ApplicationError(
                f"Clip {clip.pk} is already queued for ingest (job {pending.pk}).",
                {"status": locked.status, "job_id": pending.pk},
                status=409,
            )
        if not locked.source.name:
            raise ApplicationError("The clip has no stored source file; delete it and upload the file again.")
        try:
            _clear_outputs(clip=locked, storage=storage)
        except Exception as exc:
            unreachable = storage_error_message(exc)
            if unreachable is None:
                raise
            raise ApplicationError(f"The clip cannot be ingested again now: {unreachable}", status=503) from exc
        Clip.objects.filter(pk=clip.pk).update(
            status=Clip.Status.UPLOADED, error="", ingest_attempt=None, updated_at=timezone.now()
        )
        project_clip_counts_refresh(project_id=clip.project_id)
        job = job_create(
            project_id=clip.project_id, kind=Job.Kind.INGEST, created_by=user, target=clip, message="Queued for ingest."
        )
        transaction.on_commit(partial(_enqueue_ingest, clip_id=clip.pk, job_id=job.pk))
    return job


# --- delete -----------------------------------------------------------------------------------------


def clip_delete(*, clip: Clip, storage: Storage | None = None) -> None:
    """Delete a clip, its rows (frames, audio track, annotations, ...) and its files (source, frames, audio).

    The files go once the surrounding transaction commits, so a rolled-back delete loses nothing.
    """
    storage = storage or default_storage
    names = _output_names(clip=clip, storage=storage)
    if clip.source.name:
        names.append(clip.source.name)
    folders = [f"{clip_folder(clip=clip)}/frames", clip_folder(clip=clip)]
    if clip.source.name:
        folders.append(os.path.dirname(clip.source.name))
    with transaction.atomic():
        clip.delete()
        project_clip_counts_refresh(project_id=clip.project_id)

    def delete_files() -> None:
        _delete_quietly(storage, names)
        _remove_empty_folders(storage, folders)

    transaction.on_commit(delete_files)
