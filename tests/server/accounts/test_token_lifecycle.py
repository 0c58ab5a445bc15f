"""API tokens: revoked by their owner, and expiring AVS_TOKEN_TTL_SECONDS after they were issued."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import UserFactory
from tests.server.accounts.world import PASSWORD

pytestmark = pytest.mark.django_db

EXPIRED = "This token has expired: sign in again (POST /api/auth/token/) for a new one."


def obtain(username: str = "alice") -> dict:
    response = APIClient().post("/api/auth/token/", {"username": username, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def with_token(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_revoking_signs_every_client_of_the_token_out_and_a_new_one_can_be_had():
    UserFactory(username="alice")
    key = obtain()["token"]
    script, notebook = with_token(key), with_token(key)
    assert notebook.get("/api/auth/me/").status_code == 200

    assert script.post("/api/auth/token/revoke/").status_code == 204
    refused = notebook.get("/api/auth/me/")
    assert refused.status_code == 401
    assert refused.json() == {"message": "Invalid token.", "extra": {}}

    fresh = obtain()["token"]
    assert fresh != key
    assert with_token(fresh).get("/api/auth/me/").json()["username"] == "alice"


def test_the_web_app_can_revoke_the_api_token_and_keeps_its_session():
    UserFactory(username="alice")
    key = obtain()["token"]
    browser = Client(enforce_csrf_checks=True)
    browser.get("/api/auth/me/")
    csrf = {"HTTP_X_CSRFTOKEN": browser.cookies["csrftoken"].value}
    browser.post(
        "/api/auth/login/", {"username": "alice", "password": PASSWORD}, content_type="application/json", **csrf
    )
    csrf = {"HTTP_X_CSRFTOKEN": browser.cookies["csrftoken"].value}  # rotated on sign-in
    assert browser.post("/api/auth/token/revoke/").status_code == 403  # a session write needs the CSRF token
    assert browser.post("/api/auth/token/revoke/", **csrf).status_code == 204
    assert with_token(key).get("/api/auth/me/").status_code == 401
    assert browser.get("/api/auth/me/").status_code == 200
    # revoking again is harmless
    assert browser.post("/api/auth/token/revoke/", **csrf).status_code == 204


def test_revoking_needs_a_signed_in_user():
    assert APIClient().post("/api/auth/token/revoke/").status_code == 401


def test_tokens_do_not_expire_by_default():
    UserFactory(username="alice")
    data = obtain()
    assert data["expires_at"] is None
    Token.objects.filter(key=data["token"]).update(created=timezone.now() - datetime.timedelta(days=3650))
    assert with_token(data["token"]).get("/api/auth/me/").status_code == 200


def test_an_expired_token_is_refused_and_deleted_and_signing_in_gives_a_new_one(settings):
    settings.AVS_TOKEN_TTL_SECONDS = 3600
    user = UserFactory(username="alice")
    data = obtain()
    token = Token.objects.get(key=data["token"])
    assert parse_datetime(data["expires_at"]) == token.created + datetime.timedelta(seconds=3600)
    assert with_token(token.key).get("/api/auth/me/").status_code == 200

    Token.objects.filter(pk=token.pk).update(created=timezone.now() - datetime.timedelta(seconds=3601))
    refused = with_token(token.key).get("/api/auth/me/")
    assert refused.status_code == 401
    assert refused.json() == {"message": EXPIRED, "extra": {}}
    assert not Token.objects.filter(user=user).exists()

    fresh = obtain()
    assert fresh["token"] != token.key
    assert with_token(fresh["token"]).get("/api/auth/me/").status_code == 200


def test_signing_in_with_an_expired_token_on_file_issues_a_new_key(settings):
    settings.AVS_TOKEN_TTL_SECONDS = 60
    UserFactory(username="alice")
    old = obtain()["token"]
    assert obtain()["token"] == old  # still valid: the same key
    Token.objects.filter(key=old).update(created=timezone.now() - datetime.timedelta(seconds=61))
    new = obtain()["token"]
    assert new != old
    assert with_token(new).get("/api/auth/me/").status_code == 200
