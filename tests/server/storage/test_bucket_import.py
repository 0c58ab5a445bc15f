"""Import from a bucket (moto_server on 127.0.0.1), with media in another bucket: `manage.py ingest s3://...` and the
API behind "Add videos from storage" list the video objects of a prefix, new ones marked, and import them; doing it
again adds nothing, and a copy of a video under another key is the clip already there (same SHA-256)."""

from __future__ import annotations

import io
import os

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from server.accounts.models import Role
from server.buckets.models import BucketObject
from server.jobs.models import Job
from server.media.models import Clip
from tests.factories import ProjectFactory
from tests.media_files import make_video

pytestmark = pytest.mark.django_db


@pytest.fixture
def raw_bucket(media_bucket, tmp_path):
    """A bucket of raw videos beside the media bucket: team/a.mp4 (2 s), team/sub/b.mp4 (3 s), team/notes.txt (not a
    video), other/c.mp4 (outside the team's prefix)."""
    client = media_bucket.server.client()
    name = f"raw-videos-{os.getpid()}-{media_bucket.name.rsplit('-', 1)[-1]}"
    client.create_bucket(Bucket=name)
    videos = {
        "team/a.mp4": make_video(tmp_path / "a.mp4", seconds=2.0, audio_rate=16000),
        "team/sub/b.mp4": make_video(tmp_path / "b.mp4", seconds=3.0, audio_rate=16000),
        "other/c.mp4": make_video(tmp_path / "c.mp4", seconds=1.0),
    }
    for key, path in videos.items():
        client.upload_file(str(path), name, key)
    client.put_object(Bucket=name, Key="team/notes.txt", Body=b"not a video")
    client.name = name
    client.videos = videos
    return client


def test_ingest_command_imports_the_new_videos_of_a_prefix_once(project, raw_bucket, media_bucket):
    url = f"s3://{raw_bucket.name}/team/"
    out = io.StringIO()
    call_command("ingest", "--project", project.name, url, "--sync", stdout=out)
    a, b = Clip.objects.order_by("name")
    assert (a.name, b.name) == ("a.mp4", "b.mp4")
    lines = out.getvalue().splitlines()
    assert lines == [
        f"s3://{raw_bucket.name}/team/a.mp4: new clip {a.pk}: 2 frames, 2.0 s of audio.",
        f"s3://{raw_bucket.name}/team/sub/b.mp4: new clip {b.pk}: 3 frames, 3.0 s of audio.",
        f'2 new, 0 already in the project, 0 failed (project "{project.name}").',
    ]
    for clip in (a, b):
        assert clip.status == Clip.Status.READY
        assert clip.source.name in media_bucket.keys(f"projects/{project.pk}/sources/")  # copied into media storage
        assert len(media_bucket.keys(f"projects/{project.pk}/clips/{clip.pk}/frames/")) == clip.num_frames

    # Again: nothing is read, nothing is added.
    out = io.StringIO()
    call_command("ingest", "--project", project.name, url, stdout=out)
    assert out.getvalue().splitlines() == [
        f"s3://{raw_bucket.name}/team/: nothing new",
        f'0 new, 0 already in the project, 0 failed (project "{project.name}").',
    ]

    # A copy of a.mp4 under a new key is a new object, but the same video: the clip already there.
    raw_bucket.upload_file(str(raw_bucket.videos["team/a.mp4"]), raw_bucket.name, "team/copy-of-a.mp4")
    out = io.StringIO()
    call_command("ingest", "--project", project.name, url, stdout=out)
    assert out.getvalue().splitlines()[0] == (
        f"s3://{raw_bucket.name}/team/copy-of-a.mp4: already in project as clip {a.pk} (ready)"
    )
    assert Clip.objects.count() == 2
    assert BucketObject.objects.filter(project=project).count() == 3


def test_ingest_command_explains_a_missing_bucket_and_a_bad_address(project, media_bucket):
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 of 1 paths could not be ingested"):
        call_command("ingest", "--project", project.name, "s3://no-such-bucket-here/x/", stdout=out)
    assert (
        out.getvalue().splitlines()[0] == "s3://no-such-bucket-here/x/: error: There is no bucket no-such-bucket-here."
    )
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("ingest", "--project", project.name, "s3://A/", stdout=out)
    assert "is not a bucket address: give s3://BUCKET/ or s3://BUCKET/PREFIX/" in out.getvalue()


def test_managers_list_and_import_new_objects_from_storage_twice(
    project, raw_bucket, make_member, client_for, settings, django_capture_on_commit_callbacks
):
    settings.AVS_IMPORT_BUCKETS = [f"{raw_bucket.name}/team"]
    manager = client_for(make_member(project, Role.MANAGER))
    listing = manager.get(f"/api/projects/{project.pk}/storage/objects/")
    assert listing.status_code == 200, listing.content
    body = listing.json()
    assert body["sources"] == [f"s3://{raw_bucket.name}/team"] and body["url"] == f"s3://{raw_bucket.name}/team"
    assert [(o["key"], o["name"], o["status"]) for o in body["objects"]] == [
        ("team/a.mp4", "a.mp4", "new"),
        ("team/sub/b.mp4", "b.mp4", "new"),
    ]
    assert body["new_count"] == 2 and body["truncated"] is False
    assert body["objects"][0]["size_bytes"] == raw_bucket.videos["team/a.mp4"].stat().st_size

    with django_capture_on_commit_callbacks(execute=True):  # eager Celery: the import and both ingests run here
        response = manager.post(f"/api/projects/{project.pk}/storage/import/", {"url": body["url"]}, format="json")
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert job.kind == Job.Kind.IMPORT and job.status == Job.Status.SUCCEEDED, job.error
    assert job.message == f"2 new, 0 already in the project, 0 failed, from s3://{raw_bucket.name}/team."
    assert job.result["counts"] == {"imported": 2, "duplicate": 0, "failed": 0}
    clips = {clip.name: clip for clip in Clip.objects.filter(project=project)}
    assert set(clips) == {"a.mp4", "b.mp4"} and all(c.status == Clip.Status.READY for c in clips.values())

    listing = manager.get(f"/api/projects/{project.pk}/storage/objects/", {"url": f"s3://{raw_bucket.name}/team/"})
    body = listing.json()
    assert [(o["status"], o["clip_id"]) for o in body["objects"]] == [
        ("in_project", clips["a.mp4"].pk),
        ("in_project", clips["b.mp4"].pk),
    ]
    assert body["new_count"] == 0

    # The second import finds nothing new.
    with django_capture_on_commit_callbacks(execute=True):
        response = manager.post(f"/api/projects/{project.pk}/storage/import/", {"url": body["url"]}, format="json")
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == Job.Status.SUCCEEDED and job.result["counts"] == {"imported": 0, "duplicate": 0, "failed": 0}
    assert Clip.objects.filter(project=project).count() == 2

    # A deleted clip's object is new again.
    assert manager.delete(f"/api/clips/{clips['b.mp4'].pk}/").status_code == 204
    body = manager.get(f"/api/projects/{project.pk}/storage/objects/").json()
    assert [o["status"] for o in body["objects"]] == ["in_project", "new"] and body["new_count"] == 1


def test_import_from_storage_is_for_managers_and_only_from_listed_buckets(
    project, raw_bucket, make_member, client_for, settings
):
    annotator = client_for(make_member(project, Role.ANNOTATOR))
    manager = client_for(make_member(project, Role.MANAGER))
    outsider = client_for(make_member(ProjectFactory()))  # a member of another project
    objects_url = f"/api/projects/{project.pk}/storage/objects/"
    import_url = f"/api/projects/{project.pk}/storage/import/"

    settings.AVS_IMPORT_BUCKETS = []
    off = manager.get(objects_url)
    assert off.status_code == 200 and off.json() == {
        "sources": [],
        "url": None,
        "objects": [],
        "new_count": 0,
        "truncated": False,
    }
    refused = manager.post(import_url, {"url": f"s3://{raw_bucket.name}/team/"}, format="json")
    assert refused.status_code == 403 and "AVS_IMPORT_BUCKETS" in refused.json()["message"]

    settings.AVS_IMPORT_BUCKETS = [f"{raw_bucket.name}/team"]
    assert annotator.get(objects_url).status_code == 403
    assert annotator.post(import_url, {"url": f"s3://{raw_bucket.name}/team/"}, format="json").status_code == 403
    assert outsider.get(objects_url).status_code == 404
    elsewhere = manager.get(objects_url, {"url": f"s3://{raw_bucket.name}/other/"})
    assert elsewhere.status_code == 403
    assert elsewhere.json()["message"] == (
        f"s3://{raw_bucket.name}/other/ is not a bucket location videos may be imported from "
        f"(s3://{raw_bucket.name}/team; setting AVS_IMPORT_BUCKETS)."
    )
    bad = manager.get(objects_url, {"url": "https://example.org/videos/"})
    assert bad.status_code == 400 and "is not a bucket address" in bad.json()["message"]
    assert not Job.objects.filter(kind=Job.Kind.IMPORT).exists()


def test_an_unreachable_bucket_is_a_readable_503(project, make_member, client_for, settings, media_bucket):
    settings.AVS_IMPORT_BUCKETS = ["raw-videos"]
    settings.AVS_S3_ENDPOINT_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    settings.AVS_S3_MAX_ATTEMPTS = 1
    manager = client_for(make_member(project, Role.MANAGER))
    response = manager.get(f"/api/projects/{project.pk}/storage/objects/")
    assert response.status_code == 503
    assert response.json()["message"].startswith("The bucket raw-videos could not be reached")
    assert "AVS_S3_ENDPOINT_URL" in response.json()["message"]
