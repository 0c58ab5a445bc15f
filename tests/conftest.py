from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from server.accounts.models import Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings):
    """Every test writes media to its own folder."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


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
