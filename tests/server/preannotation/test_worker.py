"""Real Celery workers on Redis pre-annotate ingested synthetic clips with the tiny OpenAVS models (PostgreSQL
shared with the test): end to end, models loaded once per worker, and a worker killed mid-job (SIGKILL) whose
clip is redelivered to a new worker without losing or duplicating anything."""

from __future__ import annotations

import os
import signal
import time

import pytest
from django.conf import settings
from django.db import connection

from server.accounts.models import Role
from server.annotations.models import Proposal
from server.config.celery_app import app as celery_app
from server.jobs.models import Job
from server.learning.models import ModelVersion
from tests.celery_worker import Worker
from tests.utils import require_service

TASK = "server.annotations.tasks.clip_preannotate_task"
WORKER_SETTINGS = "tests.server.preannotation.worker_settings"  # Redis redelivers a dead worker's task in 20 s

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
def start_worker(redis_url, media_root, tmp_path):
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "set DATABASE_URL=postgres://... so the workers and the test share a database")
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": WORKER_SETTINGS,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": redis_url,
        "AVS_MEDIA_ROOT": str(media_root),
        "AVS_MODEL_CONFIG": "",
        "AVS_LOG_LEVEL": "INFO",
        "HF_HUB_OFFLINE": "1",
    }
    workers: list[Worker] = []

    def start(name: str) -> Worker:
        worker = Worker(name, env, tmp_path / f"{name}.log", queues=("inference",), task=TASK)
        workers.append(worker)
        return worker

    celery_app.conf.task_always_eager = False
    yield start
    celery_app.conf.task_always_eager = True
    for worker in workers:
        worker.stop()


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


def finished(job_id: int) -> Job | None:
    job = Job.objects.get(pk=job_id)
    return job if job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED) else None


def request_preannotation(project, make_member, client_for, capture) -> int:
    client = client_for(make_member(project, Role.MANAGER))
    with capture(execute=True):  # the tasks go to Redis once the request's transaction commits
        response = client.post(f"/api/projects/{project.pk}/preannotate/", {}, format="json")
    assert response.status_code == 202, response.content
    return response.json()["id"]


def test_a_worker_preannotates_the_clips_with_models_loaded_once(
    tiny_project, synth_clips, start_worker, make_member, client_for, django_capture_on_commit_callbacks
):
    job_id = request_preannotation(tiny_project, make_member, client_for, django_capture_on_commit_callbacks)
    worker = start_worker("inference1")
    job = wait_until(lambda: finished(job_id), worker=worker, timeout=240, what="the pre-annotation job")

    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.progress == 100 and job.result["counts"] == {"total": 3, "done": 3, "skipped": 0, "failed": 0}
    (version,) = ModelVersion.objects.filter(project=tiny_project)
    assert version.kind == ModelVersion.Kind.OPENAVS
    for clip in synth_clips:
        (proposal,) = Proposal.objects.filter(clip=clip)
        sizes = {f.index: [f.height, f.width] for f in clip.frames.all()}
        assert {e["frame_index"] for e in proposal.frames} == set(sizes)
        assert all(i["mask"]["size"] == sizes[e["frame_index"]] for e in proposal.frames for i in e["instances"])

    # One worker process, three clips: every model was loaded once (the process cache), not once per clip.
    log = worker.text()
    assert len(worker.task_ids("succeeded")) == 3
    for kind in ("clap", "grounding", "sam", "llm"):
        assert log.count(f"loaded the {kind} model in") == 1, log[-5000:]


def test_a_worker_killed_mid_job_loses_nothing_and_duplicates_nothing(
    tiny_project,
    synth_clips,
    synth_videos,
    ingest_clip,
    start_worker,
    make_member,
    client_for,
    django_capture_on_commit_callbacks,
):
    clips = [*synth_clips, ingest_clip(tiny_project, synth_videos[3])]
    job_id = request_preannotation(tiny_project, make_member, client_for, django_capture_on_commit_callbacks)

    first = start_worker("inference1")

    def mid_clip() -> bool:
        """At least one clip done, and the worker busy with another one it has not finished."""
        done = Job.objects.get(pk=job_id).result["counts"]["done"]
        return done >= 1 and bool(set(first.task_ids("received")) - set(first.task_ids("succeeded")))

    wait_until(mid_clip, worker=first, timeout=240, what="the first clip")
    os.kill(first.proc.pid, signal.SIGKILL)
    first.proc.wait(timeout=10)
    in_flight = set(first.task_ids("received")) - set(first.task_ids("succeeded"))
    assert in_flight, "the worker was killed while working on a clip"
    job = Job.objects.get(pk=job_id)
    assert job.status == Job.Status.RUNNING and 0 < job.progress < 100

    second = start_worker("inference2")
    job = wait_until(lambda: finished(job_id), worker=second, timeout=240, what="the rest of the job")

    assert in_flight <= set(second.task_ids("received")), "the killed worker's task was redelivered"
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.progress == 100
    assert job.result["counts"] == {"total": 4, "done": 4, "skipped": 0, "failed": 0}
    assert [e["status"] for e in job.result["clips"]] == ["done"] * 4
    for clip in clips:
        assert Proposal.objects.filter(clip=clip).count() == 1
    assert ModelVersion.objects.filter(project=tiny_project).count() == 1
