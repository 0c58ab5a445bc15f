"""Import from a bucket: copy the new video objects of an `s3://bucket/prefix/` into a project as clips.

Each new object (`server.buckets.selectors.bucket_objects_list`) is downloaded in chunks to a temporary file, then
stored like an upload (`server.media.services.clip_create_from_file`: SHA-256, readable-video check, source into
media storage, ingest queued). A video the project already holds (same SHA-256) adds nothing. What became of every
object is recorded (`BucketObject`), so the next listing shows only what is new: importing twice adds nothing.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.conf import settings
from django.core.files import File
from django.db import transaction

from server.buckets.models import BucketObject
from server.buckets.selectors import (
    BucketLocation,
    ListedObject,
    bucket_error_message,
    bucket_location_allowed_check,
    bucket_location_parse,
    bucket_objects_list,
)
from server.core.errors import ApplicationError
from server.jobs.models import Job
from server.jobs.services import job_create, job_fail, job_progress, job_start, job_succeed
from server.media.models import Clip, Project
from server.media.services import clip_create_from_file
from server.media.storage import s3_client, storage_error_message

logger = logging.getLogger(__name__)


@dataclass
class ObjectImport:
    """What importing one object did: `outcome` is a `BucketObject.Outcome`; `job` the new clip's ingest job."""

    key: str
    outcome: str
    clip: Clip | None = None
    job: Job | None = None
    error: str = ""


@dataclass
class BucketImport:
    location: BucketLocation
    objects: list[ObjectImport] = field(default_factory=list)
    truncated: bool = False

    def count(self, outcome: str) -> int:
        return sum(1 for item in self.objects if item.outcome == outcome)

    def summary(self) -> str:
        text = (
            f"{self.count(BucketObject.Outcome.IMPORTED)} new, {self.count(BucketObject.Outcome.DUPLICATE)} already "
            f"in the project, {self.count(BucketObject.Outcome.FAILED)} failed, from {self.location}"
        )
        if self.truncated:
            text += f" (more than AVS_IMPORT_MAX_OBJECTS={settings.AVS_IMPORT_MAX_OBJECTS} objects: import again)"
        return text + "."


def bucket_import(
    *,
    project: Project,
    location: BucketLocation,
    user: Any = None,
    client: Any = None,
    enqueue: bool = True,
    progress: Callable[[int, int, str], None] | None = None,
) -> BucketImport:
    """Import every object of `location` that is not in the project yet (new, changed, or failed last time).

    `enqueue` queues each new clip's ingest (False: the caller runs `clip_ingest`). `progress(done, total, key)` is
    called before each object. A failure of one object (not a video, too large, gone) is recorded and the import goes
    on; a bucket that cannot be reached raises ApplicationError 503 (objects imported until then stay imported).
    """
    client = client or s3_client()
    listed, truncated = bucket_objects_list(project_id=project.pk, location=location, client=client)
    todo = [obj for obj in listed if obj.status != "in_project"]
    result = BucketImport(location=location, truncated=truncated)
    for done, obj in enumerate(todo):
        if progress is not None:
            progress(done, len(todo), obj.key)
        result.objects.append(
            _import_one(project=project, location=location, obj=obj, user=user, client=client, enqueue=enqueue)
        )
    return result


def _import_one(
    *, project: Project, location: BucketLocation, obj: ListedObject, user: Any, client: Any, enqueue: bool
) -> ObjectImport:
    from botocore.exceptions import ClientError

    if obj.size_bytes > settings.AVS_UPLOAD_MAX_BYTES:
        return _record(
            project=project,
            location=location,
            obj=obj,
            outcome=ObjectImport(
                key=obj.key,
                outcome=BucketObject.Outcome.FAILED,
                error=f"{obj.name} is {obj.size_bytes / 1024**2:.1f} MB; videos are limited to "
                f"{settings.AVS_UPLOAD_MAX_BYTES / 1024**2:.1f} MB (setting AVS_UPLOAD_MAX_BYTES).",
            ),
        )
    suffix = os.path.splitext(obj.key)[1]
    with tempfile.NamedTemporaryFile(suffix=suffix, dir=settings.FILE_UPLOAD_TEMP_DIR) as copy:
        try:
            client.download_fileobj(location.bucket, obj.key, copy)
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 404:
                raise _unreachable(location, exc) from exc
            outcome = ObjectImport(key=obj.key, outcome=BucketObject.Outcome.FAILED, error="The object is gone.")
            return _record(project=project, location=location, obj=obj, outcome=outcome)
        except Exception as exc:
            if storage_error_message(exc) is None:
                raise
            raise _unreachable(location, exc) from exc
        copy.seek(0)
        try:
            clip, job, created = clip_create_from_file(
                project=project, file=File(copy, name=obj.name), name=obj.name, user=user, enqueue=enqueue
            )
        except ApplicationError as exc:
            outcome = ObjectImport(key=obj.key, outcome=BucketObject.Outcome.FAILED, error=exc.message)
            return _record(project=project, location=location, obj=obj, outcome=outcome)
    kind = BucketObject.Outcome.IMPORTED if created else BucketObject.Outcome.DUPLICATE
    outcome = ObjectImport(key=obj.key, outcome=kind, clip=clip, job=job)
    return _record(project=project, location=location, obj=obj, outcome=outcome)


def _unreachable(location: BucketLocation, exc: BaseException) -> ApplicationError:
    message = storage_error_message(exc) or f"The bucket could not be read ({exc})."
    return ApplicationError(bucket_error_message(message, location), status=503)


def _record(*, project: Project, location: BucketLocation, obj: ListedObject, outcome: ObjectImport) -> ObjectImport:
    BucketObject.objects.update_or_create(
        project=project,
        bucket=location.bucket,
        key=obj.key,
        etag=obj.etag,
        defaults={
            "size_bytes": obj.size_bytes,
            "checksum": outcome.clip.checksum if outcome.clip is not None else "",
            "clip": outcome.clip,
            "outcome": outcome.outcome,
            "error": outcome.error,
        },
    )
    return outcome


# --- as a job (the web app) ---------------------------------------------------------------------------


def bucket_import_start(*, project: Project, url: str, user: Any = None) -> Job:
    """Queue the import of `url`'s new objects into `project` (a job on the `ingest` queue); the web app's limit on
    locations applies (AVS_IMPORT_BUCKETS)."""
    location = bucket_location_parse(url)
    bucket_location_allowed_check(location)
    job = job_create(
        project_id=project.pk, kind=Job.Kind.IMPORT, created_by=user, message=f"Queued: new videos from {location}."
    )
    Job.objects.filter(pk=job.pk).update(result={"source": str(location)})
    transaction.on_commit(partial(_enqueue, job_id=job.pk, project_id=project.pk, url=str(location)))
    return job


def _enqueue(*, job_id: int, project_id: int, url: str) -> None:
    from kombu.exceptions import OperationalError as BrokerError

    from server.buckets.tasks import bucket_import_task

    try:
        bucket_import_task.delay(job_id, project_id, url)
    except BrokerError as exc:
        logger.exception("could not queue bucket import job %s", job_id)
        job_fail(
            job_id=job_id,
            error=f"The import could not be queued: the task broker is unreachable ({exc}; setting "
            "CELERY_BROKER_URL). Start it again once the broker is back.",
        )


def bucket_import_run(*, job_id: int, project_id: int, url: str, client: Any = None) -> None:
    """The import job's body (worker): job running → succeeded with `result` {source, counts, objects} (each object's
    key, outcome, clip id, ingest job id, error), or failed with a readable error (e.g. the bucket is unreachable)."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        job_fail(job_id=job_id, error="The project was deleted before the import started.")
        return
    location = bucket_location_parse(url)
    job_start(job_id=job_id, message=f"Listing {location}.")

    def progress(done: int, total: int, key: str) -> None:
        job_progress(job_id=job_id, progress=100 * done / max(total, 1), message=f"{done} of {total}: {key}"[:500])

    try:
        outcome = bucket_import(project=project, location=location, client=client, progress=progress)
    except ApplicationError as exc:
        job_fail(job_id=job_id, error=f"Import from {location} failed: {exc.message}", message="Import failed.")
        return
    counts = {kind: outcome.count(kind) for kind in BucketObject.Outcome.values}
    objects = [
        {
            "key": item.key,
            "outcome": item.outcome,
            "clip_id": item.clip.pk if item.clip is not None else None,
            "ingest_job_id": item.job.pk if item.job is not None else None,
            "error": item.error,
        }
        for item in outcome.objects
    ]
    Job.objects.filter(pk=job_id).update(
        result={"source": str(location), "counts": counts, "truncated": outcome.truncated, "objects": objects}
    )
    job_succeed(job_id=job_id, message=outcome.summary())
