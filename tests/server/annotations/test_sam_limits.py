"""SAM clicks are bounded in the web process: per user (AVS_SAM_CLICK_RATE, 429) and per process
(AVS_SAM_MAX_CONCURRENT at once, 503 after AVS_SAM_WAIT_SECONDS), both with Retry-After and the API's error shape.

Runs the real endpoint on the tiny random SAM (`sam_configured`)."""

from __future__ import annotations

import threading
import time

import pytest
from django.core.cache import cache

from server.accounts.models import Role
from server.annotations.sam_limits import sam_slot
from tests.factories import ClipFactory
from tests.server.annotations.test_sam_api import HEIGHT, WIDTH, click, noisy_frame

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counts():
    cache.clear()  # throttle counts live in the cache
    yield
    cache.clear()


@pytest.fixture
def frame(project):
    return noisy_frame(ClipFactory(project=project, width=WIDTH, height=HEIGHT), 0)


def test_a_user_above_the_click_rate_gets_429_and_others_still_click(
    project, frame, make_member, client_for, sam_configured, settings
):
    settings.AVS_SAM_CLICK_RATE = "3/minute"
    alice = client_for(make_member(project, role=Role.ANNOTATOR))
    bob = client_for(make_member(project, role=Role.ANNOTATOR))

    assert [click(alice, frame).status_code for _ in range(3)] == [200, 200, 200]
    refused = click(alice, frame)
    assert refused.status_code == 429
    retry_after = int(refused["Retry-After"])
    assert 1 <= retry_after <= 60
    assert refused.json() == {
        "message": "Too many SAM clicks: at most 3/minute per user (setting AVS_SAM_CLICK_RATE). "
        f"Try again in {retry_after} s.",
        "extra": {"setting": "AVS_SAM_CLICK_RATE", "retry_after": retry_after},
    }
    assert click(bob, frame).status_code == 200  # counted per user


def test_when_every_sam_slot_is_busy_a_click_gets_503_with_retry_after(
    project, frame, make_member, client_for, sam_configured, settings
):
    settings.AVS_SAM_MAX_CONCURRENT = 1
    settings.AVS_SAM_WAIT_SECONDS = 0.2
    annotator = client_for(make_member(project, role=Role.ANNOTATOR))
    with sam_slot():  # another request of this process is running SAM
        started = time.monotonic()
        busy = click(annotator, frame)
        waited = time.monotonic() - started
    assert busy.status_code == 503
    assert busy["Retry-After"] == "1"
    assert busy.json() == {
        "message": "SAM is busy: this server runs at most 1 SAM click at once (setting AVS_SAM_MAX_CONCURRENT). "
        "Try again in a moment.",
        "extra": {"setting": "AVS_SAM_MAX_CONCURRENT", "retry_after": 1},
    }
    assert 0.2 <= waited < 5  # it waited for a slot, briefly
    assert click(annotator, frame).status_code == 200  # the slot is free again


def test_a_click_waits_for_a_slot_that_frees_up_in_time(
    project, frame, make_member, client_for, sam_configured, settings
):
    settings.AVS_SAM_MAX_CONCURRENT = 1
    settings.AVS_SAM_WAIT_SECONDS = 10.0
    annotator = client_for(make_member(project, role=Role.ANNOTATOR))
    holding, release = threading.Event(), threading.Event()

    def other_request() -> None:
        with sam_slot():
            holding.set()
            release.wait(timeout=10)

    thread = threading.Thread(target=other_request)
    thread.start()
    assert holding.wait(timeout=10)
    threading.Timer(0.3, release.set).start()
    response = click(annotator, frame)
    thread.join()
    assert response.status_code == 200, response.json()
