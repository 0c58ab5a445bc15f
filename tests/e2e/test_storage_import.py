"""Browser end-to-end test of "Add videos from storage" (headless Chromium, frontend/e2e/storage_import.mjs): media in
a bucket and raw videos in another, both on moto's S3 server on 127.0.0.1; the import and the ingests run eagerly in
the live server's thread."""

from __future__ import annotations

import pytest

from server.accounts.models import Role
from server.media.models import Clip
from tests.e2e.test_browser import node, run_spec  # noqa: F401 (fixture)
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.media_files import make_video
from tests.server.storage.conftest import media_bucket, s3_server  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PASSWORD = "e2e-pass-word"


def test_a_manager_imports_the_new_videos_of_a_bucket(node, media_bucket, live_server, settings, tmp_path):  # noqa: F811
    client = media_bucket.server.client()
    raw = f"{media_bucket.name}-raw"
    client.create_bucket(Bucket=raw)
    for key, seconds in (("team/a.mp4", 2.0), ("team/b.mp4", 3.0)):
        client.upload_file(
            str(make_video(tmp_path / key.replace("/", "-"), seconds=seconds, audio_rate=16000)), raw, key
        )
    settings.AVS_IMPORT_BUCKETS = [f"{raw}/team"]
    project = ProjectFactory()
    manager = UserFactory(username="storage-manager")
    manager.set_password(PASSWORD)
    manager.save()
    MembershipFactory(project=project, user=manager, role=Role.MANAGER)

    output = run_spec(
        node, "storage_import.mjs", live_server, USERNAME=manager.username, PASSWORD=PASSWORD, PROJECT_ID=project.pk
    )
    assert "PASS storage_import" in output
    clips = Clip.objects.filter(project=project).order_by("name")
    assert [(c.name, c.status, c.num_frames) for c in clips] == [("a.mp4", "ready", 2), ("b.mp4", "ready", 3)]
    assert all(c.source.name in media_bucket.keys("projects/") for c in clips)
