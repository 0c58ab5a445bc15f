"""A resumable (tus) upload when media live in a bucket: the parts stay in the web server's upload folder, the complete
file goes to the bucket (moto_server on 127.0.0.1), and a real Celery worker with no shared filesystem (its own empty
media folder) ingests it from there."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token
from tusclient import client as tus

from server.accounts.models import Role
from server.jobs.models import Job
from server.media.models import Clip, Upload
from tests.media_files import DEMO_SMALL
from tests.server.storage.conftest import local_files, wait_for_job

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_tus_upload_lands_in_the_bucket_and_the_worker_ingests_it(
    live_server, media_bucket, start_worker, project, make_member, media_root, settings
):
    worker = start_worker("tusworker")
    manager = make_member(project, Role.MANAGER)
    data = DEMO_SMALL.read_bytes()
    token = Token.objects.create(user=manager).key
    uploader = tus.TusClient(f"{live_server.url}/api/uploads/", headers={"Authorization": f"Token {token}"}).uploader(
        file_stream=io.BytesIO(data),
        chunk_size=64 * 1024,
        metadata={"filename": "street.mp4", "project": str(project.pk), "sha256": hashlib.sha256(data).hexdigest()},
        upload_checksum=True,
    )
    uploader.upload()

    upload = Upload.objects.get()
    clip = Clip.objects.get()
    assert (upload.status, upload.clip) == (Upload.Status.DONE, clip)
    assert media_bucket.read(clip.source.name) == data  # the whole file, in the bucket
    job = wait_for_job(upload.job_id, worker=worker)
    assert (job.kind, job.status) == (Job.Kind.INGEST, Job.Status.SUCCEEDED), job.error
    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY and clip.num_frames == 5
    assert len(media_bucket.keys(f"projects/{project.pk}/clips/{clip.pk}/frames/")) == 5
    assert local_files(media_root) == [] and local_files(worker.media_folder) == []  # nothing through a folder
    assert local_files(Path(settings.AVS_UPLOAD_DIR)) == []  # the part is gone once stored
