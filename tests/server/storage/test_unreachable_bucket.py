"""With media in a bucket the web server cannot reach, uploads and downloads answer 503 with a sentence naming the
settings to check, and nothing is recorded."""

from __future__ import annotations

import pytest

from server.accounts.models import Role
from server.config.settings.base import s3_options
from server.media.models import Clip
from tests.factories import FrameFactory
from tests.media_files import make_video

pytestmark = pytest.mark.django_db

DEAD_ENDPOINT = "http://127.0.0.1:9"  # the discard port: nothing listens


@pytest.fixture
def frame(media_bucket, project):
    """A frame whose image is in the bucket."""
    return FrameFactory(clip__project=project)


@pytest.fixture
def bucket_down(media_bucket, settings):
    """The media bucket's endpoint now answers nothing (one attempt per request)."""
    options = s3_options(
        AVS_S3_BUCKET=media_bucket.name,
        AVS_S3_ENDPOINT_URL=DEAD_ENDPOINT,
        AVS_S3_ADDRESSING_STYLE="path",
        AVS_S3_ACCESS_KEY_ID="k",
        AVS_S3_SECRET_ACCESS_KEY="s",
        AVS_S3_REGION="us-east-1",
        AVS_S3_MAX_ATTEMPTS=1,
    )
    settings.STORAGES = {**settings.STORAGES, "default": {**settings.STORAGES["default"], "OPTIONS": options}}


def test_an_upload_to_an_unreachable_bucket_is_a_503_and_stores_nothing(
    project, make_member, client_for, bucket_down, tmp_path
):
    manager = client_for(make_member(project, Role.MANAGER))
    video = make_video(tmp_path / "clip.mp4", seconds=1.0)
    with open(video, "rb") as handle:
        response = manager.post(f"/api/projects/{project.pk}/clips/", {"file": handle}, format="multipart")
    assert response.status_code == 503
    message = response.json()["message"]
    assert message.startswith("The file could not be stored. The media storage could not be reached")
    assert "AVS_S3_ENDPOINT_URL" in message
    assert not Clip.objects.filter(project=project).exists()


@pytest.mark.parametrize("delivery", ["stream", "redirect"])
def test_a_frame_from_an_unreachable_bucket_is_a_503_after_the_membership_check(
    frame, project, make_member, client_for, actor, bucket_down, settings, delivery
):
    settings.AVS_MEDIA_DELIVERY = delivery
    outsider = client_for(actor(project, "outsider"))
    assert outsider.get(f"/api/frames/{frame.pk}/image/").status_code == 404
    member = client_for(make_member(project, Role.ANNOTATOR))
    response = member.get(f"/api/frames/{frame.pk}/image/")
    assert response.status_code == 503
    assert "The media storage could not be reached" in response.json()["message"]


@pytest.mark.parametrize("delivery", ["stream", "redirect"])
def test_a_frame_missing_from_the_bucket_is_a_404(
    frame, project, make_member, client_for, media_bucket, settings, delivery
):
    settings.AVS_MEDIA_DELIVERY = delivery
    media_bucket.client.delete_object(Bucket=media_bucket.name, Key=frame.image.name)
    response = client_for(make_member(project, Role.ANNOTATOR)).get(f"/api/frames/{frame.pk}/image/")
    assert response.status_code == 404
    assert response.json()["message"] == "The file is missing from media storage."
