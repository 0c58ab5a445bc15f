"""Worker health against a real Celery worker on Redis (PostgreSQL shared with the test): GET /api/workers/ lists
the alive worker and its queue, a queue nobody serves is named in a queued job's `waiting_reason`, and a broker
that cannot be reached is reported quickly and readably instead of a 500."""

from __future__ import annotations

import os
import socket
import time

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from server.accounts.models import Role
from server.config.celery_app import app as celery_app
from server.jobs.models import Job
from tests.celery_worker import Worker
from tests.utils import require_service

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def redis_client():
    import redis

    url = settings.CELERY_BROKER_URL
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        client.ping()
    except redis.RedisError as exc:
        require_service("Redis", f"{url}: {exc}")
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def not_eager():
    celery_app.conf.task_always_eager = False
    yield
    celery_app.conf.task_always_eager = True


@pytest.fixture
def inference_worker(redis_client, not_eager, media_root, tmp_path):
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "set DATABASE_URL=postgres://... so the worker and the test share a database")
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "server.config.settings.local",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "AVS_MEDIA_ROOT": str(media_root),
        "AVS_MODEL_CONFIG": "",
    }
    worker = Worker(
        "inference-hg", env, tmp_path / "worker.log", queues=["inference"], task="server.annotations.tasks.x"
    )
    yield worker
    worker.stop()


def manager_client(project, make_member, client_for):
    return client_for(make_member(project, Role.MANAGER))


def wait_for_worker(client, worker: Worker, name: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert worker.proc.poll() is None, worker.text()[-4000:]
        body = client.get("/api/workers/?refresh=true").json()
        if any(w["name"] == name for w in body["workers"]):
            return body
        time.sleep(0.5)
    pytest.fail(f"the worker never answered; log:\n{worker.text()[-4000:]}")


def test_the_api_lists_the_alive_worker_and_a_queued_job_says_no_worker_serves_training(
    inference_worker, redis_client, project, make_member, client_for
):
    client = manager_client(project, make_member, client_for)
    body = wait_for_worker(client, inference_worker, "inference-hg@127.0.0.1")

    assert body["mode"] == "workers"
    assert body["broker"] == {"kind": "redis", "reachable": True, "error": ""}
    assert body["workers"] == [{"name": "inference-hg@127.0.0.1", "queues": ["inference"]}]
    queues = {q["name"]: q for q in body["queues"]}
    assert queues["inference"]["served"] and queues["inference"]["workers"] == ["inference-hg@127.0.0.1"]
    assert queues["inference"]["waiting_reason"] is None
    assert not queues["training"]["served"] and "`training` queue" in queues["training"]["waiting_reason"]

    # Two messages wait on `training` (no worker takes them): the Redis queue length says so.
    for _ in range(2):
        celery_app.send_task("tests.never_run", queue="training", routing_key="training")
    lengths = {q["name"]: q["length"] for q in client.get("/api/workers/?refresh=true").json()["queues"]}
    assert lengths == {"ingest": 0, "inference": 0, "training": 2}

    train = Job.objects.create(project=project, kind=Job.Kind.TRAIN, message="Queued for training.")
    infer = Job.objects.create(project=project, kind=Job.Kind.PREANNOTATE, message="Queued for pre-annotation.")
    done = Job.objects.create(project=project, kind=Job.Kind.TRAIN, status=Job.Status.SUCCEEDED)
    jobs = {j["id"]: j for j in client.get(f"/api/projects/{project.pk}/jobs/").json()["results"]}
    reason = jobs[train.pk]["waiting_reason"]
    assert reason.startswith("No worker serves the `training` queue") and "deploy/start-worker.sh training" in reason
    assert jobs[infer.pk]["waiting_reason"] is None  # the inference worker will take it
    assert jobs[done.pk]["waiting_reason"] is None
    assert client.get(f"/api/jobs/{train.pk}/").json()["waiting_reason"] == reason

    # Once the worker has gone, its queue is no longer served (after the cached answer expires).
    inference_worker.stop()
    body = client.get("/api/workers/?refresh=true").json()
    assert body["workers"] == []
    detail = client.get(f"/api/jobs/{infer.pk}/").json()
    assert detail["waiting_reason"].startswith("No worker serves the `inference` queue")


def test_workers_are_for_admins_and_managers_only(project, make_member, client_for, not_eager, redis_client):
    annotator = client_for(make_member(project, Role.ANNOTATOR))
    response = annotator.get("/api/workers/")
    assert response.status_code == 403
    assert "managers" in response.json()["message"]
    assert client_for().get("/api/workers/").status_code in (401, 403)
    assert manager_client(project, make_member, client_for).get("/api/workers/").status_code == 200


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_broker_that_is_down_is_reported_quickly_not_as_a_500(project, make_member, client_for, not_eager):
    saved = celery_app.conf.broker_url
    celery_app.conf.broker_url = f"redis://127.0.0.1:{closed_port()}/0"
    try:
        client = manager_client(project, make_member, client_for)
        started = time.monotonic()
        response = client.get("/api/workers/?refresh=true")
        elapsed = time.monotonic() - started
        assert response.status_code == 200, response.content
        body = response.json()
        assert elapsed < 3.0
        assert body["broker"]["reachable"] is False
        assert body["broker"]["error"].startswith("broker unreachable (redis)")
        assert body["workers"] == [] and all(q["length"] is None for q in body["queues"])

        job = Job.objects.create(project=project, kind=Job.Kind.INGEST)
        listed = client.get(f"/api/projects/{project.pk}/jobs/").json()["results"]
        assert listed[0]["id"] == job.pk
        assert listed[0]["waiting_reason"].startswith("The task broker is unreachable")

        # With nothing cached, the jobs list does not wait for the broker: the reason comes on a later read.
        cache.clear()
        started = time.monotonic()
        first = client.get(f"/api/projects/{project.pk}/jobs/").json()["results"][0]
        assert time.monotonic() - started < 1.0
        assert first["waiting_reason"] is None
        deadline = time.monotonic() + 5
        while (reason := client.get(f"/api/jobs/{job.pk}/").json()["waiting_reason"]) is None:
            assert time.monotonic() < deadline, "the background refresh never filled the cache"
            time.sleep(0.1)
        assert reason.startswith("The task broker is unreachable")
    finally:
        celery_app.conf.broker_url = saved
