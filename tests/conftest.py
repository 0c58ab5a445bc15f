from __future__ import annotations

import os

import pytest
from rest_framework.test import APIClient

from server.accounts.models import Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.labelstudio_server import labelstudio_server  # noqa: F401 (a real Label Studio for the bridge's tests)


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings):
    """Every test writes media (and resumable uploads' parts) to its own folders."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.AVS_UPLOAD_DIR = str(tmp_path / "uploads")
    return tmp_path / "media"


@pytest.fixture(autouse=True)
def cache_clear():
    """Every test starts with an empty cache: sign-in lockout counts and throttles do not carry over."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def project(db):
    return ProjectFactory()


@pytest.fixture
def make_member(db):
    def make(project, role: str = Role.ANNOTATOR, **user_kwargs):
        user = UserFactory(**user_kwargs)
        MembershipFactory(project=project, user=user, role=role)
        return user

    return make


@pytest.fixture
def client_for():
    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user=user)
        return client

    return make


@pytest.fixture(scope="session")
def tiny_model_config(tmp_path_factory):
    """`config.json` of the ML backend's tiny random models (incl. a tiny SAM), written once per session by
    its `fixtures` command; for server tests that need a configured model (AVS_MODEL_CONFIG)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ml_backend.__main__ import main

    out = tmp_path_factory.mktemp("tiny_models")
    assert main(["fixtures", "--out", str(out), "--seed", "0"]) == 0
    return out / "config.json"


@pytest.fixture
def sam_configured(settings, tiny_model_config):
    """AVS_MODEL_CONFIG points at the tiny models; SAM sessions (and their embedding caches) start empty
    and are dropped afterwards."""
    from ml_backend.serving.interactive import sam_sessions_clear

    settings.AVS_MODEL_CONFIG = str(tiny_model_config)
    sam_sessions_clear()
    yield tiny_model_config
    sam_sessions_clear()


@pytest.fixture
def actor(make_member):
    """`actor(project, who)` → a user (None for "anonymous"): "outsider" is a signed-in non-member,
    "superuser" a non-member superuser, any other value a member with that role."""

    def make(project, who: str):
        if who == "anonymous":
            return None
        if who == "outsider":
            return UserFactory()
        if who == "superuser":
            return UserFactory(is_superuser=True)
        return make_member(project, role=who)

    return make
