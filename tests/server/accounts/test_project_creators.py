"""Who may create projects (AVS_PROJECT_CREATORS): by default staff and users with `media.add_project`."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission

from server.accounts.models import Membership, Role
from server.media.models import Project
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.server.accounts.world import project_creator

pytestmark = pytest.mark.django_db

REFUSED = (
    "You may not create projects: creating projects is for staff and for users with the "
    "'Can add project' permission (media.add_project). Ask an administrator."
)


def create(client_for, user, name: str = "birds"):
    return client_for(user).post("/api/projects/", {"name": name, "labels": [{"name": "owl"}]}, format="json")


def test_a_plain_user_may_not_create_a_project(client_for):
    user = UserFactory()
    MembershipFactory(project=ProjectFactory(), user=user, role=Role.MANAGER)  # managing one is not enough
    response = create(client_for, user)
    assert response.status_code == 403
    assert response.json() == {"message": REFUSED, "extra": {}}
    assert not Project.objects.filter(name="birds").exists()


@pytest.mark.parametrize("who", ["staff", "permission", "group permission", "superuser"])
def test_staff_and_users_with_the_permission_create_projects_and_manage_them(client_for, who):
    if who == "staff":
        user = UserFactory(is_staff=True)
    elif who == "permission":
        user = project_creator()
    elif who == "group permission":
        group = Group.objects.create(name="curators")
        group.permissions.add(Permission.objects.get(content_type__app_label="media", codename="add_project"))
        user = UserFactory()
        user.groups.add(group)
    else:
        user = UserFactory(is_superuser=True)
    response = create(client_for, user)
    assert response.status_code == 201, response.content
    assert response.json()["role"] == ("admin" if who == "superuser" else "manager")
    assert Membership.objects.get(project_id=response.json()["id"], user=user).role == Role.MANAGER


def test_an_inactive_staff_user_may_not(client_for):
    assert create(client_for, UserFactory(is_staff=True, is_active=False)).status_code == 403


def test_anyone_may_create_projects_when_the_setting_says_so(client_for, settings):
    settings.AVS_PROJECT_CREATORS = "anyone"
    assert create(client_for, UserFactory()).status_code == 201
    assert create(client_for, None, name="other").status_code == 401
