"""`manage.py check` (jobs.E001): the broker's visibility timeout must exceed the longest task time limit, or
Redis/SQS would hand a task that is still running to a second worker. Workers run the same check before they
start (tests/server/integration/test_poison_loop.py)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from server.config.celery_app import app as celery_app
from server.jobs.checks import broker_visibility_problem
from server.media.tasks import INGEST_TIME_LIMIT


@pytest.fixture
def broker():
    """`broker(url, options)` sets the Celery app's broker for the test."""
    saved = celery_app.conf.broker_url, celery_app.conf.broker_transport_options

    def use(url: str, options: dict | None = None) -> None:
        celery_app.conf.broker_url, celery_app.conf.broker_transport_options = url, options or {}

    yield use
    celery_app.conf.broker_url, celery_app.conf.broker_transport_options = saved


def test_a_visibility_timeout_below_the_longest_time_limit_fails_the_check(broker):
    broker("redis://127.0.0.1:6379/6", {"visibility_timeout": 3600})
    with pytest.raises(SystemCheckError) as raised:
        call_command("check")
    text = str(raised.value)
    assert "(jobs.E001) The broker's visibility timeout (3600 s, setting CELERY_VISIBILITY_TIMEOUT) does not " in text
    assert f"exceed the longest task time limit ({INGEST_TIME_LIMIT} s, " in text
    assert f"Set CELERY_VISIBILITY_TIMEOUT above {INGEST_TIME_LIMIT} seconds." in text


def test_the_defaults_pass(broker):
    broker("redis://127.0.0.1:6379/6", {"visibility_timeout": 4 * 3600})  # CELERY_VISIBILITY_TIMEOUT's default
    call_command("check")
    assert broker_visibility_problem(celery_app) is None


@pytest.mark.parametrize(
    ("url", "options", "problem"),
    [
        ("redis://127.0.0.1:6379/0", {}, "(3600 s"),  # kombu's default for Redis
        ("rediss://cache.example:6380/0", {"visibility_timeout": 7000}, "(7000 s"),
        ("sqs://", {}, "(1800 s"),  # kombu's default for SQS
        ("redis://127.0.0.1:6379/0", {"visibility_timeout": INGEST_TIME_LIMIT + 1}, None),
        ("filesystem://", {}, None),  # no visibility timeout: nothing is handed over while it runs
        ("amqp://guest@localhost//", {}, None),
    ],
)
def test_which_brokers_are_checked(broker, url, options, problem):
    broker(url, options)
    found = broker_visibility_problem(celery_app)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found and "CELERY_VISIBILITY_TIMEOUT" in found


def test_the_check_can_be_silenced_for_a_deliberately_short_timeout(broker, settings):
    broker("redis://127.0.0.1:6379/6", {"visibility_timeout": 5})
    settings.SILENCED_SYSTEM_CHECKS = ["jobs.E001"]
    call_command("check")
