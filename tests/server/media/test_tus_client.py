"""Resumable uploads driven by a real tus client (tuspy) over real HTTP: pytest-django's live server (PostgreSQL when
DATABASE_URL says so), with a TCP proxy between them that drops a connection in the middle of a PATCH body."""

from __future__ import annotations

import fcntl
import hashlib
import io
import time

import pytest
import requests
from rest_framework.authtoken.models import Token
from tusclient import client as tus
from tusclient.exceptions import TusCommunicationError, TusUploadFailed

from server.accounts.models import Role
from server.jobs.models import Job
from server.media.models import Clip, Upload
from server.media.resumable import upload_part_path
from tests.media_files import DEMO_DIR
from tests.tcp_proxy import CuttingProxy

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

VIDEO = DEMO_DIR / "2IoF4ClnbPk.mp4"  # 0.9 MB
CHUNK = 256 * 1024


@pytest.fixture
def manager(project, make_member):
    return make_member(project, Role.MANAGER)


def token_headers(user) -> dict[str, str]:
    return {"Authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"}


@pytest.fixture
def proxy(live_server):
    host, port = live_server.url.removeprefix("http://").split(":")
    running = CuttingProxy(upstream=(host, int(port))).start()
    yield running
    running.close()


def tus_client(base_url: str, user) -> tus.TusClient:
    return tus.TusClient(f"{base_url}/api/uploads/", headers=token_headers(user))


def video_metadata(project, data: bytes, *, sha256: str | None = None) -> dict[str, str]:
    return {"filename": VIDEO.name, "project": str(project.pk), "sha256": sha256 or hashlib.sha256(data).hexdigest()}


def stored_offset(url: str, user) -> int:
    response = requests.head(url, headers={"Tus-Resumable": "1.0.0", **token_headers(user)}, timeout=30)
    assert response.status_code == 200, response.status_code
    return int(response.headers["Upload-Offset"])


def test_a_multi_chunk_upload_with_chunk_checksums_becomes_a_ready_clip(live_server, project, manager, media_root):
    data = VIDEO.read_bytes()
    uploader = tus_client(live_server.url, manager).uploader(
        file_stream=io.BytesIO(data), chunk_size=CHUNK, metadata=video_metadata(project, data), upload_checksum=True
    )
    offsets = []
    while uploader.offset < len(data):
        uploader.upload_chunk()  # one PATCH, its body's sha1 in Upload-Checksum
        offsets.append(uploader.offset)
    assert offsets == [CHUNK, 2 * CHUNK, 3 * CHUNK, len(data)]

    state = requests.get(uploader.url, headers=token_headers(manager), timeout=30).json()
    assert (state["status"], state["offset"], state["duplicate"]) == ("done", len(data), False)
    clip = Clip.objects.get(pk=state["clip"]["id"])
    job = Job.objects.get(pk=state["job_id"])
    assert (clip.name, clip.checksum, clip.created_by) == (VIDEO.name, hashlib.sha256(data).hexdigest(), manager)
    assert (job.kind, job.status, job.target) == (Job.Kind.INGEST, Job.Status.SUCCEEDED, clip)  # eager Celery here
    assert clip.status == Clip.Status.READY and clip.frames.count() > 0
    assert (media_root / clip.source.name).read_bytes() == data


def test_a_connection_dropped_mid_patch_resumes_from_the_servers_offset(live_server, proxy, project, manager):
    data = VIDEO.read_bytes()
    uploader = tus_client(proxy.url, manager).uploader(
        file_stream=io.BytesIO(data), chunk_size=CHUNK, metadata=video_metadata(project, data)
    )
    uploader.upload_chunk()
    assert uploader.offset == CHUNK

    proxy.cut_next("PATCH", after_body_bytes=100_000)  # the second chunk's body stops after 100 kB
    with pytest.raises(TusUploadFailed):
        uploader.upload_chunk()
    assert proxy.cuts_done == 1
    # The server keeps what arrived of the cut body: the offset moves past the first chunk, not back to it.
    deadline = time.monotonic() + 30
    while (offset := stored_offset(uploader.url, manager)) == CHUNK and time.monotonic() < deadline:
        time.sleep(0.1)
    assert CHUNK < offset <= CHUNK + 100_000

    # A new client (as after a restart) knows only the upload's URL: it asks the server where to go on.
    resumed = tus_client(proxy.url, manager).uploader(
        file_stream=io.BytesIO(data), chunk_size=CHUNK, url=uploader.url, metadata=video_metadata(project, data)
    )
    assert resumed.offset == offset
    resumed.upload()

    assert Upload.objects.get().status == Upload.Status.DONE
    clip = Clip.objects.get()
    assert clip.checksum == hashlib.sha256(data).hexdigest() and clip.status == Clip.Status.READY
    source = requests.get(f"{live_server.url}/api/clips/{clip.pk}/source/", headers=token_headers(manager), timeout=30)
    assert source.content == data


def test_a_cut_body_with_a_checksum_keeps_nothing_of_it(live_server, proxy, project, manager):
    data = VIDEO.read_bytes()
    uploader = tus_client(proxy.url, manager).uploader(
        file_stream=io.BytesIO(data), chunk_size=CHUNK, metadata=video_metadata(project, data), upload_checksum=True
    )
    uploader.upload_chunk()
    proxy.cut_next("PATCH", after_body_bytes=100_000)
    with pytest.raises(TusUploadFailed):
        uploader.upload_chunk()
    wait_until_no_request_writes(Upload.objects.get())  # the server has read the short body
    assert stored_offset(uploader.url, manager) == CHUNK

    uploader.retries, uploader.retry_delay = 2, 0
    uploader.upload()
    assert Clip.objects.get().checksum == hashlib.sha256(data).hexdigest()


def wait_until_no_request_writes(upload: Upload, timeout: float = 30.0) -> None:
    """Wait (bounded) until no request holds the upload's part: the one the proxy cut has finished."""
    deadline = time.monotonic() + timeout
    with open(upload_part_path(upload=upload), "rb") as part:
        while True:
            try:
                fcntl.flock(part.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                assert time.monotonic() < deadline, "a request still writes the upload"
                time.sleep(0.1)


def test_a_wrong_file_checksum_is_refused_and_nothing_is_ingested(live_server, project, manager, media_root):
    data = VIDEO.read_bytes()
    uploader = tus_client(live_server.url, manager).uploader(
        file_stream=io.BytesIO(data),
        chunk_size=CHUNK,
        metadata=video_metadata(project, data, sha256=hashlib.sha256(b"not this file").hexdigest()),
    )
    with pytest.raises(TusUploadFailed) as refused:
        uploader.upload()
    assert refused.value.status_code == 460
    assert b"not the " + hashlib.sha256(b"not this file").hexdigest().encode() in refused.value.response_content
    assert b"Nothing was stored." in refused.value.response_content
    assert not Clip.objects.exists() and not Job.objects.exists()
    assert Upload.objects.get().status == Upload.Status.FAILED
    assert not [p for p in media_root.rglob("*") if p.is_file()]


def test_too_large_unauthorized_and_wrong_offset_over_http(live_server, project, manager, make_member, settings):
    data = VIDEO.read_bytes()
    settings.AVS_UPLOAD_MAX_BYTES = len(data) - 1
    too_large = tus_client(live_server.url, manager).uploader(
        file_stream=io.BytesIO(data), metadata=video_metadata(project, data)
    )
    with pytest.raises(TusCommunicationError) as refused:
        too_large.upload()
    assert refused.value.status_code == 413
    assert b"uploads are limited to" in refused.value.response_content

    settings.AVS_UPLOAD_MAX_BYTES = 2 * 1024**3
    annotator = make_member(project, Role.ANNOTATOR)
    with pytest.raises(TusCommunicationError) as forbidden:
        tus_client(live_server.url, annotator).uploader(
            file_stream=io.BytesIO(data), metadata=video_metadata(project, data)
        ).upload()
    assert forbidden.value.status_code == 403
    anonymous = tus.TusClient(f"{live_server.url}/api/uploads/")
    with pytest.raises(TusCommunicationError) as unauthorized:
        anonymous.uploader(file_stream=io.BytesIO(data), metadata=video_metadata(project, data)).upload()
    assert unauthorized.value.status_code == 401

    uploader = tus_client(live_server.url, manager).uploader(
        file_stream=io.BytesIO(data), chunk_size=CHUNK, metadata=video_metadata(project, data)
    )
    uploader.upload_chunk()
    uploader.offset = 0  # a client that lost track of where it was
    with pytest.raises(TusUploadFailed) as conflict:
        uploader.upload_chunk()
    assert conflict.value.status_code == 409
    assert stored_offset(uploader.url, manager) == CHUNK
    assert not Clip.objects.exists()
