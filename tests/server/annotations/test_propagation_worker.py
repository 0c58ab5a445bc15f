"""A real Celery worker on Redis propagates an annotator's masks with the tiny random SAM 2 video tracker (PostgreSQL
shared with the test), end to end: POST -> the job succeeds -> the frames have masks -> the range is accepted ->
the annotations are stored; accepting again from stale versions is a 409 that stores nothing."""

from __future__ import annotations

import os
import time

import pytest
from django.conf import settings
from django.db import connection

from server.accounts.models import Role
from server.annotations.models import Annotation
from server.config.celery_app import app as celery_app
from server.jobs.models import Job
from tests.celery_worker import Worker
from tests.server.annotations.propagation_world import FRAMES, SILENT_WINDOWS, H, W, propagate_body, store_clip
from tests.server.annotations.propagation_world import tracker_config as write_tracker_config
from tests.utils import require_service

TASK = "server.annotations.tasks.propagate_task"
WORKER_SETTINGS = "tests.server.preannotation.worker_settings"

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def redis_url():
    import redis

    url = settings.CELERY_BROKER_URL
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        client.ping()
    except redis.RedisError as exc:
        require_service("Redis", f"{url}: {exc}")
    client.flushdb()  # no stale messages from an earlier run
    yield url
    client.flushdb()


@pytest.fixture
def worker(redis_url, media_root, tmp_path, tiny_model_config, settings):
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "set DATABASE_URL=postgres://... so the worker and the test share a database")
    config = str(write_tracker_config(tiny_model_config))
    settings.AVS_MODEL_CONFIG = config  # the web side checks the tracker before it queues
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": WORKER_SETTINGS,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": redis_url,
        "AVS_MEDIA_ROOT": str(media_root),
        "AVS_MODEL_CONFIG": config,
        "AVS_LOG_LEVEL": "INFO",
        "HF_HUB_OFFLINE": "1",
    }
    celery_app.conf.task_always_eager = False
    started = Worker("inference1", env, tmp_path / "inference1.log", queues=("inference",), task=TASK)
    yield started
    celery_app.conf.task_always_eager = True
    started.stop()


def finished(job_id: int) -> Job | None:
    job = Job.objects.get(pk=job_id)
    return job if job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED) else None


def wait_until(condition, *, worker: Worker, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if worker.proc.poll() is not None:
            break
        time.sleep(0.05)
    pytest.fail(f"{what} did not happen (worker exit {worker.proc.poll()}); log:\n{worker.text()[-5000:]}")


def test_a_worker_propagates_the_masks_and_the_range_is_accepted(
    project, worker, make_member, client_for, django_capture_on_commit_callbacks
):
    clip = store_clip(project)
    client = client_for(make_member(project, role=Role.ANNOTATOR))
    with django_capture_on_commit_callbacks(execute=True):  # the task goes to Redis once the request commits
        response = client.post(f"/api/clips/{clip.pk}/propagations/", propagate_body(), format="json")
    assert response.status_code == 202, response.content
    propagation = response.json()

    job = wait_until(lambda: finished(propagation["job"]["id"]), worker=worker, timeout=240, what="the propagation")
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert worker.task_ids("succeeded"), worker.text()[-3000:]
    done = client.get(f"/api/propagations/{propagation['id']}/").json()
    assert done["status"] == "succeeded" and done["progress"] == 1.0
    assert [f["frame_index"] for f in done["frames"]] == list(range(FRAMES))
    assert all(f["instances"][0]["mask"]["size"] == [H, W] and f["instances"][0]["area"] > 0 for f in done["frames"])
    assert [f["silent"] for f in done["frames"]] == [k in SILENT_WINDOWS for k in range(FRAMES)]

    accepted = client.post(f"/api/propagations/{propagation['id']}/accept/", {"base_versions": {}}, format="json")
    assert accepted.status_code == 200, accepted.content
    audible = [k for k in range(1, FRAMES) if k not in SILENT_WINDOWS]
    assert [a["frame_index"] for a in accepted.json()["accepted"]] == audible
    stored = {a.frame.index: a for a in Annotation.objects.filter(clip=clip).select_related("frame")}
    assert sorted(stored) == audible and all(a.version == 1 for a in stored.values())
    by_index = {f["frame_index"]: f for f in done["frames"]}
    for index, annotation in stored.items():
        assert annotation.instances[0]["mask"] == by_index[index]["instances"][0]["mask"]

    # the client's versions are stale now (it says the frames have no annotation): nothing is stored
    again = client.post(
        f"/api/propagations/{propagation['id']}/accept/",
        {"include_silent": True, "base_versions": {str(k): None for k in range(FRAMES)}},
        format="json",
    )
    assert again.status_code == 409
    assert again.json()["extra"]["stale_frames"] == audible
    assert Annotation.objects.filter(clip=clip).count() == len(audible)
    assert all(a.version == 1 for a in Annotation.objects.filter(clip=clip))
