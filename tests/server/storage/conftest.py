"""Fixtures for media in object storage: a real S3-protocol server (moto_server on 127.0.0.1, one per session), a
fresh media bucket per test with the settings of `AVS_MEDIA_STORAGE=storages.backends.s3.S3Storage`, and real Celery
workers (Redis, the test's PostgreSQL) whose only media storage is that bucket: their AVS_MEDIA_ROOT is an empty
folder of their own, so nothing passes through a shared filesystem."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from server.config.celery_app import app as celery_app
from server.config.settings.base import s3_options
from server.jobs.models import Job
from tests.celery_worker import Worker
from tests.s3_server import ACCESS_KEY, REGION, SECRET_KEY, MotoServer
from tests.utils import require_service

S3_BACKEND = "storages.backends.s3.S3Storage"
_buckets = itertools.count()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> Iterator[MotoServer]:
    """moto's S3 server on a free 127.0.0.1 port for the whole session; stopped at its end."""
    try:
        import moto.server  # noqa: F401
    except ImportError as exc:
        require_service("moto_server", f"moto[server] is not installed ({exc}): pip install -r requirements/dev.txt")
    server = MotoServer(log_path=tmp_path_factory.mktemp("moto") / "moto.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


class MediaBucket:
    """The test's media bucket on `server`: `keys(prefix)` lists it, `read(key)` reads one object."""

    def __init__(self, server: MotoServer, name: str):
        self.server = server
        self.name = name
        self.client = server.client()

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        return sorted(entry["Key"] for page in pages for entry in page.get("Contents", ()))

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()

    def put(self, key: str, path: Path) -> None:
        self.client.upload_file(str(path), self.name, key)


def s3_env(*, bucket: str, endpoint_url: str) -> dict[str, str]:
    """The environment of a process whose media live in `bucket` at `endpoint_url` (as deploy/env.example says)."""
    return {
        "AVS_MEDIA_STORAGE": S3_BACKEND,
        "AVS_S3_BUCKET": bucket,
        "AVS_S3_ENDPOINT_URL": endpoint_url,
        "AVS_S3_REGION": REGION,
        "AVS_S3_ACCESS_KEY_ID": ACCESS_KEY,
        "AVS_S3_SECRET_ACCESS_KEY": SECRET_KEY,
        "AVS_S3_ADDRESSING_STYLE": "path",
    }


@pytest.fixture
def media_bucket(s3_server, settings, media_root) -> MediaBucket:
    """A new, empty bucket that is this test process's media storage (S3Storage), with the AVS_S3_* settings naming
    moto's endpoint and keys (also what `s3_client` uses to read other buckets)."""
    name = f"avs-media-{os.getpid()}-{next(_buckets)}"
    s3_server.client().create_bucket(Bucket=name)
    settings.AVS_S3_BUCKET = name
    settings.AVS_S3_ENDPOINT_URL = s3_server.url
    settings.AVS_S3_REGION = REGION
    settings.AVS_S3_ACCESS_KEY_ID = ACCESS_KEY
    settings.AVS_S3_SECRET_ACCESS_KEY = SECRET_KEY
    settings.AVS_S3_ADDRESSING_STYLE = "path"
    options = s3_options(
        AVS_S3_BUCKET=name,
        AVS_S3_ENDPOINT_URL=s3_server.url,
        AVS_S3_REGION=REGION,
        AVS_S3_ACCESS_KEY_ID=ACCESS_KEY,
        AVS_S3_SECRET_ACCESS_KEY=SECRET_KEY,
        AVS_S3_ADDRESSING_STYLE="path",
    )
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": S3_BACKEND, "OPTIONS": options}}
    return MediaBucket(s3_server, name)


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
def start_worker(redis_url, media_bucket, tmp_path) -> Iterator[Callable[..., Worker]]:
    """`start_worker(name, endpoint_url=None, queues=("ingest",), **env)`: a real worker of the project's Celery app
    whose media storage is the test's bucket at `endpoint_url` (default: moto itself), with an empty media folder of
    its own; our process queues tasks instead of running them. Stopped at the end."""
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "set DATABASE_URL=postgres://... so the workers and the test share a database")
    db = connection.settings_dict
    workers: list[Worker] = []

    def start(
        name: str, *, endpoint_url: str | None = None, queues: tuple[str, ...] = ("ingest",), **extra: str
    ) -> Worker:
        own_folder = tmp_path / f"{name}-media"
        own_folder.mkdir()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "server.config.settings.local",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "CELERY_BROKER_URL": redis_url,
            "AVS_MEDIA_ROOT": str(own_folder),
            "AVS_LOG_LEVEL": "INFO",
            "HF_HUB_OFFLINE": "1",
            **s3_env(bucket=media_bucket.name, endpoint_url=endpoint_url or media_bucket.server.url),
            **extra,
        }
        worker = Worker(name, env, tmp_path / f"{name}.log", queues=queues, task="server.media.tasks.clip_ingest_task")
        worker.media_folder = own_folder
        workers.append(worker)
        return worker

    celery_app.conf.task_always_eager = False
    yield start
    celery_app.conf.task_always_eager = True
    for worker in workers:
        worker.stop()


def wait_for_job(job_id: int, *, worker: Worker, timeout: float = 240.0) -> Job:
    """The job once it has succeeded or failed; fails the test with the worker's log when it does not finish."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED):
            return job
        if worker.proc.poll() is not None:
            break
        time.sleep(0.2)
    pytest.fail(f"job {job_id} did not finish (worker exit {worker.proc.poll()}); log:\n{worker.text()[-6000:]}")


def local_files(folder: Path) -> list[str]:
    """Files under `folder` (none when it does not exist)."""
    return (
        sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()) if folder.exists() else []
    )
