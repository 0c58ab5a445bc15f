"""Browser end-to-end test of the resumable (tus) upload: a manager uploads a real clip from the web app in headless
Chromium against the live server, with one PATCH dropped and a page reload in the middle of another (the script
frontend/e2e/upload_resume.mjs; harness and fixtures of test_browser.py)."""

from __future__ import annotations

import pytest

from server.jobs.models import Job
from server.media.models import Clip, Upload
from tests.e2e.test_browser import PASSWORD, demo, node, run_spec  # noqa: F401 (fixtures)
from tests.media_files import DEMO_DIR

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

VIDEO = DEMO_DIR / "2IoF4ClnbPk.mp4"  # 0.9 MB: four chunks of 256 KiB
CHUNK = 256 * 1024


def test_an_upload_survives_a_dropped_patch_and_a_reload(node, live_server, demo, settings):  # noqa: F811
    settings.AVS_UPLOAD_CHUNK_BYTES = CHUNK
    output = run_spec(
        node,
        "upload_resume.mjs",
        live_server,
        USERNAME="manager",
        PASSWORD=PASSWORD,
        PROJECT_ID=demo.project.pk,
        VIDEO=VIDEO,
        CHUNK=CHUNK,
    )
    assert "PASS upload_resume" in output
    upload = Upload.objects.get()
    clip = Clip.objects.get(name=VIDEO.name)
    assert (upload.status, upload.clip, upload.created_by) == (Upload.Status.DONE, clip, demo.users["manager"])
    assert clip.status == Clip.Status.READY and clip.size_bytes == VIDEO.stat().st_size
    assert upload.job.kind == Job.Kind.INGEST and upload.job.status == Job.Status.SUCCEEDED
