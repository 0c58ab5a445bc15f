from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from server.accounts.models import Membership, Role
from server.media.models import Clip, Label, Project
from tests.factories import ClipFactory, LabelFactory, MembershipFactory, ProjectFactory, UserFactory
from tests.server.accounts.world import project_creator


def test_create_makes_the_creator_manager_and_seeds_labels(db, client_for):
    user = project_creator()
    response = client_for(user).post(
        "/api/projects/",
        {
            "name": "  Birds  ",
            "description": "songs",
            "fps": 2,
            "labels": [{"name": "sparrow", "color": "#AA0000"}, {"name": "crow"}, {"name": "owl"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["name"] == "Birds"
    assert data["fps"] == 2.0
    assert data["frame_max_side"] == 1280  # default
    assert data["role"] == "manager"
    assert data["member_count"] == 1
    assert data["clip_counts"] == {"total": 0, "uploaded": 0, "processing": 0, "ready": 0, "failed": 0}
    assert [m["username"] for m in data["members"]] == [user.username]
    labels = {label["name"]: label["color"] for label in data["labels"]}
    assert labels["sparrow"] == "#aa0000"
    assert labels["crow"] != labels["owl"]  # a distinct palette colour each
    assert Membership.objects.get(project_id=data["id"]).role == Role.MANAGER


def test_create_with_a_taken_name_is_refused(db, client_for):
    ProjectFactory(name="Birds")
    response = client_for(project_creator()).post("/api/projects/", {"name": "birds"}, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "A project named 'Birds' already exists."
    assert Project.objects.count() == 1


def test_create_with_duplicate_initial_labels_creates_nothing(db, client_for):
    response = client_for(project_creator()).post(
        "/api/projects/", {"name": "Birds", "labels": [{"name": "owl"}, {"name": "Owl"}]}, format="json"
    )
    assert response.status_code == 400
    assert "owl" in response.json()["message"]
    assert not Project.objects.exists()
    assert not Membership.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("fps", 0),
        ("fps", 61),
        ("fps", "fast"),
        ("frame_max_side", 32),
        ("frame_max_side", 10000),
        ("audio_sample_rate", 4000),
        ("audio_sample_rate", 200000),
        ("name", ""),
    ],
)
def test_settings_out_of_range_are_refused_and_nothing_changes(db, client_for, make_member, field, value):
    project = ProjectFactory(name="Birds")
    manager = make_member(project, Role.MANAGER)
    response = client_for(manager).patch(f"/api/projects/{project.pk}/", {field: value}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["message"].startswith(f"{field}: ")
    assert field in body["extra"]["fields"]
    project.refresh_from_db()
    assert (project.name, project.fps, project.frame_max_side, project.audio_sample_rate) == ("Birds", 1.0, 1280, 16000)


def test_settings_in_range_are_saved(db, client_for, make_member):
    project = ProjectFactory()
    manager = make_member(project, Role.MANAGER)
    response = client_for(manager).patch(
        f"/api/projects/{project.pk}/",
        {"name": "Renamed", "fps": 0.5, "frame_max_side": 640, "audio_sample_rate": 22050},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["frame_max_side"] == 640
    project.refresh_from_db()
    assert (project.name, project.fps, project.frame_max_side, project.audio_sample_rate) == (
        "Renamed",
        0.5,
        640,
        22050,
    )


def test_renaming_onto_another_project_is_refused(db, client_for, make_member):
    ProjectFactory(name="Taken")
    project = ProjectFactory(name="Mine")
    manager = make_member(project, Role.MANAGER)
    response = client_for(manager).patch(f"/api/projects/{project.pk}/", {"name": "taken"}, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "A project named 'Taken' already exists."
    # keeping its own name (any case) is fine
    assert client_for(manager).patch(f"/api/projects/{project.pk}/", {"name": "MINE"}, format="json").status_code == 200


def test_list_shows_only_my_projects_with_counts_and_my_role(db, client_for):
    me = UserFactory()
    mine = ProjectFactory(name="mine")
    MembershipFactory(project=mine, user=me, role=Role.REVIEWER)
    MembershipFactory(project=mine, role=Role.MANAGER)
    for status in ("ready", "ready", "failed", "processing"):
        ClipFactory(project=mine, status=status)
    hidden = ProjectFactory(name="hidden")
    ClipFactory(project=hidden)

    data = client_for(me).get("/api/projects/").json()
    assert data["count"] == 1
    [item] = data["results"]
    assert item["name"] == "mine"
    assert item["role"] == "reviewer"
    assert item["member_count"] == 2
    assert item["clip_counts"] == {"total": 4, "uploaded": 0, "processing": 1, "ready": 2, "failed": 1}


def test_superuser_lists_every_project_as_admin(db, client_for):
    ProjectFactory.create_batch(3)
    data = client_for(UserFactory(is_superuser=True)).get("/api/projects/").json()
    assert data["count"] == 3
    assert {item["role"] for item in data["results"]} == {"admin"}


def test_list_search_and_pagination(db, client_for):
    me = UserFactory()
    for name in ("Birds 2023", "birds 2024", "Cars"):
        MembershipFactory(project=ProjectFactory(name=name), user=me)
    client = client_for(me)
    assert {p["name"] for p in client.get("/api/projects/?search=BIRDS").json()["results"]} == {
        "Birds 2023",
        "birds 2024",
    }
    page = client.get("/api/projects/?page_size=2").json()
    assert page["count"] == 3
    assert len(page["results"]) == 2
    assert page["next"]


def test_detail_lists_members_and_labels(db, client_for, make_member):
    project = ProjectFactory()
    manager = make_member(project, Role.MANAGER, username="mona")
    make_member(project, Role.ANNOTATOR, username="ann")
    LabelFactory(project=project, name="dog", color="#112233")
    data = client_for(manager).get(f"/api/projects/{project.pk}/").json()
    assert [(m["username"], m["role"]) for m in data["members"]] == [("mona", "manager"), ("ann", "annotator")]
    assert [(label["name"], label["color"]) for label in data["labels"]] == [("dog", "#112233")]


def _list_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _project_with_things(user, n: int) -> Project:
    project = ProjectFactory()
    MembershipFactory(project=project, user=user, role=Role.MANAGER)
    for k in range(n):
        MembershipFactory(project=project)
        ClipFactory(project=project, status=Clip.Status.values[k % 4])
        LabelFactory(project=project)
    return project


def test_project_list_runs_a_constant_number_of_queries(db, client_for):
    user = UserFactory()
    client = client_for(user)
    for _ in range(2):
        _project_with_things(user, 2)
    two = _list_queries(client, "/api/projects/")
    for _ in range(4):
        _project_with_things(user, 3)
    six = _list_queries(client, "/api/projects/")
    assert client.get("/api/projects/").json()["count"] == 6
    assert two == six


@pytest.mark.parametrize("resource", ["members", "labels"])
def test_member_and_label_lists_run_a_constant_number_of_queries(db, client_for, resource):
    user = UserFactory()
    client = client_for(user)
    project = _project_with_things(user, 1)  # 2 members, 1 label
    url = f"/api/projects/{project.pk}/{resource}/"
    LabelFactory(project=project)
    two = _list_queries(client, url)
    for _ in range(4):
        MembershipFactory(project=project)
        LabelFactory(project=project)
    six = _list_queries(client, url)
    assert client.get(url).json()["count"] == 6
    assert two == six


def test_delete_removes_the_project_and_its_rows(db, client_for, make_member):
    project = ProjectFactory()
    manager = make_member(project, Role.MANAGER)
    LabelFactory(project=project)
    response = client_for(manager).delete(f"/api/projects/{project.pk}/")
    assert response.status_code == 204
    assert not Project.objects.filter(pk=project.pk).exists()
    assert not Label.objects.exists()
    assert not Membership.objects.exists()
