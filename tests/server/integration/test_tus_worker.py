"""A resumable (tus) upload through the live server becomes a clip that a real Celery worker on Redis ingests (the
same ingest job as a one-request upload; PostgreSQL shared by the server, the worker and the test)."""

from __future__ import annotations

import hashlib
import io

import pytest
from rest_framework.authtoken.models import Token
from tusclient import client as tus

from server.accounts.models import Role
from server.jobs.models import Job
from server.media.models import Clip, Upload
from tests.media_files import DEMO_SMALL
from tests.server.integration.test_celery_worker import _wait_for_job, redis_url, worker  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_tus_upload_is_ingested_by_the_worker(worker, live_server, project, make_member, media_root):  # noqa: F811
    proc, log = worker
    manager = make_member(project, Role.MANAGER)
    token = Token.objects.create(user=manager)
    data = DEMO_SMALL.read_bytes()
    uploader = tus.TusClient(
        f"{live_server.url}/api/uploads/", headers={"Authorization": f"Token {token.key}"}
    ).uploader(
        file_stream=io.BytesIO(data),
        chunk_size=100_000,
        metadata={"filename": "street.mp4", "project": str(project.pk), "sha256": hashlib.sha256(data).hexdigest()},
    )
    uploader.upload()

    upload = Upload.objects.get()
    assert upload.status == Upload.Status.DONE and upload.job is not None
    job = _wait_for_job(upload.job_id, proc, log)
    assert (job.kind, job.status) == (Job.Kind.INGEST, Job.Status.SUCCEEDED), job.error
    clip = Clip.objects.get()
    assert (upload.clip_id, clip.name, clip.status) == (clip.pk, "street.mp4", Clip.Status.READY)
    assert clip.frames.count() == 5 and clip.has_audio
    assert (media_root / clip.source.name).read_bytes() == data
    log.seek(0)
    assert "server.media.tasks.clip_ingest_task[" in log.read()  # ingested by the worker, not in the server
