"""Frames, audio and source files stream to members after the membership check."""

from __future__ import annotations

import io

from PIL import Image

from server.accounts.models import Role
from server.media.models import Clip
from tests.factories import ClipFactory, ProjectFactory
from tests.server.accounts.world import clip_with_media, wav_bytes


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_frame_image_is_the_stored_jpeg(db, client_for, make_member):
    project = ProjectFactory()
    clip = clip_with_media(project=project)
    frame = clip.frames.get()
    response = client_for(make_member(project, Role.REVIEWER)).get(f"/api/frames/{frame.pk}/image/")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert "private" in response["Cache-Control"]
    image = Image.open(io.BytesIO(_body(response)))
    assert (image.format, image.size) == ("JPEG", (64, 48))


def test_frame_image_is_served_whatever_image_types_the_browser_accepts(db, client_for, make_member):
    project = ProjectFactory()
    frame = clip_with_media(project=project).frames.get()
    client = client_for(make_member(project))
    ok = client.get(f"/api/frames/{frame.pk}/image/", HTTP_ACCEPT="image/avif,image/webp,image/*")
    assert ok.status_code == 200
    # and errors still come back as JSON in the usual shape
    missing = client.get("/api/frames/987654/image/", HTTP_ACCEPT="image/jpeg")
    assert missing.status_code == 404
    assert missing.json()["message"] == "Frame not found."


def test_audio_is_the_stored_wav(db, client_for, make_member):
    project = ProjectFactory()
    clip = clip_with_media(project=project)
    response = client_for(make_member(project)).get(f"/api/clips/{clip.pk}/audio/")
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav"
    assert _body(response) == wav_bytes()


def test_source_downloads_under_the_clip_name(db, client_for, make_member):
    project = ProjectFactory()
    clip = clip_with_media(project=project, name="street music.mp4")
    response = client_for(make_member(project)).get(f"/api/clips/{clip.pk}/source/")
    assert response.status_code == 200
    assert response["Content-Type"] == "video/mp4"
    assert response["Content-Disposition"].startswith("attachment;")
    assert "street music.mp4" in response["Content-Disposition"]
    assert _body(response) == b"not really a video"


def test_clip_without_audio_or_source_answers_404_with_a_reason(db, client_for, make_member):
    project = ProjectFactory()
    clip = ClipFactory(project=project, has_audio=False, status=Clip.Status.FAILED)
    client = client_for(make_member(project))
    audio = client.get(f"/api/clips/{clip.pk}/audio/")
    source = client.get(f"/api/clips/{clip.pk}/source/")
    assert (audio.status_code, audio.json()["message"]) == (404, "Audio not found.")
    assert (source.status_code, source.json()["message"]) == (404, "This clip has no source file.")


def test_file_missing_from_storage_is_a_readable_404(db, client_for, make_member, media_root):
    project = ProjectFactory()
    frame = clip_with_media(project=project).frames.get()
    (media_root / frame.image.name).unlink()
    response = client_for(make_member(project)).get(f"/api/frames/{frame.pk}/image/")
    assert response.status_code == 404
    assert response.json()["message"] == "The file is missing from media storage."
