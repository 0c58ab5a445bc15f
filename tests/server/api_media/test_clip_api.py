from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from server.accounts.models import Role
from server.media.models import AudioTrack, Clip, Frame
from tests.factories import ClipFactory, FrameFactory, ProjectFactory, ProposalFactory
from tests.server.accounts.world import clip_with_media


@pytest.fixture
def project(db):
    return ProjectFactory()


@pytest.fixture
def member(project, make_member):
    return make_member(project, Role.ANNOTATOR)


def _names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [clip["name"] for clip in response.json()["results"]]


def test_list_filters_by_status_and_name_and_orders(project, member, client_for):
    ClipFactory(project=project, name="b-street.mp4", status=Clip.Status.READY, duration=3.0)
    ClipFactory(project=project, name="a-park.mp4", status=Clip.Status.FAILED, duration=9.0)
    ClipFactory(project=project, name="c-street.mp4", status=Clip.Status.READY, duration=1.0)
    ClipFactory(name="d-street.mp4")  # another project
    client = client_for(member)
    url = f"/api/projects/{project.pk}/clips/"
    assert _names(client.get(url)) == ["b-street.mp4", "a-park.mp4", "c-street.mp4"]  # upload order
    assert _names(client.get(url, {"status": "ready"})) == ["b-street.mp4", "c-street.mp4"]
    assert _names(client.get(url, {"search": "STREET"})) == ["b-street.mp4", "c-street.mp4"]
    assert _names(client.get(url, {"search": "street", "status": "failed"})) == []
    assert _names(client.get(url, {"ordering": "name"})) == ["a-park.mp4", "b-street.mp4", "c-street.mp4"]
    assert _names(client.get(url, {"ordering": "-duration"})) == ["a-park.mp4", "b-street.mp4", "c-street.mp4"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"status": "done"}, 'status: "done" is not a valid choice.'),
        ({"ordering": "checksum"}, 'ordering: "checksum" is not a valid choice.'),
    ],
)
def test_list_rejects_unknown_filters_readably(project, member, client_for, params, message):
    response = client_for(member).get(f"/api/projects/{project.pk}/clips/", params)
    assert response.status_code == 400
    assert response.json()["message"] == message


def test_list_item_shape(project, member, client_for):
    clip = ClipFactory(project=project, name="x.mp4")
    FrameFactory.create_batch(3, clip=clip)
    [item] = client_for(member).get(f"/api/projects/{project.pk}/clips/").json()["results"]
    assert item["id"] == clip.pk
    assert item["project_id"] == project.pk
    assert item["num_frames"] == 3
    assert item["status"] == "ready"
    assert {"duration", "fps", "source_fps", "width", "height", "has_audio", "size_bytes", "error"} <= set(item)


def test_clip_list_runs_a_constant_number_of_queries(project, member, client_for):
    def add_clips(n: int) -> None:
        for _ in range(n):
            FrameFactory.create_batch(2, clip=ClipFactory(project=project))

    client = client_for(member)
    url = f"/api/projects/{project.pk}/clips/"
    add_clips(2)
    with CaptureQueriesContext(connection) as two:
        client.get(url)
    add_clips(4)
    with CaptureQueriesContext(connection) as six:
        response = client.get(url)
    assert response.json()["count"] == 6
    assert len(two.captured_queries) == len(six.captured_queries)


def test_detail_lists_frames_in_order_with_image_urls_and_audio(project, member, client_for):
    clip = clip_with_media(project=project)
    FrameFactory(clip=clip, index=2, timestamp=2.94)
    FrameFactory(clip=clip, index=1, timestamp=1.94)
    client = client_for(member)
    data = client.get(f"/api/clips/{clip.pk}/").json()
    assert [(f["index"], f["timestamp"]) for f in data["frames"]] == [(0, 0.94), (1, 1.94), (2, 2.94)]
    assert data["num_frames"] == 3
    first = data["frames"][0]
    assert (first["width"], first["height"]) == (64, 48)
    assert first["image_url"] == f"http://testserver/api/frames/{first['id']}/image/"
    assert client.get(first["image_url"]).status_code == 200  # the URL works for the member
    assert data["audio"] == {
        "sample_rate": 16000,
        "duration": 0.5,
        "num_samples": 8000,
        "url": f"http://testserver/api/clips/{clip.pk}/audio/",
    }
    assert data["source_url"] == f"http://testserver/api/clips/{clip.pk}/source/"


def test_detail_of_a_clip_still_processing(project, member, client_for):
    clip = ClipFactory(project=project, status=Clip.Status.PROCESSING, has_audio=False)
    data = client_for(member).get(f"/api/clips/{clip.pk}/").json()
    assert (data["status"], data["frames"], data["audio"], data["source_url"]) == ("processing", [], None, None)


def test_delete_removes_rows_and_files(
    project, make_member, client_for, media_root, django_capture_on_commit_callbacks
):
    manager = make_member(project, Role.MANAGER)
    clip = clip_with_media(project=project)
    keep = clip_with_media(project=project)
    files = [clip.source.name, clip.frames.get().image.name, clip.audio.file.name]
    assert all((media_root / name).exists() for name in files)

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(manager).delete(f"/api/clips/{clip.pk}/")
    assert response.status_code == 204
    assert not Clip.objects.filter(pk=clip.pk).exists()
    assert not Frame.objects.filter(clip_id=clip.pk).exists()
    assert not AudioTrack.objects.filter(clip_id=clip.pk).exists()
    assert not any((media_root / name).exists() for name in files)
    assert (media_root / keep.source.name).exists()
    assert client_for(manager).get(f"/api/clips/{clip.pk}/").status_code == 404


def test_project_delete_removes_its_clips_files(
    project, make_member, client_for, media_root, django_capture_on_commit_callbacks
):
    manager = make_member(project, Role.MANAGER)
    clip = clip_with_media(project=project)
    ProposalFactory(clip=clip)  # model versions and proposals go too
    other = clip_with_media(project=ProjectFactory())
    names = [clip.source.name, clip.frames.get().image.name, clip.audio.file.name]
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(manager).delete(f"/api/projects/{project.pk}/")
    assert response.status_code == 204
    assert not Clip.objects.filter(project_id=project.pk).exists()
    assert not any((media_root / name).exists() for name in names)
    assert (media_root / other.source.name).exists()
