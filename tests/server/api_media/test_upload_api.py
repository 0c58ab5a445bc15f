"""Uploading videos: the real ingest service (eager Celery), duplicates, size limits, bad files."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.middleware.csrf import _get_new_csrf_string
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from PIL import Image
from rest_framework.test import APIClient

from server.accounts.models import Role
from server.jobs.models import Job
from server.media.models import Clip, Frame
from tests.factories import MembershipFactory, ProjectFactory
from tests.media_files import DEMO_DIR

DEMO = DEMO_DIR / "p04SYXuBSQ.mp4"


@pytest.fixture
def project(db):
    return ProjectFactory()


@pytest.fixture
def manager(project, make_member):
    return make_member(project, Role.MANAGER)


@pytest.fixture
def upload_tmp(tmp_path, settings):
    """Uploads above 10 kB go to temporary files in a folder of their own."""
    folder = tmp_path / "upload-tmp"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 10_000
    return folder


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def _upload(client: APIClient, project, content: bytes | Path, name: str = "clip.mp4"):
    data = content.read_bytes() if isinstance(content, Path) else content
    return client.post(f"/api/projects/{project.pk}/clips/", {"file": _named(data, name)}, format="multipart")


def _named(data: bytes, name: str) -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def _nothing_stored(media_root: Path) -> None:
    assert not Clip.objects.exists()
    assert not Job.objects.exists()
    assert _files(media_root) == []


def test_upload_creates_the_clip_and_ingest_makes_frames(
    project, manager, client_for, django_capture_on_commit_callbacks
):
    client = client_for(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(client, project, DEMO, name="street.mp4")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["duplicate"] is False
    assert data["clip"]["name"] == "street.mp4"
    assert data["clip"]["size_bytes"] == DEMO.stat().st_size
    job = Job.objects.get(pk=data["job_id"])
    assert (job.kind, job.status) == (Job.Kind.INGEST, Job.Status.SUCCEEDED)

    detail = client.get(f"/api/clips/{data['clip']['id']}/").json()
    assert detail["status"] == "ready"
    assert detail["has_audio"] is True
    assert detail["num_frames"] == len(detail["frames"]) > 0
    assert [f["index"] for f in detail["frames"]] == list(range(len(detail["frames"])))
    assert detail["audio"]["sample_rate"] == project.audio_sample_rate
    image = client.get(detail["frames"][0]["image_url"])
    assert Image.open(io.BytesIO(b"".join(image.streaming_content))).format == "JPEG"
    audio = client.get(detail["audio"]["url"])
    assert b"".join(audio.streaming_content)[:4] == b"RIFF"
    source = client.get(detail["source_url"])
    assert b"".join(source.streaming_content) == DEMO.read_bytes()


def test_same_file_again_returns_the_existing_clip(project, manager, client_for):
    client = client_for(manager)
    first = _upload(client, project, DEMO, name="one.mp4")
    again = _upload(client, project, DEMO, name="renamed copy.mp4")
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["job_id"] is None
    assert again.json()["clip"]["id"] == first.json()["clip"]["id"]
    assert again.json()["clip"]["name"] == "one.mp4"
    assert Clip.objects.count() == 1
    assert Job.objects.count() == 1


def test_same_file_in_another_project_is_a_new_clip(project, manager, client_for):
    other = ProjectFactory()
    MembershipFactory(project=other, user=manager, role=Role.MANAGER)
    client = client_for(manager)
    assert _upload(client, project, DEMO).status_code == 201
    assert _upload(client, other, DEMO).status_code == 201
    assert Clip.objects.count() == 2


def test_name_field_overrides_the_file_name(project, manager, client_for):
    response = client_for(manager).post(
        f"/api/projects/{project.pk}/clips/",
        {"file": _named(DEMO.read_bytes(), "upload.bin"), "name": "Concert, take 2.mp4"},
        format="multipart",
    )
    assert response.status_code == 201
    assert response.json()["clip"]["name"] == "Concert, take 2.mp4"


def test_empty_file_is_refused_with_a_message(project, manager, client_for, media_root):
    response = _upload(client_for(manager), project, b"")
    assert response.status_code == 400
    assert response.json()["message"] == "file: The submitted file is empty."
    _nothing_stored(media_root)


def test_not_a_video_is_refused_and_nothing_is_stored(project, manager, client_for, media_root, upload_tmp):
    response = _upload(client_for(manager), project, os.urandom(50_000), name="notes.mp4")
    assert response.status_code == 400
    assert response.json()["message"].startswith("notes.mp4 is not a video file")
    _nothing_stored(media_root)
    assert _files(upload_tmp) == []


def test_missing_file_field_names_the_field(project, manager, client_for):
    response = client_for(manager).post(f"/api/projects/{project.pk}/clips/", {}, format="multipart")
    assert response.status_code == 400
    assert response.json()["message"] == "file: No file was submitted."


# --- size limit ----------------------------------------------------------------------------------

LIMIT = 100_000
TOO_LARGE = "The file is too large: uploads are limited to 97.7 KiB (AVS_UPLOAD_MAX_BYTES)."


def test_declared_size_over_the_limit_is_refused_before_the_body_is_read(project, manager, client_for, settings):
    """Content-Length claims 1 TB while the body is tiny: had the view read it, the test client
    would fail ("Cannot read more than the available bytes")."""
    settings.AVS_UPLOAD_MAX_BYTES = LIMIT
    body = encode_multipart(BOUNDARY, {"file": _named(b"x" * 10, "big.mp4")})
    response = client_for(manager).generic(
        "POST", f"/api/projects/{project.pk}/clips/", body, content_type=MULTIPART_CONTENT, CONTENT_LENGTH=str(10**12)
    )
    assert response.status_code == 413
    assert response.json() == {"message": TOO_LARGE, "extra": {"max_bytes": LIMIT, "received_bytes": 10**12}}
    assert not Clip.objects.exists()


def test_upload_over_the_limit_is_refused_and_leaves_nothing(
    project, manager, client_for, settings, media_root, upload_tmp
):
    settings.AVS_UPLOAD_MAX_BYTES = LIMIT
    response = _upload(client_for(manager), project, os.urandom(5 * LIMIT))
    assert response.status_code == 413
    assert response.json()["message"] == TOO_LARGE
    _nothing_stored(media_root)
    assert _files(upload_tmp) == []


def test_file_over_the_limit_is_stopped_while_streaming_and_its_temp_file_removed(
    project, manager, client_for, settings, media_root, upload_tmp
):
    """The body fits the Content-Length allowance for the multipart envelope, but the file itself
    is over the limit: the upload handler stops it mid-stream."""
    settings.AVS_UPLOAD_MAX_BYTES = LIMIT
    response = _upload(client_for(manager), project, os.urandom(LIMIT + 20_000))
    assert response.status_code == 413
    assert response.json() == {"message": TOO_LARGE, "extra": {"max_bytes": LIMIT}}
    _nothing_stored(media_root)
    assert _files(upload_tmp) == []


def _browser_client(user) -> tuple[APIClient, str]:
    """A session-signed-in client with a CSRF cookie, as the browser app has."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    token = _get_new_csrf_string()
    client.cookies[settings.CSRF_COOKIE_NAME] = token
    return client, token


def test_browser_upload_with_session_and_csrf_token(project, manager):
    client, token = _browser_client(manager)
    with DEMO.open("rb") as video:
        response = client.post(
            f"/api/projects/{project.pk}/clips/", {"file": video}, format="multipart", HTTP_X_CSRFTOKEN=token
        )
    assert response.status_code == 201
    without_token = _upload(client, project, DEMO)
    assert without_token.status_code == 403
    assert "CSRF" in without_token.json()["message"]


def test_session_signed_in_upload_over_the_limit_is_also_stopped(project, manager, settings, media_root, upload_tmp):
    """With session auth, the CSRF check parses the body during authentication: the limit holds there too."""
    settings.AVS_UPLOAD_MAX_BYTES = LIMIT
    client, token = _browser_client(manager)
    response = client.post(
        f"/api/projects/{project.pk}/clips/",
        {"file": _named(os.urandom(LIMIT + 20_000), "big.mp4")},
        format="multipart",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 413
    assert response.json()["message"] == TOO_LARGE
    _nothing_stored(media_root)
    assert _files(upload_tmp) == []


def test_file_at_the_limit_is_accepted(project, manager, client_for, settings):
    settings.AVS_UPLOAD_MAX_BYTES = DEMO.stat().st_size
    assert _upload(client_for(manager), project, DEMO).status_code == 201


def test_large_uploads_reach_the_service_as_a_temporary_file_not_in_memory(
    project, manager, client_for, upload_tmp, monkeypatch
):
    seen = {}
    from server.media import views

    real = views.clip_create_from_file

    def spy(**kwargs):
        seen["file"] = kwargs["file"]
        seen["in_tmp_dir"] = Path(kwargs["file"].temporary_file_path()).parent == upload_tmp
        return real(**kwargs)

    monkeypatch.setattr(views, "clip_create_from_file", spy)
    assert _upload(client_for(manager), project, DEMO).status_code == 201
    assert isinstance(seen["file"], TemporaryUploadedFile)
    assert seen["in_tmp_dir"]
    assert _files(upload_tmp) == []  # moved into storage, nothing left behind
    assert Frame.objects.count() == 0  # ingest waits for the commit
