"""`manage.py ensure_admin` and the password rules (common passwords, passwords like the username)."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def admin_env(monkeypatch):
    for name in ("AVS_ADMIN_USERNAME", "AVS_ADMIN_PASSWORD", "AVS_ADMIN_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def ensure_admin() -> str:
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    return out.getvalue()


def signs_in(username: str, password: str) -> bool:
    response = APIClient().post("/api/auth/token/", {"username": username, "password": password}, format="json")
    return response.status_code == 200


@pytest.mark.parametrize(
    ("password", "reason"),
    [("password123", "This password is too common."), ("alice-smith", "The password is too similar to the username.")],
)
def test_common_passwords_and_passwords_like_the_username_are_refused(password, reason):
    with pytest.raises(ValidationError) as caught:
        validate_password(password, user=UserFactory.build(username="alice-smith"))
    assert reason in caught.value.messages


def test_the_generated_admin_password_passes_the_rules_and_signs_in():
    output = ensure_admin()
    password = re.search(r"with password: (\S+)", output).group(1)
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser
    validate_password(password, user=admin)
    assert signs_in("admin", password)
    assert ensure_admin().strip() == "Admin account exists."


def test_a_weak_admin_password_from_the_environment_is_refused(admin_env):
    admin_env.setenv("AVS_ADMIN_USERNAME", "root")
    admin_env.setenv("AVS_ADMIN_PASSWORD", "qwerty123")
    with pytest.raises(CommandError, match="AVS_ADMIN_PASSWORD is too weak: This password is too common."):
        ensure_admin()
    assert not get_user_model().objects.filter(username="root").exists()


def test_a_good_admin_password_from_the_environment_is_used(admin_env):
    admin_env.setenv("AVS_ADMIN_USERNAME", "root")
    admin_env.setenv("AVS_ADMIN_PASSWORD", "violet-harbour-71-kettle")
    assert "password from AVS_ADMIN_PASSWORD" in ensure_admin()
    assert signs_in("root", "violet-harbour-71-kettle")
