"""Real Celery workers on Redis (PostgreSQL shared with the test):

- a clip whose ingest kills the worker's child process every time (as the out-of-memory killer would) is
  requeued AVS_TASK_MAX_DELIVERIES times, then failed with a readable message instead of looping forever, while
  the worker lives on and ingests the next clip;
- a worker refuses to start when the broker's visibility timeout does not exceed the longest task time limit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files import File
from django.db import connection

from server.config.celery_app import app as celery_app
from server.jobs.models import Job, TaskDelivery
from server.media.models import Clip
from server.media.services import clip_create_from_file
from tests.media_files import DEMO_SMALL, make_video
from tests.utils import require_service

ROOT = Path(__file__).resolve().parents[3]
WORKER_SETTINGS = "tests.server.integration.poison_worker_settings"

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
def worker_env(redis_url, media_root):
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "set DATABASE_URL=postgres://... so the worker and the test share a database")
    db = connection.settings_dict
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": redis_url,
        "AVS_MEDIA_ROOT": str(media_root),
        "AVS_TASK_MAX_DELIVERIES": "3",
        "AVS_LOG_LEVEL": "INFO",
    }


def celery_worker(env: dict[str, str], log: Path, *pool: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "server.config", "worker", "-Q", "ingest", *pool]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


@pytest.fixture
def worker(worker_env, tmp_path):
    """One worker, one child process (prefork): a child that dies is replaced, its task requeued."""
    log = tmp_path / "worker.log"
    proc = celery_worker(
        {**worker_env, "DJANGO_SETTINGS_MODULE": WORKER_SETTINGS}, log, "--pool", "prefork", "--concurrency", "1"
    )
    celery_app.conf.task_always_eager = False
    yield proc, log
    celery_app.conf.task_always_eager = True
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def upload(project, path: Path, name: str) -> tuple[Clip, Job]:
    with open(path, "rb") as handle:  # queued on Redis once the upload's transaction commits
        clip, job, created = clip_create_from_file(project=project, file=File(handle, name=name), name=name)
    assert created and job is not None
    return clip, job


def wait_for_jobs(job_ids: list[int], proc: subprocess.Popen, log: Path, timeout: float = 150.0) -> list[Job]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = list(Job.objects.filter(pk__in=job_ids).order_by("pk"))
        if all(job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED) for job in jobs):
            return jobs
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    pytest.fail(f"jobs {job_ids} did not finish (worker exit {proc.poll()}); log:\n{log.read_text()[-6000:]}")


def test_a_clip_that_kills_its_worker_is_failed_after_three_deliveries(worker, project, media_root, tmp_path):
    proc, log = worker
    poison, poison_job = upload(project, DEMO_SMALL, "crash-huge.mp4")
    fine, fine_job = upload(project, make_video(tmp_path / "fine.mp4", seconds=2.0, fps=10), "fine.mp4")

    poison_job, fine_job = wait_for_jobs([poison_job.pk, fine_job.pk], proc, log)

    text = log.read_text()
    assert text.count("WorkerLostError") >= 3, text[-6000:]  # the child died on each of the three deliveries
    assert proc.poll() is None  # the worker itself lives on

    poison.refresh_from_db()
    assert poison.status == Clip.Status.FAILED
    assert poison.error.startswith(
        "Ingest stopped after 3 deliveries: the worker died while running it (out of memory?)"
    ), poison.error
    assert (poison_job.status, poison_job.error) == (Job.Status.FAILED, poison.error)
    assert not poison.frames.exists()
    assert TaskDelivery.objects.get(job=poison_job).total == 4  # three that died, the fourth refused

    fine.refresh_from_db()
    assert fine_job.status == Job.Status.SUCCEEDED, fine_job.error
    assert fine.status == Clip.Status.READY and fine.frames.count() == 2

    # Nothing of the poison clip is left to loop on: no message in Redis, no more deliveries.
    import redis

    time.sleep(2)
    assert redis.Redis.from_url(settings.CELERY_BROKER_URL).llen("ingest") == 0
    assert TaskDelivery.objects.get(job=poison_job).total == 4


def test_a_worker_refuses_to_start_when_the_visibility_timeout_is_below_a_time_limit(worker_env, tmp_path):
    log = tmp_path / "refused.log"
    env = {**worker_env, "DJANGO_SETTINGS_MODULE": "server.config.settings.local", "CELERY_VISIBILITY_TIMEOUT": "600"}
    proc = celery_worker(env, log, "--pool", "solo")
    try:
        code = proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"the worker started; log:\n{log.read_text()[-4000:]}")
    text = log.read_text()
    assert code != 0
    assert "Refusing to start the worker (jobs.E001): The broker's visibility timeout (600 s, setting " in text
    assert "CELERY_VISIBILITY_TIMEOUT) does not exceed the longest task time limit (7500 s" in text
    assert "ready." not in text  # it never consumed anything
