from __future__ import annotations

from rest_framework.test import APIClient

from server.accounts.models import Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.server.accounts.world import PASSWORD


def test_token_for_username_and_password_signs_later_requests_in(db):
    user = UserFactory(username="alice")
    client = APIClient()
    response = client.post("/api/auth/token/", {"username": "alice", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    token = response.json()["token"]

    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = client.get("/api/auth/me/")
    assert me.status_code == 200
    assert me.json()["id"] == user.pk
    # asking again returns the same token
    again = APIClient().post("/api/auth/token/", {"username": "alice", "password": PASSWORD}, format="json")
    assert again.json()["token"] == token


def test_wrong_password_gets_a_readable_400(db):
    UserFactory(username="alice")
    response = APIClient().post("/api/auth/token/", {"username": "alice", "password": "nope"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"message": "Unable to log in with this username and password.", "extra": {}}


def test_inactive_user_gets_no_token(db):
    UserFactory(username="gone", is_active=False)
    response = APIClient().post("/api/auth/token/", {"username": "gone", "password": PASSWORD}, format="json")
    assert response.status_code == 400


def test_missing_password_names_the_field(db):
    response = APIClient().post("/api/auth/token/", {"username": "alice"}, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "password: This field is required."


def test_bad_token_is_refused(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert client.get("/api/auth/me/").status_code == 401


def test_me_lists_memberships_with_roles(db, client_for):
    user = UserFactory(username="bob", first_name="Bob")
    alpha, beta = ProjectFactory(name="alpha"), ProjectFactory(name="beta")
    MembershipFactory(project=beta, user=user, role=Role.REVIEWER)
    MembershipFactory(project=alpha, user=user, role=Role.MANAGER)
    ProjectFactory(name="gamma")  # not a member

    data = client_for(user).get("/api/auth/me/").json()
    assert data["username"] == "bob"
    assert data["first_name"] == "Bob"
    assert data["is_superuser"] is False
    assert data["memberships"] == [
        {"project_id": alpha.pk, "project_name": "alpha", "role": "manager"},
        {"project_id": beta.pk, "project_name": "beta", "role": "reviewer"},
    ]


def test_session_login_works_for_the_browser_app(db):
    UserFactory(username="carol")
    client = APIClient()
    assert client.login(username="carol", password=PASSWORD)
    assert client.get("/api/auth/me/").json()["username"] == "carol"
