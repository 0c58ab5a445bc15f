"""Session sign-in for the web app: POST /api/auth/login/ and /api/auth/logout/, with CSRF checked as a
browser would be (these tests use a client that enforces CSRF, unlike the default test client)."""

from __future__ import annotations

import pytest
from django.test import Client

from server.accounts.models import Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.server.accounts.world import PASSWORD, project_creator

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser():
    """A client that enforces CSRF, holding the `csrftoken` cookie the web app's page sets."""
    client = Client(enforce_csrf_checks=True)
    client.get("/api/auth/me/")  # 401, but sets the CSRF cookie (as the SPA's index page does)
    return client


def csrf(client: Client) -> dict[str, str]:
    return {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}


def login(client: Client, username: str, password: str, **headers):
    return client.post(
        "/api/auth/login/", {"username": username, "password": password}, content_type="application/json", **headers
    )


def test_signing_in_returns_the_user_and_the_session_authenticates_later_requests(browser):
    user = UserFactory(username="alice")
    MembershipFactory(project=ProjectFactory(name="birds"), user=user, role=Role.ANNOTATOR)
    response = login(browser, "alice", PASSWORD, **csrf(browser))
    assert response.status_code == 200
    data = response.json()
    assert (data["id"], data["username"]) == (user.pk, "alice")
    assert [(m["project_name"], m["role"]) for m in data["memberships"]] == [("birds", "annotator")]
    assert "sessionid" in response.cookies

    me = browser.get("/api/auth/me/")
    assert me.status_code == 200 and me.json()["username"] == "alice"


def test_wrong_credentials_are_a_readable_400_and_sign_nobody_in(browser):
    UserFactory(username="alice")
    response = login(browser, "alice", "nope", **csrf(browser))
    assert response.status_code == 400
    assert response.json() == {"message": "Unable to log in with this username and password.", "extra": {}}
    assert browser.get("/api/auth/me/").status_code == 401


def test_an_inactive_user_cannot_sign_in(browser):
    UserFactory(username="gone", is_active=False)
    assert login(browser, "gone", PASSWORD, **csrf(browser)).status_code == 400


def test_missing_fields_are_named(browser):
    response = browser.post("/api/auth/login/", {"username": "alice"}, content_type="application/json", **csrf(browser))
    assert response.status_code == 400
    assert response.json()["message"] == "password: This field is required."


def test_signing_in_without_the_csrf_token_is_refused(browser):
    UserFactory(username="alice")
    response = login(browser, "alice", PASSWORD)
    assert response.status_code == 403
    assert response.json()["message"].startswith("CSRF Failed")
    assert browser.get("/api/auth/me/").status_code == 401


def test_the_index_page_sets_the_csrf_cookie(settings, tmp_path):
    (tmp_path / "index.html").write_text("<!doctype html><div id=root></div>")
    settings.AVS_FRONTEND_DIST = tmp_path
    client = Client(enforce_csrf_checks=True)
    assert client.get("/clips/1").status_code == 200
    assert client.cookies["csrftoken"].value


def test_session_writes_need_the_csrf_token_that_login_rotates(browser):
    project_creator(username="alice")
    before = browser.cookies["csrftoken"].value
    login(browser, "alice", PASSWORD, **csrf(browser))
    assert browser.cookies["csrftoken"].value != before  # rotated on sign-in

    body = {"name": "birds"}
    refused = browser.post("/api/projects/", body, content_type="application/json")
    assert refused.status_code == 403 and refused.json()["message"].startswith("CSRF Failed")
    created = browser.post("/api/projects/", body, content_type="application/json", **csrf(browser))
    assert created.status_code == 201


def test_signing_out_ends_the_session(browser):
    UserFactory(username="alice")
    login(browser, "alice", PASSWORD, **csrf(browser))
    response = browser.post("/api/auth/logout/", **csrf(browser))
    assert response.status_code == 204
    assert browser.get("/api/auth/me/").status_code == 401


def test_signing_out_without_a_session_is_harmless(browser):
    assert browser.post("/api/auth/logout/", **csrf(browser)).status_code == 204


def test_token_auth_keeps_working_beside_sessions(browser):
    project_creator(username="alice")
    login(browser, "alice", PASSWORD, **csrf(browser))
    token = Client().post(
        "/api/auth/token/", {"username": "alice", "password": PASSWORD}, content_type="application/json"
    )
    assert token.status_code == 200
    api = Client(enforce_csrf_checks=True)  # token requests need no CSRF token
    me = api.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    assert me.status_code == 200 and me.json()["username"] == "alice"
    created = api.post(
        "/api/projects/",
        {"name": "via token"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token.json()['token']}",
    )
    assert created.status_code == 201
