"""Who may call which clip/media endpoint (role × endpoint × verb → HTTP status), and why guessing
ids of another project's clips, frames and files tells nothing."""

from __future__ import annotations

import pytest

from tests.media_files import DEMO_DIR
from tests.server.accounts.world import READ, ROLES, expect

DEMO = DEMO_DIR / "p04SYXuBSQ.mp4"

CASES = [
    # (operation, method, url, expected status per role)
    ("clip_list", "get", "/api/projects/{project}/clips/", READ),
    ("clip_upload", "post", "/api/projects/{project}/clips/", expect(401, 404, 403, 403, 201, 201)),
    ("clip_detail", "get", "/api/clips/{clip}/", READ),
    ("clip_delete", "delete", "/api/clips/{clip}/", expect(401, 404, 403, 403, 204, 204)),
    ("frame_image", "get", "/api/frames/{frame}/image/", READ),
    ("clip_audio", "get", "/api/clips/{clip}/audio/", READ),
    ("clip_source", "get", "/api/clips/{clip}/source/", READ),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("operation", "method", "url", "expected"), CASES, ids=[case[0] for case in CASES])
def test_permission_matrix(world, client_for, role, operation, method, url, expected):
    client = client_for(world.users[role])
    url = url.format(project=world.project.pk, clip=world.clip.pk, frame=world.frame.pk)
    if operation == "clip_upload":
        with DEMO.open("rb") as video:
            response = client.post(url, {"file": video}, format="multipart")
    else:
        response = getattr(client, method)(url)
    assert response.status_code == expected[role], getattr(response, "content", b"")[:300]
    if response.status_code >= 400:
        assert set(response.json()) == {"message", "extra"}


GUESSES = [
    ("get", "/api/clips/{id}/", "clip", "Clip not found."),
    ("delete", "/api/clips/{id}/", "clip", "Clip not found."),
    ("get", "/api/clips/{id}/audio/", "clip", "Audio not found."),
    ("get", "/api/clips/{id}/source/", "clip", "Clip not found."),
    ("get", "/api/frames/{id}/image/", "frame", "Frame not found."),
    ("get", "/api/projects/{id}/clips/", "project", "Project not found."),
    ("post", "/api/projects/{id}/clips/", "project", "Project not found."),
]


@pytest.mark.parametrize(("method", "url", "kind", "message"), GUESSES, ids=[f"{m} {u}" for m, u, _, _ in GUESSES])
def test_guessing_ids_of_another_projects_media_gives_the_same_404_as_a_missing_id(
    world, client_for, method, url, kind, message
):
    """A manager of one project probing the other project's ids learns nothing, not even existence."""
    client = client_for(world.users["manager"])
    foreign_id = {"clip": world.other_clip.pk, "frame": world.other_frame.pk, "project": world.other_project.pk}[kind]
    foreign = getattr(client, method)(url.format(id=foreign_id))
    missing = getattr(client, method)(url.format(id=987654))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json() == {"message": message, "extra": {}}
    assert "Content-Disposition" not in foreign
    world.other_clip.refresh_from_db()  # the foreign delete did nothing


def test_media_files_are_not_served_from_a_public_url(world, client):
    """Nothing maps MEDIA_URL: the stored frame is reachable only through the checked API view."""
    name = world.frame.image.name
    for prefix in ("/media/", "/", "/static/", "/api/media/"):
        assert client.get(prefix + name).status_code == 404
