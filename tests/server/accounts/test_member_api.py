from __future__ import annotations

import pytest

from server.accounts.models import Membership, Role
from tests.factories import ProjectFactory, UserFactory


@pytest.fixture
def team(db, make_member):
    project = ProjectFactory()
    return project, make_member(project, Role.MANAGER, username="mona"), make_member(project, Role.ANNOTATOR)


def _role(project, user) -> str | None:
    return Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()


def test_add_by_username_or_by_id(team, client_for):
    project, manager, _ = team
    bob, carl = UserFactory(username="bob"), UserFactory(username="carl")
    client = client_for(manager)
    by_name = client.post(
        f"/api/projects/{project.pk}/members/", {"username": "bob", "role": "reviewer"}, format="json"
    )
    by_id = client.post(f"/api/projects/{project.pk}/members/", {"user_id": carl.pk, "role": "manager"}, format="json")
    assert by_name.status_code == by_id.status_code == 201
    assert by_name.json()["username"] == "bob"
    assert by_name.json()["role"] == "reviewer"
    assert by_id.json()["user_id"] == carl.pk
    assert (_role(project, bob), _role(project, carl)) == ("reviewer", "manager")


def test_the_new_member_sees_the_project(team, client_for):
    project, manager, _ = team
    bob = UserFactory(username="bob")
    assert client_for(bob).get(f"/api/projects/{project.pk}/").status_code == 404
    client_for(manager).post(f"/api/projects/{project.pk}/members/", {"username": "bob", "role": "reviewer"})
    assert client_for(bob).get(f"/api/projects/{project.pk}/").status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"username": "nobody", "role": "reviewer"}, "There is no user named 'nobody'."),
        ({"user_id": 987654, "role": "reviewer"}, "There is no user with id 987654."),
        ({"role": "reviewer"}, "Give either a username or a user_id."),
        ({"username": "mona", "role": "reviewer"}, "mona is already a member of this project (as manager)."),
        ({"username": "bob", "role": "boss"}, 'role: "boss" is not a valid choice.'),
    ],
)
def test_add_refusals_are_readable(team, client_for, body, message):
    project, manager, _ = team
    UserFactory(username="bob")
    response = client_for(manager).post(f"/api/projects/{project.pk}/members/", body, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == message
    assert Membership.objects.filter(project=project).count() == 2


def test_change_role(team, client_for):
    project, manager, annotator = team
    response = client_for(manager).patch(
        f"/api/projects/{project.pk}/members/{annotator.pk}/", {"role": "reviewer"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["role"] == "reviewer"
    assert _role(project, annotator) == "reviewer"


def test_changing_a_non_member_is_404(team, client_for):
    project, manager, _ = team
    stranger = UserFactory()
    url = f"/api/projects/{project.pk}/members/{stranger.pk}/"
    response = client_for(manager).patch(url, {"role": "reviewer"}, format="json")
    assert response.status_code == 404
    assert response.json()["message"] == "This user is not a member of the project."
    assert client_for(manager).delete(url).status_code == 404


def test_remove_member(team, client_for):
    project, manager, annotator = team
    assert client_for(manager).delete(f"/api/projects/{project.pk}/members/{annotator.pk}/").status_code == 204
    assert _role(project, annotator) is None
    assert client_for(annotator).get(f"/api/projects/{project.pk}/").status_code == 404


LAST_MANAGER_DEMOTE = "Cannot demote the project's last manager: make another member a manager first."
LAST_MANAGER_REMOVE = "Cannot remove the project's last manager: make another member a manager first."


def test_last_manager_cannot_demote_themselves(team, client_for):
    project, manager, _ = team
    response = client_for(manager).patch(
        f"/api/projects/{project.pk}/members/{manager.pk}/", {"role": "annotator"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["message"] == LAST_MANAGER_DEMOTE
    assert _role(project, manager) == "manager"


def test_last_manager_cannot_be_removed_even_by_a_superuser(team, client_for):
    project, manager, _ = team
    response = client_for(UserFactory(is_superuser=True)).delete(f"/api/projects/{project.pk}/members/{manager.pk}/")
    assert response.status_code == 400
    assert response.json()["message"] == LAST_MANAGER_REMOVE
    assert _role(project, manager) == "manager"


def test_with_a_second_manager_the_first_may_step_down_and_then_the_second_is_last(team, client_for):
    project, manager, annotator = team
    client = client_for(manager)
    client.patch(f"/api/projects/{project.pk}/members/{annotator.pk}/", {"role": "manager"}, format="json")
    # "mona" steps down, and the other manager is now the last one
    step_down = client.patch(f"/api/projects/{project.pk}/members/{manager.pk}/", {"role": "reviewer"}, format="json")
    assert step_down.status_code == 200
    response = client_for(annotator).delete(f"/api/projects/{project.pk}/members/{annotator.pk}/")
    assert response.status_code == 400
    assert response.json()["message"] == LAST_MANAGER_REMOVE
    assert client_for(annotator).delete(f"/api/projects/{project.pk}/members/{manager.pk}/").status_code == 204


def test_member_list_is_paginated_and_shows_roles(team, client_for):
    project, manager, annotator = team
    data = client_for(annotator).get(f"/api/projects/{project.pk}/members/").json()
    assert data["count"] == 2
    assert [(m["user_id"], m["role"]) for m in data["results"]] == [
        (manager.pk, "manager"),
        (annotator.pk, "annotator"),
    ]
    assert set(data["results"][0]) == {"user_id", "username", "email", "first_name", "last_name", "role", "joined_at"}


PERSONAL = ("email", "first_name", "last_name")


def test_adding_an_account_reveals_nothing_personal_about_it(team, client_for):
    project, manager, _ = team
    UserFactory(username="bob", email="bob@secret.example", first_name="Bob", last_name="Builder")
    carl = UserFactory(username="carl", email="carl@secret.example", first_name="Carl")
    client = client_for(manager)
    by_name = client.post(f"/api/projects/{project.pk}/members/", {"username": "bob", "role": "reviewer"}).json()
    by_id = client.post(f"/api/projects/{project.pk}/members/", {"user_id": carl.pk, "role": "reviewer"}).json()
    for added, username in ((by_name, "bob"), (by_id, "carl")):
        assert added["username"] == username and added["role"] == "reviewer"
        assert {key: added[key] for key in PERSONAL} == dict.fromkeys(PERSONAL)
    # nor do the member list and the project's page, to the manager who added them
    listed = client.get(f"/api/projects/{project.pk}/members/").json()["results"]
    detail = client.get(f"/api/projects/{project.pk}/").json()["members"]
    for members in (listed, detail):
        assert "secret.example" not in str(members) and "Builder" not in str(members)


def test_members_see_their_own_email_and_name_and_staff_see_everyones(db, client_for, make_member):
    project = ProjectFactory()
    manager = make_member(project, Role.MANAGER, email="mona@example.org", first_name="Mona")
    annotator = make_member(project, Role.ANNOTATOR, email="ann@example.org", first_name="Ann")
    url = f"/api/projects/{project.pk}/members/"

    as_annotator = {m["username"]: m for m in client_for(annotator).get(url).json()["results"]}
    assert (as_annotator[annotator.username]["email"], as_annotator[annotator.username]["first_name"]) == (
        "ann@example.org",
        "Ann",
    )
    assert as_annotator[manager.username]["email"] is None
    assert as_annotator[manager.username]["first_name"] is None

    staff = make_member(project, Role.REVIEWER, is_staff=True, email="sam@example.org")
    as_staff = {m["username"]: m["email"] for m in client_for(staff).get(url).json()["results"]}
    assert as_staff == {
        manager.username: "mona@example.org",
        annotator.username: "ann@example.org",
        staff.username: "sam@example.org",
    }
