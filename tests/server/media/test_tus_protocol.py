"""Resumable uploads (tus 1.0.0) at the HTTP level, request by request: creation, offsets, checksums, limits, roles,
locking, termination and expiry. The same endpoints driven by a real tus client over real HTTP (dropped connections,
resume) are in test_tus_client.py."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import io
import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from server.accounts.models import Membership, Role
from server.jobs.models import Job
from server.media.models import Clip, Upload
from tests.factories import ProjectFactory, UserFactory
from tests.media_files import DEMO_SMALL

pytestmark = pytest.mark.django_db

TUS = {"HTTP_TUS_RESUMABLE": "1.0.0"}
OCTETS = "application/offset+octet-stream"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def metadata(project_id: int, data: bytes, filename: str = "street.mp4", **override: str) -> str:
    pairs = {"filename": filename, "project": str(project_id), "sha256": hashlib.sha256(data).hexdigest(), **override}
    return ",".join(f"{key} {b64(value)}" for key, value in pairs.items())


@pytest.fixture
def project(db):
    return ProjectFactory()


@pytest.fixture
def manager(project, make_member):
    return make_member(project, Role.MANAGER)


@pytest.fixture
def client(manager, client_for) -> APIClient:
    return client_for(manager)


@pytest.fixture
def video() -> bytes:
    return DEMO_SMALL.read_bytes()


def create(client: APIClient, project, data: bytes, **headers: str):
    meta = headers.pop("meta", None) or metadata(project.pk, data)
    return client.post(
        "/api/uploads/", **{**TUS, "HTTP_UPLOAD_LENGTH": str(len(data)), "HTTP_UPLOAD_METADATA": meta, **headers}
    )


def patch(client: APIClient, url: str, body: bytes, offset: int, **headers: str):
    return client.generic(
        "PATCH", url, body, content_type=OCTETS, **{**TUS, "HTTP_UPLOAD_OFFSET": str(offset), **headers}
    )


def head(client: APIClient, url: str, **headers: str):
    return client.head(url, **{**TUS, **headers})


def part_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.part")) if folder.exists() else []


@pytest.fixture
def upload_folder(settings) -> Path:
    return Path(settings.AVS_UPLOAD_DIR)


# --- discovery and creation ----------------------------------------------------------------------------------------


def test_options_advertise_the_protocol_and_the_size_limit(client, settings):
    settings.AVS_UPLOAD_MAX_BYTES = 123_456
    response = client.options("/api/uploads/")
    assert response.status_code == 204
    assert response["Tus-Version"] == "1.0.0"
    assert response["Tus-Resumable"] == "1.0.0"
    assert set(response["Tus-Extension"].split(",")) == {"creation", "termination", "checksum", "expiration"}
    assert response["Tus-Max-Size"] == "123456"
    assert response["Tus-Checksum-Algorithm"] == "sha1,sha256"
    assert int(response["AVS-Upload-Chunk-Size"]) == settings.AVS_UPLOAD_CHUNK_BYTES


def test_creation_answers_the_upload_url_and_an_empty_part(client, project, manager, video, upload_folder):
    response = create(client, project, video)
    assert response.status_code == 201, response.content
    assert response["Tus-Resumable"] == "1.0.0"
    upload = Upload.objects.get()
    assert response["Location"] == f"http://testserver/api/uploads/{upload.pk}/"
    assert response["Upload-Expires"].endswith("GMT")
    body = response.json()
    assert (body["status"], body["offset"], body["length"]) == ("receiving", 0, len(video))
    assert (body["filename"], body["project_id"], body["clip"], body["job_id"]) == (
        "street.mp4",
        project.pk,
        None,
        None,
    )
    assert (upload.created_by, upload.sha256) == (manager, hashlib.sha256(video).hexdigest())
    assert part_files(upload_folder) == [upload_folder / f"{upload.pk}.part"]

    state = head(client, response["Location"])
    assert state.status_code == 200 and state.content == b""
    assert (state["Upload-Offset"], state["Upload-Length"]) == ("0", str(len(video)))
    assert state["Upload-Metadata"] == metadata(project.pk, video)
    assert state["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({"HTTP_TUS_RESUMABLE": "0.2.2"}, 412, "This server speaks tus 1.0.0: send the header Tus-Resumable: 1.0.0"),
        ({"HTTP_UPLOAD_LENGTH": "lots"}, 400, "Upload-Length must be the file's size in bytes (a whole number)."),
        ({"HTTP_UPLOAD_DEFER_LENGTH": "1"}, 400, "Upload-Defer-Length is not supported"),
        ({"meta": "filename c3RyZWV0Lm1wNA=="}, 400, "Upload-Metadata must carry project, sha256"),
        ({"meta": "filename %%%"}, 400, "Upload-Metadata: the value of 'filename' is not base64-encoded UTF-8 text."),
        ({"meta": f"filename {b64('a')},project {b64('1')},sha256 {b64('abc')}"}, 400, "Upload-Metadata: sha256 must"),
        ({"meta": metadata(1, b"", filename="a\x00.mp4")}, 400, "Upload-Metadata: filename cannot contain NUL"),
        ({"HTTP_UPLOAD_LENGTH": "\u00b2"}, 400, "Upload-Length must be the file's size in bytes"),
    ],
)
def test_a_malformed_creation_is_refused_with_a_message(client, project, video, headers, status, message):
    response = create(client, project, video, **headers)
    assert response.status_code == status
    assert response.json()["message"].startswith(message)
    assert response["Tus-Resumable"] == "1.0.0"
    if status == 412:
        assert response["Tus-Version"] == "1.0.0"
    assert not Upload.objects.exists()


def test_a_file_above_the_upload_limit_is_refused_before_any_byte(client, project, settings, upload_folder):
    settings.AVS_UPLOAD_MAX_BYTES = 1000
    response = create(client, project, b"x" * 1001)
    assert response.status_code == 413
    assert response.json()["message"] == (
        "The file is too large: uploads are limited to 1000 bytes (AVS_UPLOAD_MAX_BYTES)."
    )
    assert not Upload.objects.exists() and part_files(upload_folder) == []


def test_an_empty_file_is_refused(client, project):
    response = create(client, project, b"")
    assert response.status_code == 400
    assert response.json()["message"] == "The file is empty."


def test_no_room_in_the_upload_folder_is_507(client, project, video, monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    response = create(client, project, video)
    assert response.status_code == 507
    assert "no room for this upload" in response.json()["message"]
    assert "AVS_UPLOAD_DIR" in response.json()["message"]


# --- who may upload ------------------------------------------------------------------------------------------------


def test_anonymous_gets_401_and_annotators_403_as_for_plain_uploads(project, make_member, client_for, video):
    anonymous = create(client_for(None), project, video)
    assert anonymous.status_code == 401
    for role in (Role.ANNOTATOR, Role.REVIEWER):
        refused = create(client_for(make_member(project, role)), project, video)
        assert refused.status_code == 403
        assert refused.json()["message"] == f"This needs one of the roles: manager; you are {role}."
    outsider = create(client_for(UserFactory()), project, video)
    assert outsider.status_code == 404
    assert not Upload.objects.exists()


def test_an_upload_is_its_creators_alone(client, project, make_member, client_for, video):
    url = create(client, project, video)["Location"]
    other_manager = client_for(make_member(project, Role.MANAGER))
    assert head(other_manager, url).status_code == 404
    assert patch(other_manager, url, video[:10], 0).status_code == 404
    assert other_manager.delete(url, **TUS).status_code == 404
    assert other_manager.get(url).json()["message"] == "Upload not found."
    assert client_for(None).get(url).status_code == 401


def test_a_manager_demoted_mid_upload_cannot_continue(client, project, manager, video):
    url = create(client, project, video)["Location"]
    assert patch(client, url, video[:1000], 0).status_code == 204
    Membership.objects.filter(user=manager, project=project).update(role=Role.ANNOTATOR)
    response = patch(client, url, video[1000:2000], 1000)
    assert response.status_code == 403
    assert Upload.objects.get().offset == 1000


# --- PATCH ---------------------------------------------------------------------------------------------------------


def test_chunks_make_the_clip_and_its_ingest_job_like_a_plain_upload(
    client, project, manager, video, upload_folder, media_root, django_capture_on_commit_callbacks
):
    url = create(client, project, video)["Location"]
    offset = 0
    for size in (100_000, 100_000, 50_000):
        response = patch(client, url, video[offset : offset + size], offset)
        assert response.status_code == 204, response.content
        offset += size
        assert response["Upload-Offset"] == str(offset)
        assert head(client, url)["Upload-Offset"] == str(offset)
    with django_capture_on_commit_callbacks(execute=True):  # the ingest task (eager) is queued on commit
        last = patch(client, url, video[offset:], offset)
    assert last.status_code == 204, last.content
    assert last["Upload-Offset"] == str(len(video))

    state = client.get(url).json()
    assert (state["status"], state["offset"], state["duplicate"], state["error"]) == ("done", len(video), False, "")
    clip = Clip.objects.get()
    job = Job.objects.get()
    assert (state["clip"]["id"], state["job_id"]) == (clip.pk, job.pk)
    assert (clip.name, clip.checksum, clip.size_bytes) == ("street.mp4", hashlib.sha256(video).hexdigest(), len(video))
    assert (clip.created_by, job.kind, job.created_by) == (manager, Job.Kind.INGEST, manager)
    assert job.target == clip and job.status == Job.Status.SUCCEEDED
    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY and clip.frames.count() == 5
    assert (media_root / clip.source.name).read_bytes() == video
    assert part_files(upload_folder) == []
    assert head(client, url)["Upload-Offset"] == str(len(video))  # a resuming client learns it is done


def test_a_wrong_offset_is_409_with_the_stored_offset(client, project, video):
    url = create(client, project, video)["Location"]
    patch(client, url, video[:5000], 0)
    for sent in (0, 4000, 6000):
        response = patch(client, url, video[sent : sent + 100], sent)
        assert response.status_code == 409
        assert response["Upload-Offset"] == "5000"
        assert response.json()["message"] == (
            f"Upload-Offset {sent} does not match the 5000 bytes stored: continue from offset 5000 (HEAD this "
            "upload's URL to read it)."
        )
    assert Upload.objects.get().offset == 5000


def test_a_body_past_the_files_length_is_413(client, project, video):
    url = create(client, project, video)["Location"]
    response = patch(client, url, video + b"extra", 0)
    assert response.status_code == 413
    assert "goes past the file's length" in response.json()["message"]
    assert Upload.objects.get().offset == 0


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({"HTTP_UPLOAD_OFFSET": "-1"}, 400, "Upload-Offset must be the byte offset"),
        ({"HTTP_TUS_RESUMABLE": ""}, 412, "This server speaks tus 1.0.0"),
        ({"HTTP_UPLOAD_CHECKSUM": "md4 AAAA"}, 400, "Upload-Checksum: the algorithm 'md4' is not supported"),
        ({"HTTP_UPLOAD_CHECKSUM": "sha1 short"}, 400, "Upload-Checksum: the sha1 digest must be base64"),
    ],
)
def test_bad_patch_headers_are_refused(client, project, video, headers, status, message):
    url = create(client, project, video)["Location"]
    response = patch(client, url, video[:100], 0, **headers)
    assert response.status_code == status
    assert response.json()["message"].startswith(message)


def test_a_patch_of_another_media_type_is_415(client, project, video):
    url = create(client, project, video)["Location"]
    response = client.generic("PATCH", url, b"{}", content_type="application/json", **TUS, HTTP_UPLOAD_OFFSET="0")
    assert response.status_code == 415
    assert response.json()["message"] == 'Unsupported media type "application/json" in request.'


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
def test_a_body_checksum_is_verified(client, project, video, algorithm):
    url = create(client, project, video)["Location"]
    body = video[:20_000]
    good = base64.b64encode(hashlib.new(algorithm, body).digest()).decode()
    bad = base64.b64encode(hashlib.new(algorithm, body + b"!").digest()).decode()

    refused = patch(client, url, body, 0, HTTP_UPLOAD_CHECKSUM=f"{algorithm} {bad}")
    assert refused.status_code == 460
    assert refused.reason_phrase == "Checksum Mismatch"
    assert refused.json()["message"] == (
        f"Upload-Checksum: the body's {algorithm} does not match the one sent; nothing of it was kept. "
        "Send it again from offset 0."
    )
    assert head(client, url)["Upload-Offset"] == "0"
    accepted = patch(client, url, body, 0, HTTP_UPLOAD_CHECKSUM=f"{algorithm} {good}")
    assert accepted.status_code == 204 and accepted["Upload-Offset"] == "20000"


def test_a_wrong_file_checksum_fails_the_upload_and_stores_nothing(client, project, video, upload_folder, media_root):
    meta = metadata(project.pk, video, sha256=hashlib.sha256(b"another file").hexdigest())
    url = create(client, project, video, meta=meta)["Location"]
    response = patch(client, url, video, 0)
    assert response.status_code == 460
    message = response.json()["message"]
    assert message == (
        f"The file received has SHA-256 {hashlib.sha256(video).hexdigest()}, not the "
        f"{hashlib.sha256(b'another file').hexdigest()} declared when the upload started: it changed or was damaged "
        "on the way. Nothing was stored."
    )
    assert not Clip.objects.exists() and not Job.objects.exists()
    assert part_files(upload_folder) == [] and not any(media_root.rglob("*.*"))
    state = client.get(url).json()
    assert (state["status"], state["error"]) == ("failed", message)
    assert head(client, url).status_code == 410
    gone = patch(client, url, video, 0)
    assert gone.status_code == 410
    assert gone.json()["message"] == f"This upload failed: {message} Start the upload again."


def test_a_file_that_is_not_a_video_fails_with_the_ingest_message(client, project, upload_folder):
    data = os.urandom(30_000)
    url = create(client, project, data, meta=metadata(project.pk, data, filename="notes.mp4"))["Location"]
    response = patch(client, url, data, 0)
    assert response.status_code == 400
    assert response.json()["message"].startswith("notes.mp4 is not a video file PyAV can read.")
    assert client.get(url).json()["status"] == "failed"
    assert not Clip.objects.exists() and part_files(upload_folder) == []


def test_a_file_the_project_already_has_is_done_as_a_duplicate(client, project, video, upload_folder):
    first = create(client, project, video)["Location"]
    patch(client, first, video, 0)
    second = create(client, project, video, meta=metadata(project.pk, video, filename="copy.mp4"))["Location"]
    assert patch(client, second, video, 0).status_code == 204
    state = client.get(second).json()
    assert (state["status"], state["duplicate"], state["job_id"]) == ("done", True, None)
    assert state["clip"]["name"] == "street.mp4"
    assert Clip.objects.count() == 1 and Job.objects.count() == 1
    assert part_files(upload_folder) == []


def test_bytes_written_past_the_stored_offset_by_a_dead_request_are_dropped(client, project, video, upload_folder):
    """A server that died mid-body (before storing the offset) left bytes in the part: they do not count."""
    url = create(client, project, video)["Location"]
    patch(client, url, video[:10_000], 0)
    upload = Upload.objects.get()
    with open(upload_folder / f"{upload.pk}.part", "ab") as part:
        part.write(b"garbage from a request that died")
    assert head(client, url)["Upload-Offset"] == "10000"
    assert patch(client, url, video[10_000:], 10_000).status_code == 204
    assert client.get(url).json()["status"] == "done"
    assert Clip.objects.get().checksum == hashlib.sha256(video).hexdigest()


def test_a_lost_part_starts_the_upload_again(client, project, video, upload_folder):
    url = create(client, project, video)["Location"]
    patch(client, url, video[:10_000], 0)
    (upload_folder / f"{Upload.objects.get().pk}.part").unlink()
    assert head(client, url)["Upload-Offset"] == "0"
    response = patch(client, url, video[10_000:20_000], 10_000)
    assert (response.status_code, response["Upload-Offset"]) == (409, "0")
    assert patch(client, url, video, 0).status_code == 204
    assert client.get(url).json()["status"] == "done"


def test_an_upload_being_written_answers_423(client, project, video, upload_folder):
    url = create(client, project, video)["Location"]
    with open(upload_folder / f"{Upload.objects.get().pk}.part", "r+b") as part:
        fcntl.flock(part.fileno(), fcntl.LOCK_EX)  # as a request writing it holds it
        response = patch(client, url, video[:100], 0)
        assert response.status_code == 423
        assert response.json()["message"] == "Another request is writing this upload right now; retry in a moment."
        assert client.delete(url, **TUS).status_code == 423
    assert patch(client, url, video[:100], 0).status_code == 204


# --- termination and expiry ----------------------------------------------------------------------------------------


def test_termination_removes_the_upload_and_its_bytes(client, project, video, upload_folder):
    url = create(client, project, video)["Location"]
    patch(client, url, video[:1000], 0)
    response = client.delete(url, **TUS)
    assert response.status_code == 204 and response["Tus-Resumable"] == "1.0.0"
    assert not Upload.objects.exists() and part_files(upload_folder) == []
    assert head(client, url).status_code == 404
    assert patch(client, url, video[1000:2000], 1000).status_code == 404


def test_stale_uploads_expire_and_their_bytes_are_deleted(client, project, video, upload_folder, settings):
    settings.AVS_UPLOAD_EXPIRY_SECONDS = 3600
    stale_url = create(client, project, video)["Location"]
    patch(client, stale_url, video[:1000], 0)
    fresh_url = create(client, project, video, meta=metadata(project.pk, video, filename="b.mp4"))["Location"]
    stale = Upload.objects.get(filename="street.mp4")
    Upload.objects.filter(pk=stale.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    stray = upload_folder / "0b8a4c3e-0000-4000-8000-000000000000.part"  # no upload receives into it
    stray.write_bytes(b"left over")
    old = timezone.now().timestamp() - 7200
    os.utime(stray, (old, old))

    out = io.StringIO()
    call_command("uploads_expire", stdout=out)
    assert out.getvalue().strip() == "1 upload expired."
    assert Upload.objects.get(pk=stale.pk).status == "expired"
    assert part_files(upload_folder) == [upload_folder / f"{Upload.objects.get(filename='b.mp4').pk}.part"]
    assert head(client, stale_url).status_code == 410
    gone = patch(client, stale_url, video[1000:2000], 1000)
    assert gone.status_code == 410
    assert gone.json()["message"].startswith("This upload expired: it received nothing for too long (setting ")
    assert head(client, fresh_url)["Upload-Offset"] == "0"


def test_an_upload_past_its_expiry_is_gone_without_waiting_for_the_command(client, project, video, upload_folder):
    url = create(client, project, video)["Location"]
    Upload.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert patch(client, url, video[:100], 0).status_code == 410
    assert part_files(upload_folder) == []


def test_each_write_pushes_the_expiry_back(client, project, video, settings):
    settings.AVS_UPLOAD_EXPIRY_SECONDS = 600
    url = create(client, project, video)["Location"]
    Upload.objects.update(expires_at=timezone.now() + timedelta(seconds=5))
    patch(client, url, video[:100], 0)
    assert Upload.objects.get().expires_at > timezone.now() + timedelta(seconds=590)


def test_a_new_upload_expires_stale_ones(client, project, video, upload_folder):
    create(client, project, video)
    Upload.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    create(client, project, video, meta=metadata(project.pk, video, filename="b.mp4"))
    assert list(Upload.objects.order_by("created_at").values_list("status", flat=True)) == ["expired", "receiving"]
    assert len(part_files(upload_folder)) == 1


# --- bounded memory, checkpoints -----------------------------------------------------------------------------------


class _ServerKilled(BaseException):
    """The web process dies in the middle of a body (nothing after it runs)."""


def test_a_long_body_is_read_in_bounded_pieces_and_its_offset_checkpointed(
    client, project, manager, monkeypatch, upload_folder
):
    from server.media import resumable

    monkeypatch.setattr(resumable, "CHECKPOINT_BYTES", 1024 * 1024)
    size = 8 * 1024 * 1024
    url = create(client, project, b"\0" * size)["Location"]
    upload = Upload.objects.get()
    asked: list[int] = []

    def read(n: int) -> bytes:  # a body of 8 MiB whose connection (and server) dies after 3.5 MiB
        asked.append(n)
        if sum(min(a, resumable.READ_BYTES) for a in asked) > 3.5 * 1024 * 1024:
            raise _ServerKilled()
        return b"\0" * n

    with pytest.raises(_ServerKilled):
        resumable.upload_append(upload=upload, offset=0, read=read, content_length=size)
    assert max(asked) <= resumable.READ_BYTES  # never the whole body at once
    assert Upload.objects.get().offset == 3 * 1024 * 1024  # the last checkpoint before the death
    assert head(client, url)["Upload-Offset"] == str(3 * 1024 * 1024)
    rest = patch(client, url, b"\0" * (size - 3 * 1024 * 1024), 3 * 1024 * 1024)
    # The whole file arrived intact (its SHA-256 matched); only then is it found not to be a video.
    assert rest.status_code == 400
    assert rest.json()["message"].startswith("street.mp4 is not a video file PyAV can read.")
