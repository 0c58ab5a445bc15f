"""Media in an S3-compatible bucket (moto_server on 127.0.0.1), with no filesystem shared between the web server (this
test process, serving HTTP through pytest-django's live server) and a real Celery worker (its own empty media folder):
upload → ingest (the worker reads the source from the bucket, writes frames and audio there) → pre-annotation (the
worker reads stored frames and audio from the bucket) → SAM click → export (the zip written to the bucket) → download
(permission first, then streamed, or a presigned redirect). And a bucket that becomes unreachable mid-ingest: a
readable failed job, nothing half-written kept, and a retry that succeeds."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
import requests
from rest_framework.authtoken.models import Token

from server.accounts.models import Role
from server.annotations.models import Proposal
from server.datasets.models import Export
from server.jobs.models import Job
from server.media.models import AudioTrack, Clip, Frame
from tests.factories import UserFactory
from tests.s3_server import CuttableProxy
from tests.server.storage.conftest import local_files, wait_for_job

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FRAMES = 5  # the synthetic clip: 5 s at the project's 1 fps


@pytest.fixture(scope="module")
def synth_video(tmp_path_factory):
    """A synthetic 224×224, 5 s mp4 with sound (h264 + AAC)."""
    from ml_backend.media.synth import generate_dataset

    out = tmp_path_factory.mktemp("synth")
    dataset = generate_dataset(out, clips=1, seed=3, layout="s4", frames=FRAMES, size=224)
    return next(iter(dataset.videos.values()))


def api(live_server, user):
    session = requests.Session()
    session.headers["Authorization"] = f"Token {Token.objects.create(user=user).key}"

    def call(method: str, path: str, **kwargs) -> requests.Response:
        return session.request(method, f"{live_server.url}{path}", timeout=120, allow_redirects=False, **kwargs)

    return call


def clip_keys(bucket, clip: Clip) -> list[str]:
    return bucket.keys(f"projects/{clip.project_id}/clips/{clip.pk}/")


def test_the_whole_path_runs_on_a_bucket_with_no_shared_filesystem(
    live_server,
    media_bucket,
    start_worker,
    project,
    make_member,
    tiny_model_config,
    sam_configured,
    settings,
    synth_video,
    media_root,
):
    project.model_config = str(tiny_model_config)
    project.save(update_fields=["model_config"])
    manager = make_member(project, Role.MANAGER)
    call = api(live_server, manager)
    worker = start_worker("s3worker", queues=("ingest", "inference"))

    # Upload: the source goes to the bucket; the worker ingests it from there.
    with open(synth_video, "rb") as handle:
        response = call("POST", f"/api/projects/{project.pk}/clips/", files={"file": ("synth.mp4", handle)})
    assert response.status_code == 201, response.text
    clip = Clip.objects.get(pk=response.json()["clip"]["id"])
    assert clip.source.name in media_bucket.keys("projects/")
    job = wait_for_job(response.json()["job_id"], worker=worker)
    assert job.status == Job.Status.SUCCEEDED, job.error
    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY and clip.num_frames == FRAMES and clip.has_audio
    folder = f"projects/{project.pk}/clips/{clip.pk}"
    assert clip_keys(media_bucket, clip) == [f"{folder}/audio.wav"] + [
        f"{folder}/frames/{i:05d}.jpg" for i in range(FRAMES)
    ]
    frames = list(Frame.objects.filter(clip=clip).order_by("index"))
    assert [f.image.name for f in frames] == [f"{folder}/frames/{i:05d}.jpg" for i in range(FRAMES)]
    assert (frames[0].width, frames[0].height) == (224, 224)

    # Frames and audio are streamed to members from the bucket, after the membership check.
    image = call("GET", f"/api/frames/{frames[0].pk}/image/")
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/jpeg"
    assert image.content == media_bucket.read(frames[0].image.name)
    audio = call("GET", f"/api/clips/{clip.pk}/audio/")
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
    assert int(audio.headers["Content-Length"]) == len(audio.content) == len(media_bucket.read(f"{folder}/audio.wav"))
    outsider = api(live_server, UserFactory())
    assert outsider("GET", f"/api/frames/{frames[0].pk}/image/").status_code == 404

    # Pre-annotation: the worker reads the stored frames and audio from the bucket and writes the proposal's records.
    response = call("POST", f"/api/projects/{project.pk}/preannotate/", json={})
    assert response.status_code == 202, response.text
    job = wait_for_job(response.json()["id"], worker=worker, timeout=300)
    assert job.status == Job.Status.SUCCEEDED, job.error
    (proposal,) = Proposal.objects.filter(clip=clip)
    assert {entry["frame_index"] for entry in proposal.frames} == set(range(FRAMES))
    records = media_bucket.keys(f"{folder}/proposals/")
    assert sum(key.endswith(".png") for key in records) == FRAMES, records
    probability = call("GET", f"/api/proposals/{proposal.pk}/frames/0/probability-map/")
    assert probability.status_code == 200 and probability.content[:8] == b"\x89PNG\r\n\x1a\n"

    # A SAM click in the web process reads the frame from the bucket.
    click = call("POST", f"/api/frames/{frames[1].pk}/sam/", json={"points": [{"x": 112, "y": 112}]})
    assert click.status_code == 200, click.text
    mask = click.json()["mask"]
    assert mask["size"] == [224, 224]
    saved = call(
        "PUT",
        f"/api/frames/{frames[1].pk}/annotation/",
        json={"instances": [{"mask": mask, "label": "speaker"}], "version": None, "status": "submitted"},
    )
    assert saved.status_code == 201, saved.text

    # Export: the worker writes the zip into the bucket.
    response = call("POST", f"/api/projects/{project.pk}/exports/", json={"format": "coco", "include_submitted": True})
    assert response.status_code == 202, response.text
    job = wait_for_job(response.json()["id"], worker=worker)
    assert job.status == Job.Status.SUCCEEDED, job.error
    export = Export.objects.get(job=job)
    assert export.file.name in media_bucket.keys(f"projects/{project.pk}/")
    stored_zip = media_bucket.read(export.file.name)

    # Download: permission first (an outsider gets 404, never a URL), then the zip streamed from the bucket ...
    assert outsider("GET", f"/api/exports/{job.pk}/download/").status_code == 404
    download = call("GET", f"/api/exports/{job.pk}/download/")
    assert download.status_code == 200, download.text
    assert download.headers["Content-Type"] == "application/zip"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.content == stored_zip
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        names = archive.namelist()
    assert any(name.endswith(".json") for name in names) and any(name.endswith(".jpg") for name in names)

    # ... or a short-lived presigned redirect to the bucket.
    settings.AVS_MEDIA_DELIVERY = "redirect"
    assert outsider("GET", f"/api/exports/{job.pk}/download/").status_code == 404
    redirect = call("GET", f"/api/exports/{job.pk}/download/")
    assert redirect.status_code == 302
    location = redirect.headers["Location"]
    assert location.startswith(f"{media_bucket.server.url}/{media_bucket.name}/{export.file.name}?")
    assert re.search(r"X-Amz-Expires=300\b", location) and redirect.headers["Cache-Control"] == "private, no-store"
    fetched = requests.get(location, timeout=30)
    assert fetched.status_code == 200 and fetched.content == stored_zip
    assert fetched.headers["Content-Disposition"].startswith("attachment;")
    frame_redirect = call("GET", f"/api/frames/{frames[0].pk}/image/")
    assert frame_redirect.status_code == 302
    frame_bytes = requests.get(frame_redirect.headers["Location"], timeout=30).content
    assert frame_bytes == media_bucket.read(frames[0].image.name)

    # Nothing went through a local folder: neither the web server's nor the worker's media folder holds a file.
    assert local_files(media_root) == []
    assert local_files(worker.media_folder) == []


def test_a_bucket_unreachable_mid_ingest_fails_readably_keeps_nothing_and_a_retry_succeeds(
    media_bucket, start_worker, project, make_member, client_for, synth_video, django_capture_on_commit_callbacks
):
    # The worker reaches the bucket through a relay that is cut when it asks about the third frame.
    proxy = CuttableProxy(target_port=media_bucket.server.port)
    worker = start_worker("cutworker", endpoint_url=proxy.url, AVS_S3_TIMEOUT="5", AVS_S3_MAX_ATTEMPTS="2")
    proxy.cut_on(b"/frames/00002.jpg")
    manager = client_for(make_member(project, Role.MANAGER))
    try:
        with open(synth_video, "rb") as handle, django_capture_on_commit_callbacks(execute=True):
            response = manager.post(f"/api/projects/{project.pk}/clips/", {"file": handle}, format="multipart")
        assert response.status_code == 201, response.content
        clip = Clip.objects.get(pk=response.json()["clip"]["id"])
        job = wait_for_job(response.json()["job_id"], worker=worker)
        assert proxy.cut_event.is_set()

        assert job.status == Job.Status.FAILED
        assert "media storage could not be reached" in job.error and "AVS_S3_ENDPOINT_URL" in job.error, job.error
        assert f"POST /api/clips/{clip.pk}/ingest/" in job.error
        clip.refresh_from_db()
        assert clip.status == Clip.Status.FAILED and clip.error == job.error
        assert clip.num_frames == 0
        assert not Frame.objects.filter(clip=clip).exists() and not AudioTrack.objects.filter(clip=clip).exists()
        detail = manager.get(f"/api/clips/{clip.pk}/").json()
        assert detail["status"] == "failed" and detail["frames"] == [] and detail["audio"] is None

        # The store is back: a retry removes what the broken run had written, then ingests the clip in full.
        proxy.restore()
        with django_capture_on_commit_callbacks(execute=True):
            retry = manager.post(f"/api/clips/{clip.pk}/ingest/")
        assert retry.status_code == 202, retry.content
        job = wait_for_job(retry.json()["job_id"], worker=worker)
        assert job.status == Job.Status.SUCCEEDED, job.error
    finally:
        proxy.close()
    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY and clip.num_frames == FRAMES
    folder = f"projects/{project.pk}/clips/{clip.pk}"
    assert clip_keys(media_bucket, clip) == [f"{folder}/audio.wav"] + [
        f"{folder}/frames/{i:05d}.jpg" for i in range(FRAMES)
    ]
    assert sorted(Frame.objects.filter(clip=clip).values_list("image", flat=True)) == [
        f"{folder}/frames/{i:05d}.jpg" for i in range(FRAMES)
    ]
