"""A real Celery worker on Redis ingests a real clip end to end (PostgreSQL shared with the test)."""

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
from server.jobs.models import Job
from server.media.models import Clip
from server.media.services import clip_create_from_file
from tests.media_files import DEMO_SMALL
from tests.utils import require_service

ROOT = Path(__file__).resolve().parents[3]
DEMO = DEMO_SMALL

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
    return url


@pytest.fixture
def worker(redis_url, media_root, tmp_path):
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "set DATABASE_URL=postgres://... so the worker and the test share a database")
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "server.config.settings.local",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": redis_url,
        "AVS_MEDIA_ROOT": str(media_root),
    }
    log = open(tmp_path / "worker.log", "w+")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "server.config",
            "worker",
            "-Q",
            "ingest",
            "--pool",
            "solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    celery_app.conf.task_always_eager = False
    yield proc, log
    celery_app.conf.task_always_eager = True
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _wait_for_job(job_id: int, proc, log, timeout: float = 180.0) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED):
            return job
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    log.seek(0)
    pytest.fail(f"worker did not finish job {job_id} (exit {proc.poll()}); log:\n{log.read()[-4000:]}")


def test_real_worker_ingests_demo_clip(worker, project, media_root):
    proc, log = worker
    with open(DEMO, "rb") as fh:
        clip, job, created = clip_create_from_file(project=project, file=File(fh, name=DEMO.name), name=DEMO.name)
    assert created and job is not None
    assert Clip.objects.get(pk=clip.pk).status in (Clip.Status.UPLOADED, Clip.Status.PROCESSING)

    job = _wait_for_job(job.pk, proc, log)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.progress == 100

    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY
    assert clip.has_audio
    assert clip.frames.count() == 5  # 5.0 s at the project's default 1 fps
    for frame in clip.frames.all():
        assert (media_root / frame.image.name).stat().st_size > 0
    assert clip.audio.sample_rate == 16000
    assert abs(clip.audio.duration - clip.duration) < 0.2
