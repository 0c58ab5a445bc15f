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
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, BinaryIO

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
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
from server.core.errors import ApplicationError, PayloadTooLargeError
from server.jobs.models import Job
from server.jobs.services import job_create, job_fail, job_progress, job_start, job_succeed
from server.media.models import AudioTrack, Clip, Frame, Project

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
    target = storage.get_available_name(name, max_length=500)
    try:
        return storage.save(target, content, max_length=500)
    except Exception as exc:
        _delete_quietly(storage, [target])
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
    *, clip_id: int, job_id: int, storage: Storage | None = None, clock: Callable[[], float] = time.monotonic
) -> None:
    """Decode a clip's source into frames (JPEG, at the project's fps and max side) and a mono WAV track.

    The job goes running → succeeded (progress: frames 0–90 %, audio 90–100 %) and the clip
    uploaded → processing → ready, with duration, source_fps, fps, width, height and has_audio filled. A
    video without audio is accepted (`has_audio` False; the job message says so).

    On any failure (unreadable, truncated or corrupt media, limits, unexpected errors) every frame and
    audio file and row of the clip is removed, the clip becomes `failed` with a readable `error` and the
    job fails with the same message; the source file stays. Database connection errors and Celery's soft
    time limit are re-raised after removing this run's files, for the task to retry or fail the job.

    Safe to run again (a redelivered task): partial output of an earlier attempt is cleared first, and
    a clip that is already `ready` is left as it is (its frames may carry annotations).
    `clock` (seconds, monotonic) paces the progress writes.
    """
    from celery.exceptions import SoftTimeLimitExceeded

    storage = storage or default_storage
    clip = Clip.objects.select_related("project").filter(pk=clip_id).first()
    if clip is None:
        job_fail(job_id=job_id, error="The clip was deleted before it could be ingested.", message="Clip deleted.")
        return
    if clip.status == Clip.Status.READY:
        job_succeed(job_id=job_id, message=f"Already ingested: {clip.frames.count()} frames.")
        return

    written: list[str] = []
    try:
        with transaction.atomic():
            job_start(job_id=job_id, message="Decoding frames.")
            if clip.status != Clip.Status.UPLOADED:  # an earlier attempt may have left frames behind
                _clear_outputs(clip=clip, storage=storage)
            Clip.objects.filter(pk=clip.pk).update(status=Clip.Status.PROCESSING, error="", updated_at=timezone.now())
        with _local_source(storage=storage, name=clip.source.name) as path:
            _decode_into_clip(clip=clip, path=path, storage=storage, job_id=job_id, written=written, clock=clock)
    except (*RETRYABLE_ERRORS, SoftTimeLimitExceeded):
        _delete_quietly(storage, written)
        raise
    except Exception as exc:
        if isinstance(exc, MediaError | ApplicationError):
            message = str(exc)
        else:
            logger.exception("ingest of clip %s failed unexpectedly", clip.pk)
            message = f"Ingest failed unexpectedly ({type(exc).__name__}: {exc}). The error was logged."
        _delete_quietly(storage, written)
        _mark_failed(clip=clip, job_id=job_id, error=message, storage=storage)


def _decode_into_clip(
    *, clip: Clip, path: str, storage: Storage, job_id: int, written: list[str], clock: Callable[[], float]
) -> None:
    """Write the frames and the audio of `path` into `clip`, then mark the clip ready and the job succeeded.

    Files are written as they come (their names appended to `written`); rows in one transaction at the end.
    """
    project = clip.project
    info = probe(path, check_decode=False)
    limit = _limit_error(info)
    if limit is not None:
        raise ApplicationError(limit)

    folder = clip_folder(clip=clip)
    quality = settings.AVS_FRAME_JPEG_QUALITY
    total = frame_count(duration=info.duration, fps=project.fps)
    progress = _ProgressReporter(job_id=job_id, clock=clock)
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
        Frame.objects.bulk_create(frames, batch_size=500)
        if audio is not None:
            audio.save()
        clip.duration = info.duration
        clip.source_fps = info.source_fps
        clip.fps = project.fps
        clip.width = info.width
        clip.height = info.height
        clip.has_audio = audio is not None
        clip.status = Clip.Status.READY
        clip.error = ""
        clip.save(
            update_fields=[
                "duration",
                "source_fps",
                "fps",
                "width",
                "height",
                "has_audio",
                "status",
                "error",
                "updated_at",
            ]
        )
        frames_text = f"{len(frames)} frame{'s' if len(frames) != 1 else ''}"
        if audio is None:
            job_succeed(job_id=job_id, message=f"{frames_text}; {NO_AUDIO_NOTE}.")
        else:
            job_succeed(job_id=job_id, message=f"{frames_text}, {audio.duration:.1f} s of audio.")


class _ProgressReporter:
    """Writes job progress at most every PROGRESS_INTERVAL seconds of `clock`, and only when it moved."""

    def __init__(self, *, job_id: int, clock: Callable[[], float]):
        self.job_id = job_id
        self.clock = clock
        self.last_time = clock()  # the job already says "Decoding frames." at 0 %
        self.last_value = 0

    def report(self, progress: float, message: str) -> None:
        now = self.clock()
        if int(progress) != self.last_value and now - self.last_time >= PROGRESS_INTERVAL:
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
    if not storage.exists(name):
        raise ApplicationError("The clip's source file is missing from storage.")
    with tempfile.NamedTemporaryFile(suffix=os.path.splitext(name)[1]) as copy, storage.open(name, "rb") as stored:
        shutil.copyfileobj(stored, copy, CHUNK_BYTES)
        copy.flush()
        yield copy.name


def clip_ingest_fail(*, clip_id: int, job_id: int, error: str, storage: Storage | None = None) -> None:
    """Mark an ingest failed with `error` (for people): remove the clip's frames and audio, clip → failed, job → failed.

    For the failure paths outside `clip_ingest` (time limit, retries exhausted, broker unreachable).
    """
    storage = storage or default_storage
    clip = Clip.objects.filter(pk=clip_id).first()
    if clip is None:
        job_fail(job_id=job_id, error=error, message=error)
        return
    if clip.status == Clip.Status.READY:  # a late failure report must not undo a finished ingest
        return
    _mark_failed(clip=clip, job_id=job_id, error=error, storage=storage)


def _mark_failed(*, clip: Clip, job_id: int, error: str, storage: Storage) -> None:
    try:
        _clear_outputs(clip=clip, storage=storage)
    except Exception:
        logger.exception("could not remove the partial output of clip %s", clip.pk)
    Clip.objects.filter(pk=clip.pk).update(status=Clip.Status.FAILED, error=error, updated_at=timezone.now())
    job_fail(job_id=job_id, error=error, message=error)


def _clear_outputs(*, clip: Clip, storage: Storage) -> None:
    """Delete the clip's Frame and AudioTrack rows and every file under its folder (frames, audio)."""
    names = _output_names(clip=clip, storage=storage)
    Frame.objects.filter(clip=clip).delete()
    AudioTrack.objects.filter(clip=clip).delete()
    _delete_quietly(storage, names)
    _remove_empty_folders(storage, [f"{clip_folder(clip=clip)}/frames", clip_folder(clip=clip)])


def _output_names(*, clip: Clip, storage: Storage) -> list[str]:
    folder = clip_folder(clip=clip)
    names = list(Frame.objects.filter(clip=clip).values_list("image", flat=True))
    names += list(AudioTrack.objects.filter(clip=clip).values_list("file", flat=True))
    for sub in (f"{folder}/frames", folder):
        try:
            _, files = storage.listdir(sub)
        except (FileNotFoundError, NotImplementedError):
            continue
        names += [f"{sub}/{file}" for file in files]
    return sorted(set(filter(None, names)))


def _delete_quietly(storage: Storage, names: list[str]) -> None:
    for name in names:
        try:
            storage.delete(name)
        except FileNotFoundError:
            pass
        except Exception:
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

    Partial output of earlier attempts is removed first. A clip that is `ready` or `processing`
    is refused: re-ingesting would replace frames that annotations point at.
    """
    if clip.status in (Clip.Status.READY, Clip.Status.PROCESSING):
        raise ApplicationError(
            f"Clip {clip.pk} is {clip.status}; only failed or uploaded clips can be ingested again.",
            {"status": clip.status},
            status=409,
        )
    if not clip.source.name:
        raise ApplicationError("The clip has no stored source file; delete it and upload the file again.")
    storage = default_storage
    with transaction.atomic():
        _clear_outputs(clip=clip, storage=storage)
        Clip.objects.filter(pk=clip.pk).update(status=Clip.Status.UPLOADED, error="", updated_at=timezone.now())
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

    def delete_files() -> None:
        _delete_quietly(storage, names)
        _remove_empty_folders(storage, folders)

    transaction.on_commit(delete_files)
