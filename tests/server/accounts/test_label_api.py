from __future__ import annotations

import pytest

from server.accounts.models import Role
from server.annotations.services import LABEL_PALETTE
from server.media.models import Label
from tests.factories import LabelFactory, ProjectFactory


@pytest.fixture
def setup(db, make_member):
    project = ProjectFactory()
    return project, make_member(project, Role.MANAGER), make_member(project, Role.ANNOTATOR)


def test_annotator_adds_a_label_with_a_distinct_palette_colour(setup, client_for):
    project, _, annotator = setup
    LabelFactory(project=project, name="dog", color=LABEL_PALETTE[0].upper())
    client = client_for(annotator)
    first = client.post(f"/api/projects/{project.pk}/labels/", {"name": " cat "}, format="json")
    second = client.post(f"/api/projects/{project.pk}/labels/", {"name": "bird", "color": None}, format="json")
    assert first.status_code == second.status_code == 201
    assert first.json()["name"] == "cat"
    colours = {first.json()["color"], second.json()["color"]}
    assert colours == {LABEL_PALETTE[1], LABEL_PALETTE[2]}


def test_palette_wraps_around_once_every_colour_is_taken(setup, client_for):
    project, manager, _ = setup
    client = client_for(manager)
    colours = [
        client.post(f"/api/projects/{project.pk}/labels/", {"name": f"l{k}"}, format="json").json()["color"]
        for k in range(len(LABEL_PALETTE) + 1)
    ]
    assert colours[: len(LABEL_PALETTE)] == list(LABEL_PALETTE)
    assert colours[-1] in LABEL_PALETTE


@pytest.mark.parametrize("name", ["dog", "Dog", " DOG "])
def test_duplicate_name_is_refused_ignoring_case(setup, client_for, name):
    project, _, annotator = setup
    existing = LabelFactory(project=project, name="dog")
    response = client_for(annotator).post(f"/api/projects/{project.pk}/labels/", {"name": name}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "message": "A label named 'dog' already exists in this project.",
        "extra": {"field": "name", "label_id": existing.pk},
    }
    assert Label.objects.filter(project=project).count() == 1


def test_same_name_in_another_project_is_fine(setup, client_for):
    project, manager, _ = setup
    LabelFactory(name="dog")  # another project
    assert client_for(manager).post(f"/api/projects/{project.pk}/labels/", {"name": "dog"}).status_code == 201


@pytest.mark.parametrize("colour", ["red", "#12345", "#1234567", "#gg0000", "112233"])
def test_colour_must_be_rrggbb(setup, client_for, colour):
    project, manager, _ = setup
    label = LabelFactory(project=project)
    client = client_for(manager)
    created = client.post(f"/api/projects/{project.pk}/labels/", {"name": "x", "color": colour}, format="json")
    updated = client.patch(f"/api/labels/{label.pk}/", {"color": colour}, format="json")
    assert created.status_code == updated.status_code == 400
    assert created.json()["message"] == updated.json()["message"] == "color: Colour must look like #RRGGBB."


def test_manager_renames_and_recolours(setup, client_for):
    project, manager, _ = setup
    label = LabelFactory(project=project, name="dog")
    response = client_for(manager).patch(
        f"/api/labels/{label.pk}/", {"name": "puppy", "color": "#00FF00"}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == {"id": label.pk, "name": "puppy", "color": "#00ff00"}


def test_rename_onto_another_label_is_refused(setup, client_for):
    project, manager, _ = setup
    LabelFactory(project=project, name="dog")
    cat = LabelFactory(project=project, name="cat")
    response = client_for(manager).patch(f"/api/labels/{cat.pk}/", {"name": "DOG"}, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "A label named 'dog' already exists in this project."
    # changing only the case of its own name is allowed
    assert client_for(manager).patch(f"/api/labels/{cat.pk}/", {"name": "Cat"}, format="json").status_code == 200


def test_delete(setup, client_for):
    project, manager, _ = setup
    label = LabelFactory(project=project)
    assert client_for(manager).delete(f"/api/labels/{label.pk}/").status_code == 204
    assert not Label.objects.filter(pk=label.pk).exists()


def test_list_is_sorted_by_name(setup, client_for):
    project, _, annotator = setup
    for name in ("zebra", "ant", "Moose"):
        LabelFactory(project=project, name=name)
    names = [
        label["name"] for label in client_for(annotator).get(f"/api/projects/{project.pk}/labels/").json()["results"]
    ]
    assert names == ["Moose", "ant", "zebra"]
