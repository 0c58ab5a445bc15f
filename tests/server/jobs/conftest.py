from __future__ import annotations

import pytest

from tests.factories import UserFactory


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
