"""A self-training round with media in an S3-compatible bucket (moto_server on 127.0.0.1) and no filesystem shared
between machines: the round starts on one machine (this test process, its own training folder), which stops after
its second epoch as a killed worker would, with the epoch's checkpoint mirrored to the bucket; the queued task then
runs on a real Celery worker with an empty training folder of its own (another machine), which restores the
checkpoint from the bucket, trains the remaining epochs, saves the student to the bucket and judges it; a third
worker, fresh again, pre-annotates with the student it downloads from the bucket. No media file is written to any
machine's media folder."""

from __future__ import annotations

import time

import pytest

from server.accounts.models import Role
from server.annotations.models import Proposal
from server.jobs.models import Job
from server.learning.models import LearningSettings, ModelVersion, TrainingRound
from server.learning.training import (
    STUDENT_FILE,
    current_proposer_version,
    round_storage_prefix,
    student_storage_prefix,
    training_round_run,
)
from tests.celery_worker import Worker
from tests.server.learning.rounds_world import FRAMES, accept, give_proposal, masks_of, store_clip, tiny_student
from tests.server.storage.conftest import local_files, wait_for_job

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

EPOCHS = 4
TASK = "server.learning.tasks.training_round_task"


class WorkerKilled(BaseException):
    """What a SIGKILL looks like to the round: it stops, nothing gets to record a failure."""


def round_finished(round_id: int, *, worker: Worker, timeout: float = 400.0) -> TrainingRound:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = TrainingRound.objects.get(pk=round_id)
        if found.status not in TrainingRound.ACTIVE:
            return found
        if worker.proc.poll() is not None:
            break
        time.sleep(0.2)
    pytest.fail(f"round {round_id} did not finish (worker exit {worker.proc.poll()}); log:\n{worker.text()[-6000:]}")


def test_a_round_resumes_on_another_machine_from_the_bucket_and_its_student_proposes(
    media_bucket, start_worker, project, make_member, client_for, settings, tmp_path, media_root
):
    settings.AVS_TRAINING_DIR = str(tmp_path / "web-training")
    settings.AVS_MODEL_CONFIG = ""
    train = [store_clip(project, side="train", clip_no=n) for n in range(4)]
    heldout = [store_clip(project, side="heldout", clip_no=n) for n in (4, 5)]
    for n, clip in enumerate(train[:3]):
        accept(clip, masks_of(clip, n))
    for n, clip in zip((4, 5), heldout, strict=True):
        accept(clip, masks_of(clip, n))
    LearningSettings.objects.create(project=project, student_config=tiny_student(epochs=EPOCHS, batch_size=12))
    proposer = current_proposer_version(project=project)  # the weight-free baseline
    give_proposal(train[3], proposer, masks_of(train[3], 3))  # pseudo-labels of the unlabelled train clip
    assert len(media_bucket.keys(f"projects/{project.pk}/clips/")) == 6 * (FRAMES + 1)  # frames and audio

    # A manager starts the round: its task waits in Redis (no worker yet).
    client = client_for(make_member(project, Role.MANAGER))
    response = client.post(f"/api/projects/{project.pk}/training-rounds/", {"student": "compact"}, format="json")
    assert response.status_code == 202, response.content
    round_id = response.json()["id"]

    # The first machine trains two epochs, then dies: the second epoch's checkpoint is in the bucket.
    def killed_after_two_epochs(report: dict) -> None:
        if report["step"] * report["epochs"] == report["epoch"] * report["steps"] and report["epoch"] == 2:
            raise WorkerKilled

    with pytest.raises(WorkerKilled):
        training_round_run(round_id=round_id, on_progress=killed_after_two_epochs)
    training_round = TrainingRound.objects.get(pk=round_id)
    assert training_round.status == TrainingRound.Status.RUNNING and training_round.model_version is None
    mirror = round_storage_prefix(training_round)
    assert f"{mirror}/checkpoint.pt" in media_bucket.keys(f"{mirror}/")

    # Another machine (a real worker, an empty training folder and media folder of its own) takes the task,
    # restores the checkpoint from the bucket and finishes the round.
    second = start_worker(
        "trainer", queues=("training", "inference"), AVS_TRAINING_DIR=str(tmp_path / "trainer"), AVS_MODEL_CONFIG=""
    )
    second.task = TASK
    training_round = round_finished(round_id, worker=second)
    assert training_round.status == TrainingRound.Status.SUCCEEDED, training_round.error
    text = second.text()
    assert f"training round {round_id}: checkpoint restored from media storage" in text
    assert f"resuming training from epoch 2 of {EPOCHS}" in text
    student = training_round.model_version
    assert student.kind == ModelVersion.Kind.STUDENT and student.checkpoint_path == student_storage_prefix(
        training_round
    )
    assert training_round.metrics["training"]["resumed_from_epoch"] == 2 and len(training_round.curve) == EPOCHS
    assert ModelVersion.objects.filter(project=project, kind=ModelVersion.Kind.STUDENT).count() == 1
    # The student is saved in the bucket; the finished round's checkpoint mirror is removed.
    assert f"{student.checkpoint_path}/{STUDENT_FILE}" in media_bucket.keys(f"{student.checkpoint_path}/")
    assert media_bucket.keys(f"{mirror}/") == []
    # Judged on the held-out clips: the worker proposed them with the student and with the baseline.
    assert training_round.metrics["compared_clips"] == [c.pk for c in heldout]
    for clip in heldout:
        assert Proposal.objects.filter(clip=clip, model_version=student).count() == 1
        assert Proposal.objects.filter(clip=clip, model_version=proposer).count() == 1
    # The worker logs the task's success after the round's last write: wait for the line, then stop it.
    deadline = time.monotonic() + 60
    while not second.task_ids("succeeded") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert second.task_ids("succeeded"), second.text()[-4000:]
    second.stop()

    # A third machine that never saw the round pre-annotates with the student, downloaded from the bucket.
    third_folder = tmp_path / "annotator"
    third = start_worker("annotator", queues=("inference",), AVS_TRAINING_DIR=str(third_folder), AVS_MODEL_CONFIG="")
    response = client.post(f"/api/projects/{project.pk}/preannotate/", {"model_version": student.pk}, format="json")
    assert response.status_code == 202, response.content
    job = wait_for_job(response.json()["id"], worker=third, timeout=300)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["counts"]["failed"] == 0
    assert {v["id"] for v in job.result["model_versions"]} == {student.pk}
    for clip in [*train, *heldout]:
        (proposal,) = Proposal.objects.filter(clip=clip, model_version=student)
        assert [e["frame_index"] for e in proposal.frames] == list(range(FRAMES))
    assert STUDENT_FILE in local_files(third_folder / "students" / student.config_hash)

    # Media went only to the bucket: no machine's media folder holds a file.
    assert local_files(media_root) == []
    assert local_files(second.media_folder) == []
    assert local_files(third.media_folder) == []
