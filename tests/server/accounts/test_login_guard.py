"""Failed sign-ins lock a username and a client address out for a while (API token, web app, admin), and
the sign-in endpoints are rate-limited per address; every refusal is a 429 with Retry-After."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from tests.factories import UserFactory
from tests.server.accounts.world import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def limits(settings):
    settings.AVS_LOGIN_FAILURE_LIMIT = 3
    settings.AVS_LOGIN_IP_FAILURE_LIMIT = 5
    settings.AVS_LOGIN_LOCKOUT_SECONDS = 600


def token(username: str, password: str, **extra):
    return APIClient().post("/api/auth/token/", {"username": username, "password": password}, format="json", **extra)


def session_login(username: str, password: str, **extra):
    return APIClient().post("/api/auth/login/", {"username": username, "password": password}, format="json", **extra)


def assert_locked(response, *, window: int = 600) -> None:
    assert response.status_code == 429, response.content
    body = response.json()
    retry_after = int(response["Retry-After"])
    assert 0 < retry_after <= window
    assert body == {
        "message": f"Too many failed sign-in attempts: try again in {retry_after} seconds.",
        "extra": {"retry_after": retry_after},
    }


def test_a_username_is_locked_after_repeated_failures_even_with_the_right_password():
    UserFactory(username="alice")
    UserFactory(username="bob")
    for _ in range(3):
        assert token("alice", "guess").status_code == 400
    assert_locked(token("alice", PASSWORD))
    assert_locked(session_login("alice", PASSWORD))  # the web app's sign-in shares the count
    assert_locked(token("ALICE ", "guess"))  # neither case nor spaces make another username
    assert token("bob", PASSWORD).status_code == 200  # others sign in from the same address


def test_a_client_address_is_locked_after_failures_across_usernames():
    UserFactory(username="alice")
    for name in ("u1", "u2", "u3", "u4", "u5"):
        assert token(name, "guess", REMOTE_ADDR="10.0.0.1").status_code == 400
    assert_locked(token("alice", PASSWORD, REMOTE_ADDR="10.0.0.1"))
    assert token("alice", PASSWORD, REMOTE_ADDR="10.0.0.2").status_code == 200


def test_behind_a_proxy_the_address_comes_from_x_forwarded_for_and_cannot_be_spoofed(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    UserFactory(username="alice")
    for k, name in enumerate(("u1", "u2", "u3", "u4", "u5")):
        # whatever the client writes first, the proxy appends the address it saw
        forwarded = f"198.51.100.{k}, 203.0.113.5"
        assert token(name, "guess", HTTP_X_FORWARDED_FOR=forwarded).status_code == 400
    assert_locked(token("alice", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.5"))
    assert token("alice", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.6").status_code == 200


def test_signing_in_clears_the_usernames_failures():
    UserFactory(username="alice")
    for _ in range(2):
        token("alice", "guess")
    assert session_login("alice", PASSWORD).status_code == 200
    for _ in range(2):
        token("alice", "guess")
    assert token("alice", PASSWORD).status_code == 200


def test_the_lockout_ends_with_its_window(settings):
    settings.AVS_LOGIN_LOCKOUT_SECONDS = 1
    UserFactory(username="alice")
    for _ in range(3):
        token("alice", "guess")
    assert_locked(token("alice", PASSWORD), window=1)
    time.sleep(1.2)
    assert token("alice", PASSWORD).status_code == 200


def admin_login(client: Client, username: str, password: str):
    return client.post("/admin/login/", {"username": username, "password": password, "next": "/admin/"})


def test_the_admin_login_is_locked_out_too_and_shares_the_count():
    UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    for _ in range(3):
        response = admin_login(client, "root", "guess")
        assert response.status_code == 200 and b"Please enter the correct username" in response.content
    locked = admin_login(client, "root", PASSWORD)
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) > 0
    assert b"Too many failed sign-in attempts" in locked.content
    assert_locked(token("root", PASSWORD))
    assert Client().get("/admin/").status_code == 302  # nobody signed in


def test_the_admin_login_works_when_not_locked():
    UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    assert admin_login(client, "root", "guess").status_code == 200
    response = admin_login(client, "root", PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_sign_in_endpoints_are_rate_limited_per_address(monkeypatch):
    # DRF reads the rates once at import (AVS_AUTH_RATE): set a small one for this test
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"auth": "3/minute"})
    UserFactory(username="alice")
    assert [token("alice", PASSWORD).status_code for _ in range(3)] == [200, 200, 200]
    refused = token("alice", PASSWORD)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert refused.json()["message"].startswith("Request was throttled.")
    assert token("alice", PASSWORD, REMOTE_ADDR="10.0.0.9").status_code == 200
