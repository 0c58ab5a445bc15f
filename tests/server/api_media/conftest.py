import pytest

from tests.server.accounts.world import build_world


@pytest.fixture
def world(db):
    return build_world()
