"""A real Celery worker on Redis (queues `training` and `inference`, PostgreSQL shared with the test) runs a
self-training round end to end with a tiny compact student: accepted annotations and the proposer's pseudo-labels
in, a student ModelVersion with held-out metrics out (the weight-free baseline really proposes the held-out clips
to be compared with); then pre-annotation with that student."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from server.accounts.models import Role
from server.annotations.models import Proposal
from server.config.celery_app import app as celery_app
from server.jobs.models import Job
from server.learning.models import LearningSettings, ModelVersion, TrainingRound
from server.learning.training import current_proposer_version
from tests.server.learning.rounds_world import accept, give_proposal, masks_of, store_clip, tiny_student
from tests.utils import require_service

ROOT = Path(__file__).resolve().parents[3]
WORKER_SETTINGS = "tests.server.learning.worker_settings"

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(media_root, training_dir, tmp_path):
    import redis

    url = settings.CELERY_BROKER_URL
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        client.ping()
    except redis.RedisError as exc:
        require_service("Redis", f"{url}: {exc}")
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "set DATABASE_URL=postgres://... so the worker and the test share a database")
    client.flushdb()
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": WORKER_SETTINGS,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": url,
        "AVS_MEDIA_ROOT": str(media_root),
        "AVS_TRAINING_DIR": str(training_dir),
        "AVS_MODEL_CONFIG": "",
        "HF_HUB_OFFLINE": "1",
    }
    log_path = tmp_path / "worker.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "server.config", "worker", "-Q", "training,inference", "--pool", "solo"]
        + ["--hostname", "training1@127.0.0.1", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        + ["--loglevel", "INFO"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    celery_app.conf.task_always_eager = False
    yield proc, log_path
    celery_app.conf.task_always_eager = True
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log.close()
    client.flushdb()


def wait_for(condition, *, proc, log_path: Path, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    pytest.fail(f"{what} did not happen (worker exit {proc.poll()}); log:\n{log_path.read_text()[-5000:]}")


def test_a_worker_runs_a_round_then_preannotates_with_the_student(
    project, worker, make_member, client_for, django_capture_on_commit_callbacks
):
    proc, log_path = worker
    train = [store_clip(project, side="train", clip_no=n) for n in range(4)]
    heldout = [store_clip(project, side="heldout", clip_no=n) for n in (4, 5)]
    for n, clip in enumerate(train[:3]):
        accept(clip, masks_of(clip, n))
    for n, clip in zip((4, 5), heldout, strict=True):
        accept(clip, masks_of(clip, n))
    LearningSettings.objects.create(project=project, student_config=tiny_student(epochs=5, batch_size=12))
    proposer = current_proposer_version(project=project)
    give_proposal(train[3], proposer, masks_of(train[3], 3))  # pseudo-labels of the unlabelled train clip
    client = client_for(make_member(project, Role.MANAGER))

    with django_capture_on_commit_callbacks(execute=True):  # the task goes to Redis once the request commits
        response = client.post(f"/api/projects/{project.pk}/training-rounds/", {"student": "compact"}, format="json")
    assert response.status_code == 202, response.content
    round_id = response.json()["id"]

    def finished():
        found = TrainingRound.objects.get(pk=round_id)
        return found if found.status not in TrainingRound.ACTIVE else None

    training_round = wait_for(finished, proc=proc, log_path=log_path, timeout=400, what="the training round")
    assert training_round.status == TrainingRound.Status.SUCCEEDED, training_round.error
    assert "server.learning.tasks.training_round_task" in log_path.read_text()
    student = training_round.model_version
    assert student.kind == ModelVersion.Kind.STUDENT and student.metrics["training"]["items"] == 24
    assert len(student.metrics["training"]["curve"]) == 5
    # The baseline really proposed the held-out clips in the worker; both were scored on the same clips.
    for clip in heldout:
        assert Proposal.objects.filter(clip=clip, model_version=proposer).count() == 1
        assert Proposal.objects.filter(clip=clip, model_version=student).count() == 1
    metrics = training_round.metrics
    assert metrics["compared_clips"] == [c.pk for c in heldout] and metrics["split"] == "heldout"
    assert student.metrics["evaluation"]["heldout"]["miou"] == metrics["student"]["miou"]
    s, b = metrics["student"], metrics["proposer"]
    assert training_round.promoted == (s["miou"] > b["miou"] or (s["miou"] == b["miou"] and s["fscore"] > b["fscore"]))
    assert training_round.job.status == Job.Status.SUCCEEDED and training_round.job.progress == 100

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/projects/{project.pk}/preannotate/", {"model_version": student.pk}, format="json")
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]

    def job_done():
        job = Job.objects.get(pk=job_id)
        return job if job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED) else None

    job = wait_for(job_done, proc=proc, log_path=log_path, timeout=240, what="the pre-annotation with the student")
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["counts"]["failed"] == 0
    assert {v["id"] for v in job.result["model_versions"]} == {student.pk}
    for clip in [*train, *heldout]:
        (proposal,) = Proposal.objects.filter(clip=clip, model_version=student)
        assert [e["frame_index"] for e in proposal.frames] == list(range(6))
