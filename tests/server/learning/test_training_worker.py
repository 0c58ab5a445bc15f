"""A real Celery worker on Redis (queues `training` and `inference`, PostgreSQL shared with the test) runs a
self-training round end to end with a tiny compact student: accepted annotations and the proposer's pseudo-labels
in, a student ModelVersion with held-out metrics out (the weight-free baseline really proposes the held-out clips
to be compared with); then pre-annotation with that student. A worker killed (SIGKILL) mid-round: Redis hands the
round's task to a second worker, which resumes from the last epoch's checkpoint and registers one student."""

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
from server.learning.models import LearningSettings, ModelVersion, TrainingRound
from server.learning.training import current_proposer_version
from tests.celery_worker import Worker
from tests.server.learning.rounds_world import accept, give_proposal, masks_of, store_clip, tiny_student
from tests.utils import require_service

WORKER_SETTINGS = "tests.server.learning.worker_settings"
TASK = "server.learning.tasks.training_round_task"

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def start_worker(media_root, training_dir, tmp_path):
    """`start_worker(name, visibility_timeout=600)`: a worker sharing the test's database, media root and training
    folder (workers of one machine); Redis hands a dead worker's task to another one `visibility_timeout` seconds
    after it was delivered."""
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
        "AVS_LOG_LEVEL": "INFO",
        "HF_HUB_OFFLINE": "1",
    }
    workers: list[Worker] = []

    def start(name: str, *, visibility_timeout: int = 600) -> Worker:
        worker = Worker(
            name,
            {**env, "AVS_TEST_VISIBILITY_TIMEOUT": str(visibility_timeout)},
            tmp_path / f"{name}.log",
            queues=("training", "inference"),
            task=TASK,
        )
        workers.append(worker)
        return worker

    celery_app.conf.task_always_eager = False
    yield start
    celery_app.conf.task_always_eager = True
    for worker in workers:
        worker.stop()
    client.flushdb()


def wait_for(condition, *, worker: Worker, timeout: float, what: str, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if worker.proc.poll() is not None:
            break
        time.sleep(every)
    pytest.fail(f"{what} did not happen (worker exit {worker.proc.poll()}); log:\n{worker.text()[-5000:]}")


def round_finished(round_id: int) -> TrainingRound | None:
    found = TrainingRound.objects.get(pk=round_id)
    return found if found.status not in TrainingRound.ACTIVE else None


def test_a_worker_runs_a_round_then_preannotates_with_the_student(
    project, start_worker, make_member, client_for, django_capture_on_commit_callbacks
):
    worker = start_worker("training1")
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

    training_round = wait_for(lambda: round_finished(round_id), worker=worker, timeout=400, what="the training round")
    assert training_round.status == TrainingRound.Status.SUCCEEDED, training_round.error
    # The worker logs the task's success after the round's last write: wait for the line, do not race it.
    wait_for(lambda: worker.task_ids("succeeded"), worker=worker, timeout=30, what="the task's success in the log")
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

    job = wait_for(job_done, worker=worker, timeout=240, what="the pre-annotation with the student")
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["counts"]["failed"] == 0
    assert {v["id"] for v in job.result["model_versions"]} == {student.pk}
    for clip in [*train, *heldout]:
        (proposal,) = Proposal.objects.filter(clip=clip, model_version=student)
        assert [e["frame_index"] for e in proposal.frames] == list(range(6))


KILL_EPOCHS = 12  # about half a second each (24 items of 128×128): seconds to kill the worker mid-round
REDELIVER_AFTER = 5  # seconds: the workers' visibility timeout in the test below


def epochs_done(round_id: int) -> tuple[str, int, dict]:
    """The round's status, how many epochs its Job says are done (checkpointed), and the Job's result."""
    found = TrainingRound.objects.select_related("job").get(pk=round_id)
    result = found.job.result or {}
    if result.get("phase") != "training" or "epoch" not in result:
        return found.status, 0, result
    at_epoch_end = result["step"] * result["epochs"] == result["epoch"] * result["steps"]
    return found.status, result["epoch"] if at_epoch_end else result["epoch"] - 1, result


def test_a_worker_killed_mid_round_resumes_from_its_checkpoint(
    project, start_worker, make_member, client_for, django_capture_on_commit_callbacks
):
    train = [store_clip(project, side="train", clip_no=n) for n in range(4)]
    heldout = store_clip(project, side="heldout", clip_no=4)
    for n, clip in enumerate(train):
        accept(clip, masks_of(clip, n))
    accept(heldout, masks_of(heldout, 4))
    student = tiny_student(epochs=KILL_EPOCHS, batch_size=8, input_size=128, width=16)
    LearningSettings.objects.create(project=project, student_config=student)
    client = client_for(make_member(project, Role.MANAGER))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/projects/{project.pk}/training-rounds/", {"student": "compact"}, format="json")
    assert response.status_code == 202, response.content
    round_id = response.json()["id"]

    first = start_worker("training1", visibility_timeout=REDELIVER_AFTER)

    def two_epochs_done() -> bool:
        status, done, _ = epochs_done(round_id)
        assert status in TrainingRound.ACTIVE, f"the round ended before the worker could be killed: {status}"
        return done >= 2

    wait_for(two_epochs_done, worker=first, timeout=240, what="the round's second epoch", every=0.02)
    os.kill(first.proc.pid, signal.SIGKILL)
    first.proc.wait(timeout=10)
    status, done_at_kill, result = epochs_done(round_id)
    (task_id,) = first.task_ids("received")
    assert first.task_ids("succeeded") == []
    assert status == TrainingRound.Status.RUNNING and 2 <= done_at_kill < KILL_EPOCHS, (status, result)
    assert result["epoch"] == done_at_kill  # 3 steps an epoch: every report is an epoch's end, with its loss
    killed = TrainingRound.objects.get(pk=round_id)
    assert killed.model_version is None and killed.job.status == Job.Status.RUNNING
    assert f"Epoch {result['epoch']} of {KILL_EPOCHS}" in killed.job.message

    second = start_worker("training2", visibility_timeout=REDELIVER_AFTER)
    training_round = wait_for(lambda: round_finished(round_id), worker=second, timeout=240, what="the resumed round")

    assert second.task_ids("received")[0] == task_id, "the killed worker's task was redelivered to the second worker"
    assert training_round.status == TrainingRound.Status.SUCCEEDED, training_round.error
    assert training_round.job.status == Job.Status.SUCCEEDED and training_round.job.progress == 100
    (version,) = ModelVersion.objects.filter(project=project, kind=ModelVersion.Kind.STUDENT)
    assert training_round.model_version == version and version.config["training_round"] == round_id
    # Every epoch once: the killed worker's epochs come from its checkpoint, the second worker trained the rest;
    # the round as managers see it says where it resumed.
    shown = client.get(f"/api/training-rounds/{round_id}/").json()
    assert shown["status"] == "succeeded" and shown["model_version"]["id"] == version.pk
    assert len(shown["curve"]) == KILL_EPOCHS and len(version.metrics["training"]["curve"]) == KILL_EPOCHS
    resumed = shown["metrics"]["training"]["resumed_from_epoch"]
    assert resumed in (done_at_kill, done_at_kill + 1), (resumed, done_at_kill)  # it may die after the checkpoint
    assert shown["curve"][done_at_kill - 1] == pytest.approx(result["loss"])
    assert f"resuming training from epoch {resumed} of {KILL_EPOCHS}" in second.text()
    assert "resuming training" not in first.text()
