"""Self-training rounds end to end (eager Celery, PostgreSQL when DATABASE_URL says so): a tiny compact student
trained on the train split's accepted annotations and the proposer's pseudo-labels, judged on the held-out split,
promoted only when it beats the proposer; resumed after a simulated worker death; cancelled; started by managers
only, by the automatic trigger and by `manage.py train`; then proposing clips as the project's proposer."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from PIL import Image

from ml_backend.serving.training import training_item
from server.accounts.models import Role
from server.annotations.models import Annotation, Proposal
from server.datasets.models import EvaluationReport
from server.jobs.models import Job
from server.learning.models import LearningSettings, ModelVersion, ProposerChange, TrainingRound
from server.learning.tasks import training_round_task
from server.learning.training import (
    current_proposer_version,
    round_local_dir,
    round_storage_prefix,
    training_frames,
    training_plan_build,
    training_round_run,
    training_round_start,
)
from tests.server.learning.rounds_world import accept, give_proposal, masks_of, store_clip, tiny_student

pytestmark = pytest.mark.django_db

EPOCHS = 5


class World:
    """Train split: clips 0–2 with accepted annotations, clip 3 unlabelled (the proposer's pseudo-labels).
    Held-out split: clips 4–5 with accepted annotations (ground truth of the judging)."""

    def __init__(self, project):
        self.project = project
        self.train = [store_clip(project, side="train", clip_no=n) for n in range(4)]
        self.heldout = [store_clip(project, side="heldout", clip_no=n) for n in (4, 5)]
        for n, clip in enumerate(self.train[:3]):
            accept(clip, masks_of(clip, n))
        for n, clip in zip((4, 5), self.heldout, strict=True):
            accept(clip, masks_of(clip, n))
        LearningSettings.objects.create(project=project, student_config=tiny_student(epochs=EPOCHS, batch_size=12))
        self.proposer = current_proposer_version(project=project)  # the configured one: the weight-free baseline
        give_proposal(self.train[3], self.proposer, masks_of(self.train[3], 3))  # pseudo-labels

    def proposer_on_heldout(self, *, perfect: bool) -> None:
        """The proposer's held-out proposals: exactly the ground truth, or nothing at all."""
        for n, clip in zip((4, 5), self.heldout, strict=True):
            give_proposal(clip, self.proposer, masks_of(clip, n) if perfect else None)


@pytest.fixture
def world(project):
    return World(project)


def run_round(world: World, **kwargs) -> TrainingRound:
    training_round = training_round_start(project=world.project, enqueue=False, **kwargs)
    return training_round_run(round_id=training_round.pk)


def test_a_round_trains_judges_on_the_heldout_split_and_promotes_a_better_student(
    world, make_member, client_for, django_capture_on_commit_callbacks
):
    world.proposer_on_heldout(perfect=False)  # the proposer finds nothing on the held-out clips
    client = client_for(make_member(world.project, Role.MANAGER))
    with django_capture_on_commit_callbacks(execute=True):  # the task runs (eagerly) once the request commits
        response = client.post(f"/api/projects/{world.project.pk}/training-rounds/", {}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "queued" and response.json()["student_kind"] == "compact"

    body = client.get(f"/api/training-rounds/{response.json()['id']}/").json()
    assert body["status"] == "succeeded", body["error"]
    assert body["promoted"] is True and body["reason"].startswith("Promoted: the student beats the proposer")
    assert body["base_proposer"]["id"] == world.proposer.pk
    assert body["progress"]["status"] == "succeeded" and body["progress"]["percent"] == 100
    assert len(body["curve"]) == EPOCHS and all(np.isfinite(body["curve"]))
    # Trained on the train split only: accepted annotations of clips 0-2 (18 frames), pseudo-labels of clip 3 (6).
    assert body["items"]["human_items"] == 18 and body["items"]["pseudo_items"] == 6
    assert body["metrics"]["training"]["items"] == 24
    training_round = TrainingRound.objects.get(pk=body["id"])
    planned = {clip for clip, _, _ in training_round.plan["items"]}
    assert planned == {c.pk for c in world.train} and not planned & {c.pk for c in world.heldout}

    # Judged on the held-out clips, both models scored on the same clips, split "heldout".
    metrics = body["metrics"]
    assert metrics["split"] == "heldout" and metrics["compared_clips"] == [c.pk for c in world.heldout]
    assert metrics["proposer"]["miou"] == 0.0 < metrics["student"]["miou"]
    student = ModelVersion.objects.get(pk=body["model_version"]["id"])
    assert student.kind == ModelVersion.Kind.STUDENT and student.config["training_round"] == training_round.pk
    assert student.metrics["evaluation"]["heldout"]["miou"] == metrics["student"]["miou"]
    assert student.metrics["training"]["curve"] == body["curve"]
    assert EvaluationReport.objects.filter(model_version=student, split="heldout").count() == 1
    assert default_storage.exists(f"{student.checkpoint_path}/student.json")
    assert not default_storage.exists(f"{round_storage_prefix(training_round)}/checkpoint.pt")  # cleaned up

    # The student is the project's proposer now, and pre-annotation runs it.
    assert LearningSettings.objects.get(project=world.project).proposer == student
    project = client.get(f"/api/projects/{world.project.pk}/").json()
    assert project["proposer"]["kind"] == "student" and project["proposer"]["name"] == student.name
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/projects/{world.project.pk}/preannotate/", {}, format="json")
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert {v["kind"] for v in job.result["model_versions"]} == {"student"}
    for clip in world.train:
        (proposal,) = Proposal.objects.filter(clip=clip, model_version=student)
        assert [e["frame_index"] for e in proposal.frames] == list(range(6))


def test_a_student_that_does_not_beat_the_proposer_is_not_promoted(world):
    world.proposer_on_heldout(perfect=True)  # held-out ground truth = the proposer's masks: it cannot be beaten
    training_round = run_round(world)

    assert training_round.status == TrainingRound.Status.SUCCEEDED, training_round.error
    assert training_round.promoted is False
    assert training_round.reason.startswith("Not promoted: the student does not beat the proposer")
    assert training_round.metrics["proposer"]["miou"] == pytest.approx(1.0)
    assert training_round.metrics["student"]["miou"] < training_round.metrics["proposer"]["miou"]
    assert LearningSettings.objects.get(project=world.project).proposer is None  # the proposer was kept
    assert not ProposerChange.objects.exists()
    student = training_round.model_version  # registered all the same, with its figures
    assert student.kind == ModelVersion.Kind.STUDENT and "heldout" in student.metrics["evaluation"]
    assert training_round.job.status == Job.Status.SUCCEEDED and "Not promoted" in training_round.job.message


class WorkerKilled(BaseException):
    """What a SIGKILL looks like to the round: it stops, nothing gets to record a failure."""


def test_a_round_killed_after_an_epoch_resumes_from_its_checkpoint_with_one_model_version(world):
    world.proposer_on_heldout(perfect=False)
    training_round = training_round_start(project=world.project, enqueue=False)
    epochs_seen = []

    def killed_after_the_first_epoch(report: dict) -> None:
        if report["step"] * report["epochs"] == report["epoch"] * report["steps"]:
            epochs_seen.append(report["epoch"])
            raise WorkerKilled

    with pytest.raises(WorkerKilled):
        training_round_run(round_id=training_round.pk, on_progress=killed_after_the_first_epoch)
    training_round.refresh_from_db()
    assert epochs_seen == [1]
    assert training_round.status == TrainingRound.Status.RUNNING and training_round.model_version is None
    job = training_round.job
    assert job.status == Job.Status.RUNNING and job.result["epoch"] == 1 and job.result["eta_seconds"] > 0
    assert f"Epoch 1 of {EPOCHS}" in job.message
    assert default_storage.exists(f"{round_storage_prefix(training_round)}/checkpoint.pt")
    # The redelivery lands on another machine: the local folder is gone, the mirror in media storage is not.
    shutil.rmtree(round_local_dir(training_round))

    training_round_task.delay(training_round.pk)  # the redelivered task (eager)
    training_round.refresh_from_db()
    assert training_round.status == TrainingRound.Status.SUCCEEDED, training_round.error
    assert training_round.metrics["training"]["resumed_from_epoch"] == 1
    assert len(training_round.curve) == EPOCHS
    assert ModelVersion.objects.filter(project=world.project, kind=ModelVersion.Kind.STUDENT).count() == 1

    training_round_task.delay(training_round.pk)  # a duplicate delivery of a finished round changes nothing
    assert ModelVersion.objects.filter(project=world.project, kind=ModelVersion.Kind.STUDENT).count() == 1
    assert TrainingRound.objects.get(pk=training_round.pk).finished_at == training_round.finished_at


def test_a_running_round_is_cancelled_at_its_next_progress_report(world, make_member, client_for):
    client = client_for(make_member(world.project, Role.MANAGER))
    training_round = training_round_start(project=world.project, enqueue=False)
    answers = []

    def cancel_once(report: dict) -> None:
        if not answers:
            answers.append(client.post(f"/api/training-rounds/{training_round.pk}/cancel/"))

    finished = training_round_run(round_id=training_round.pk, on_progress=cancel_once)
    assert answers[0].status_code == 200 and answers[0].json()["cancel_requested"] is True
    assert finished.status == TrainingRound.Status.CANCELLED and finished.model_version is None
    assert finished.job.status == Job.Status.FAILED and finished.job.message == "Cancelled."
    assert len(finished.curve) == 0
    assert not ModelVersion.objects.filter(kind=ModelVersion.Kind.STUDENT).exists()
    assert LearningSettings.objects.get(project=world.project).proposer is None
    response = client.post(f"/api/training-rounds/{training_round.pk}/cancel/")
    assert response.status_code == 409 and "cancelled" in response.json()["message"]


def test_a_queued_round_is_cancelled_at_once_and_its_task_does_nothing(world, make_member, client_for):
    client = client_for(make_member(world.project, Role.MANAGER))
    training_round = training_round_start(project=world.project, enqueue=False)
    body = client.post(f"/api/training-rounds/{training_round.pk}/cancel/").json()
    assert body["status"] == "cancelled" and body["progress"]["status"] == "failed"
    training_round_task.delay(training_round.pk)
    assert TrainingRound.objects.get(pk=training_round.pk).status == TrainingRound.Status.CANCELLED
    assert not ModelVersion.objects.filter(kind=ModelVersion.Kind.STUDENT).exists()
    # Another round may start now.
    assert training_round_start(project=world.project, enqueue=False).status == TrainingRound.Status.QUEUED


def test_one_round_at_a_time(world, make_member, client_for):
    client = client_for(make_member(world.project, Role.MANAGER))
    first = training_round_start(project=world.project, enqueue=False)
    response = client.post(f"/api/projects/{world.project.pk}/training-rounds/", {}, format="json")
    assert response.status_code == 409
    assert response.json()["message"].startswith(f"Training round {first.pk} of this project is queued")


WHO = ["anonymous", "outsider", "annotator", "reviewer", "manager"]


@pytest.mark.parametrize(
    ("who", "list_status", "start_status", "cancel_status"),
    [
        ("anonymous", 401, 401, 401),
        ("outsider", 404, 404, 404),
        ("annotator", 200, 403, 403),
        ("reviewer", 200, 403, 403),
        ("manager", 200, 202, 200),
    ],
)
def test_who_may_see_start_and_cancel_rounds(project, actor, client_for, who, list_status, start_status, cancel_status):
    existing = training_round_start(project=project, enqueue=False)
    client = client_for(actor(project, who))
    assert client.get(f"/api/projects/{project.pk}/training-rounds/").status_code == list_status
    assert client.get(f"/api/training-rounds/{existing.pk}/").status_code == list_status
    assert client.post(f"/api/training-rounds/{existing.pk}/cancel/").status_code == cancel_status
    TrainingRound.objects.filter(pk=existing.pk).update(status=TrainingRound.Status.FAILED)
    response = client.post(f"/api/projects/{project.pk}/training-rounds/", {"student": "compact"}, format="json")
    assert response.status_code == start_status, response.content
    if who == "outsider":
        assert response.json()["message"] == "Project not found."


def test_bad_requests_are_refused_with_the_field_named(project, make_member, client_for):
    client = client_for(make_member(project, Role.MANAGER))
    url = f"/api/projects/{project.pk}/training-rounds/"
    response = client.post(url, {"student": "giant"}, format="json")
    assert response.status_code == 400 and "student" in response.json()["extra"]["fields"]
    response = client.post(url, {"config": {"epochs": {"nested": 1}}}, format="json")
    assert response.status_code == 400 and response.json()["message"].startswith("config.epochs must be a number")
    assert not TrainingRound.objects.exists()


def test_an_invalid_student_setting_fails_the_round_naming_it(world):
    # Settings saved before they were checked when saved (start-time overrides are checked: 400).
    learning = LearningSettings.objects.get(project=world.project)
    learning.student_config = {**learning.student_config, "epochs": 0}
    learning.save()
    training_round = run_round(world)
    assert training_round.status == TrainingRound.Status.FAILED
    assert "students.compact.epochs must be a positive integer" in training_round.error
    assert training_round.job.status == Job.Status.FAILED and "students.compact.epochs" in training_round.job.error


def test_nothing_to_train_on_fails_the_round_with_what_to_do(project):
    store_clip(project, side="heldout", clip_no=1)
    started = training_round_start(project=project, enqueue=False)
    training_round = training_round_run(round_id=started.pk)
    assert training_round.status == TrainingRound.Status.FAILED
    assert training_round.error.startswith("Nothing to train on: no clip of the train split has an accepted")
    assert LearningSettings.objects.get(project=project).proposer is None


def test_pseudo_labels_use_the_proposers_probability_maps_when_kept(world):
    """A proposal frame's kept probability map (8-bit PNG, smaller than the frame) is the pseudo item's target."""
    proposal = Proposal.objects.get(clip=world.train[3], model_version=world.proposer)
    probability = np.zeros((32, 32), dtype=np.uint8)
    probability[:16] = 128  # p ≈ 0.5: the band the student ignores; below: 0
    out = io.BytesIO()
    Image.fromarray(probability).save(out, format="PNG")
    path = default_storage.save("projects/x/probability-000000.png", ContentFile(out.getvalue()))
    frames = proposal.frames
    frames[0]["probability_map"] = {"path": path, "size": [32, 32], "scale": 0.5}
    Proposal.objects.filter(pk=proposal.pk).update(frames=frames)
    training_round = training_round_start(project=world.project, enqueue=False)
    training_round.plan = training_plan_build(project=world.project, base=world.proposer, max_items=100)
    built, dropped = training_frames(training_round=training_round, storage=default_storage)
    assert dropped == 0 and len(built) == 24
    pseudo = [f for f in built if f.source == "pseudo"]
    assert [f.frame.index for f in pseudo] == list(range(6)) and all(
        f.clip_key == f"clip-{world.train[3].pk}" for f in pseudo
    )
    assert pseudo[0].probability is not None and pseudo[1].probability is None
    item = training_item(pseudo[0])
    assert item.target.shape == (64, 64) and abs(float(item.target[0, 0]) - 128 / 255) < 1e-6
    assert float(item.target[63, 63]) == 0.0


def test_the_item_budget_keeps_accepted_annotations_first(world):
    plan = training_plan_build(project=world.project, base=world.proposer, max_items=20)
    assert plan["counts"]["human_items"] == 18 and plan["counts"]["pseudo_items"] == 2
    plan = training_plan_build(project=world.project, base=world.proposer, max_items=9)
    assert plan["counts"]["human_items"] == 9 and plan["counts"]["pseudo_items"] == 0
    assert len({clip for clip, _, _ in plan["items"]}) == 3  # spread over the clips, not the first one's frames


def test_rounds_start_after_n_newly_accepted_annotations(
    project, make_member, client_for, django_capture_on_commit_callbacks
):
    clip = store_clip(project, side="train", clip_no=0)
    LearningSettings.objects.create(project=project, auto_round_after=2, student_config=tiny_student(epochs=1))
    reviewer = client_for(make_member(project, Role.REVIEWER))
    for frame in clip.frames.order_by("index")[:3]:
        Annotation.objects.create(clip=clip, frame=frame, instances=[], version=1, status=Annotation.Status.SUBMITTED)

    def review(annotation):
        with django_capture_on_commit_callbacks(execute=True):  # the check runs once the review is committed
            return reviewer.post(
                f"/api/annotations/{annotation.pk}/reviews/",
                {"verdict": "accept", "annotation_version": 1},
                format="json",
            )

    first, second, third = Annotation.objects.filter(clip=clip).order_by("frame__index")
    assert review(first).status_code == 201
    assert not TrainingRound.objects.exists()
    assert review(second).status_code == 201
    (started,) = TrainingRound.objects.all()
    assert started.trigger == TrainingRound.Trigger.AUTO and started.created_by is None
    assert review(third).status_code == 201  # counted for the next round; this one is still active
    assert TrainingRound.objects.count() == 1


def test_manage_py_train_runs_a_round_here(world, capsys):
    world.proposer_on_heldout(perfect=False)
    call_command("train", "--project", world.project.name, "--student", "compact", "--epochs", "4", "--sync")
    out = capsys.readouterr().out
    (training_round,) = TrainingRound.objects.all()
    assert training_round.trigger == "command" and training_round.config["epochs"] == 4
    assert training_round.status == TrainingRound.Status.SUCCEEDED and len(training_round.curve) == 4
    assert "epoch 4/4: loss" in out and f"Training round {training_round.pk} succeeded: {training_round.reason}" in out
    with pytest.raises(CommandError, match='There is no project named "nope"'):
        call_command("train", "--project", "nope")


def test_managers_promote_and_roll_back_the_proposer(world, make_member, client_for):
    world.proposer_on_heldout(perfect=False)
    student = run_round(world).model_version
    client = client_for(make_member(world.project, Role.MANAGER))
    settings_url = f"/api/projects/{world.project.pk}/learning-settings/"
    assert client.get(settings_url).json()["proposer"]["id"] == student.pk

    body = client.post(f"/api/projects/{world.project.pk}/proposer/rollback/", {}, format="json").json()
    assert body["proposer"] is None  # back to the configured proposer
    assert [c["action"] for c in body["proposer_history"]] == ["rollback", "promote"]
    assert body["proposer_history"][1]["training_round"] == student.training_round.pk

    annotator = client_for(make_member(world.project, Role.ANNOTATOR))
    assert annotator.post(f"/api/model-versions/{student.pk}/promote/").status_code == 403
    body = client.post(f"/api/model-versions/{student.pk}/promote/").json()
    assert body["proposer"]["id"] == student.pk
    # A student whose saved model vanished cannot become the proposer (and the configured one runs meanwhile).
    default_storage.delete(f"{student.checkpoint_path}/student.json")
    response = client.post(f"/api/model-versions/{student.pk}/promote/")
    assert response.status_code == 400 and "saved model is missing" in response.json()["message"]
    assert client.get(f"/api/projects/{world.project.pk}/").json()["proposer"]["kind"] == "baseline"


def test_rollback_without_history_is_refused(project, make_member, client_for):
    client = client_for(make_member(project, Role.MANAGER))
    response = client.post(f"/api/projects/{project.pk}/proposer/rollback/", {}, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "The project's proposer was never changed: nothing to roll back to."
