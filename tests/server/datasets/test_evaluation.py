"""Evaluation reports: a model version's proposals against the accepted annotations, AVSBench-exact."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from ml_backend.serving.datasets import BinaryEvaluator
from server.accounts.models import Role
from server.annotations.models import Annotation, Proposal
from server.core.masks import rle_decode, rle_encode
from server.datasets.models import EvaluationReport
from server.jobs.models import Job
from server.learning.models import ModelVersion
from server.media.models import Clip
from tests.factories import ModelVersionFactory, UserFactory
from tests.server.datasets.conftest import proposals_from_ground_truth

pytestmark = pytest.mark.django_db


@pytest.fixture
def s4_project(project, datasets, import_dataset):
    out, error = import_dataset(project, datasets("s4"), "s4")
    assert error is None, out
    return project


def evaluate(project, model_version, *extra: str) -> str:
    out = io.StringIO()
    call_command("evaluate", "--project", project.name, "--model-version", str(model_version.pk), *extra, stdout=out)
    return out.getvalue()


def test_ground_truth_scored_against_itself_is_perfect(s4_project):
    version = ModelVersionFactory(project=s4_project, name="oracle")
    proposals_from_ground_truth(project=s4_project, model_version=version)

    out = evaluate(s4_project, version)

    version.refresh_from_db()
    entry = version.metrics["evaluation"]["all"]
    assert entry["miou"] == pytest.approx(1.0, abs=1e-6)
    assert entry["fscore"] == pytest.approx(1.0, abs=1e-6)
    assert entry["fscore_at_0_5"] == pytest.approx(1.0, abs=1e-6)
    assert entry["semantic_miou"] == pytest.approx(1.0, abs=1e-6)
    assert set(entry["per_class_iou"]) >= {"background"} and all(
        v == pytest.approx(1.0, abs=1e-6) for v in entry["per_class_iou"].values()
    )
    frames = Annotation.objects.filter(clip__project=s4_project, status=Annotation.Status.ACCEPTED).count()
    assert (entry["n_clips"], entry["n_frames"]) == (6, frames)
    assert "evaluated_at" in entry
    report = EvaluationReport.objects.get(model_version=version)
    assert report.clip_ids == sorted(Clip.objects.filter(project=s4_project).values_list("pk", flat=True))
    assert [row["clip_id"] for row in report.per_clip] == report.clip_ids
    assert all(row["miou"] == pytest.approx(1.0, abs=1e-6) for row in report.per_clip)
    assert report.summary["n_batches"] == 2 and report.summary["batch_clips"] == 4
    assert "mIoU 1.0000, F 1.0000" in out


def test_scores_follow_the_official_batch_semantics_over_clips_in_id_order(s4_project):
    """A proposal that misses one clip's masks: the figures equal BinaryEvaluator's over the same arrays."""
    version = ModelVersionFactory(project=s4_project)
    proposals_from_ground_truth(project=s4_project, model_version=version)
    clips = list(Clip.objects.filter(project=s4_project).order_by("id"))
    worst = clips[-1]
    proposal = Proposal.objects.get(clip=worst, model_version=version)
    proposal.frames = [{"frame_index": e["frame_index"], "instances": []} for e in proposal.frames]
    proposal.save()

    evaluate(s4_project, version)

    expected = BinaryEvaluator(batch_clips=4)
    for clip in clips:
        annotations = Annotation.objects.filter(clip=clip).select_related("frame").order_by("frame__index")
        gt = np.stack(
            [
                np.any([rle_decode(i["mask"]).astype(bool) for i in a.instances] or [np.zeros((64, 64), bool)], axis=0)
                for a in annotations
            ]
        )
        prob = np.zeros_like(gt, dtype=np.float32) if clip == worst else gt.astype(np.float32)
        expected.add_clip(prob, gt)
    wanted = expected.result()
    report = EvaluationReport.objects.get(model_version=version)
    assert report.summary["miou"] == pytest.approx(wanted.miou)
    assert report.summary["fscore"] == pytest.approx(wanted.fscore)
    assert report.summary["fscore_at_0_5"] == pytest.approx(wanted.fscore_at_0_5)
    assert report.summary["miou"] < 1.0
    assert report.per_clip[-1]["clip_id"] == worst.pk and report.per_clip[-1]["miou"] < 1.0
    assert all(row["miou"] == pytest.approx(1.0, abs=1e-6) for row in report.per_clip[:-1])


def test_avss_per_class_iou_names_the_project_labels(project, datasets, import_dataset):
    out, error = import_dataset(project, datasets("avss"), "avss")
    assert error is None, out
    version = ModelVersionFactory(project=project)
    proposals_from_ground_truth(project=project, model_version=version)
    # The proposal calls every "dog" a "car" on one frame.
    proposal = next(
        p
        for p in Proposal.objects.filter(model_version=version)
        if any(i["label"] == "dog" for e in p.frames for i in e["instances"])
    )
    frames = proposal.frames
    for entry in frames:
        for instance in entry["instances"]:
            if instance["label"] == "dog":
                instance["label"] = "car"
    proposal.frames = frames
    proposal.save()

    evaluate(project, version, "--name", "avss-all")

    entry = ModelVersion.objects.get(pk=version.pk).metrics["evaluation"]["avss-all"]
    assert entry["per_class_iou"]["dog"] < 1.0 and entry["per_class_iou"]["car"] < 1.0
    assert entry["per_class_iou"]["bird"] == pytest.approx(1.0, abs=1e-6)
    assert entry["semantic_miou"] < 1.0
    assert entry["miou"] == pytest.approx(1.0, abs=1e-6)  # class-agnostic masks are still exact


def test_missing_proposals_are_named(s4_project):
    version = ModelVersionFactory(project=s4_project, name="half")
    proposals_from_ground_truth(project=s4_project, model_version=version)
    clips = list(Clip.objects.filter(project=s4_project).order_by("id"))
    Proposal.objects.filter(clip__in=clips[:2], model_version=version).delete()

    with pytest.raises(CommandError) as error:
        evaluate(s4_project, version)

    message = str(error.value)
    assert "has no proposals for 2 of the 6 clips to evaluate: clips " in message
    assert f'{clips[0].pk} "{clips[0].name}", {clips[1].pk} "{clips[1].name}"' in message
    # The overlap can be evaluated by listing it.
    ids = ",".join(str(c.pk) for c in clips[2:])
    evaluate(s4_project, version, "--clips", ids)
    version.refresh_from_db()
    [key] = version.metrics["evaluation"]
    assert key.startswith("clips-4-") and version.metrics["evaluation"][key]["n_clips"] == 4


def test_two_versions_side_by_side_in_the_model_versions_list(s4_project, make_member, client_for):
    good = ModelVersionFactory(project=s4_project, name="good")
    proposals_from_ground_truth(project=s4_project, model_version=good)
    empty = ModelVersionFactory(project=s4_project, name="empty")
    for clip in Clip.objects.filter(project=s4_project):
        Proposal.objects.create(clip=clip, model_version=empty, frames=[])
    ModelVersion.objects.filter(pk=empty.pk).update(metrics={"edit_iou": 0.5})  # other metrics are kept
    evaluate(s4_project, good)
    evaluate(s4_project, empty)

    listed = client_for(make_member(s4_project)).get(f"/api/projects/{s4_project.pk}/model-versions/").json()

    metrics = {v["name"]: v["metrics"] for v in listed["results"]}
    assert metrics["good"]["evaluation"]["all"]["miou"] == pytest.approx(1.0, abs=1e-6)
    assert metrics["empty"]["evaluation"]["all"]["miou"] < 0.5
    # Official F takes the best threshold, 0 included (everything predicted): small but not 0. F at 0.5 is 0.
    assert metrics["empty"]["evaluation"]["all"]["fscore"] < 0.1
    assert metrics["empty"]["evaluation"]["all"]["fscore_at_0_5"] == 0.0
    assert metrics["empty"]["edit_iou"] == 0.5


def test_evaluate_api_queues_a_job_for_managers(
    s4_project, make_member, client_for, django_capture_on_commit_callbacks
):
    version = ModelVersionFactory(project=s4_project)
    proposals_from_ground_truth(project=s4_project, model_version=version)
    manager = client_for(make_member(s4_project, role=Role.MANAGER))
    ids = list(Clip.objects.filter(project=s4_project).order_by("id").values_list("pk", flat=True))[:3]

    with django_capture_on_commit_callbacks(execute=True):
        response = manager.post(
            f"/api/projects/{s4_project.pk}/evaluate/", {"model_version": version.pk, "split": ids}, format="json"
        )

    assert response.status_code == 202, response.content
    job = manager.get(f"/api/jobs/{response.json()['id']}/").json()
    assert (job["kind"], job["status"], job["target"]) == (
        "evaluate",
        "succeeded",
        {"type": "learning.modelversion", "id": version.pk},
    )
    assert "mIoU 1.0000" in job["message"] and "over 3 clips" in job["message"]
    reports = manager.get(f"/api/model-versions/{version.pk}/evaluations/").json()["results"]
    assert len(reports) == 1 and reports[0]["clip_ids"] == ids
    assert [row["clip_id"] for row in reports[0]["per_clip"]] == ids


def test_evaluate_api_refuses_bad_requests_readably(s4_project, make_member, client_for):
    version = ModelVersionFactory(project=s4_project)
    manager = client_for(make_member(s4_project, role=Role.MANAGER))
    url = f"/api/projects/{s4_project.pk}/evaluate/"

    missing = manager.post(url, {"model_version": version.pk}, format="json")
    assert missing.status_code == 400
    assert "has no proposals for 6 of the 6 clips" in missing.json()["message"]
    assert len(missing.json()["extra"]["missing_clips"]) == 6

    other = ModelVersionFactory()
    assert manager.post(url, {"model_version": other.pk}, format="json").status_code == 400
    assert manager.post(url, {"model_version": version.pk, "split": "some"}, format="json").status_code == 400
    unknown = manager.post(url, {"model_version": version.pk, "split": [999999]}, format="json")
    assert unknown.status_code == 400
    assert unknown.json()["message"] == "Clip 999999 is not a ready clip of this project."

    annotator = client_for(make_member(s4_project, role=Role.ANNOTATOR))
    assert annotator.post(url, {"model_version": version.pk}, format="json").status_code == 403
    assert client_for(UserFactory()).post(url, {"model_version": version.pk}, format="json").status_code == 404
    assert Job.objects.filter(kind=Job.Kind.EVALUATE).count() == 0


def test_clips_without_accepted_annotations_cannot_be_evaluated(s4_project):
    version = ModelVersionFactory(project=s4_project)
    proposals_from_ground_truth(project=s4_project, model_version=version)
    clip = Clip.objects.filter(project=s4_project).first()
    Annotation.objects.filter(clip=clip).update(status=Annotation.Status.SUBMITTED)

    with pytest.raises(CommandError, match=f"Clip {clip.pk} has no accepted annotations to compare against"):
        evaluate(s4_project, version, "--clips", str(clip.pk))


def test_unlabelled_proposals_count_as_sounding_object(project, datasets, import_dataset):
    out, error = import_dataset(project, datasets("ms3"), "ms3", "--split", "test")
    assert error is None, out
    version = ModelVersionFactory(project=project)
    for clip in Clip.objects.filter(project=project):
        frames = [
            {
                "frame_index": a.frame.index,
                "instances": [{"mask": i["mask"], "label": "", "score": 0.3} for i in a.instances],
            }
            for a in Annotation.objects.filter(clip=clip).select_related("frame")
        ]
        Proposal.objects.create(clip=clip, model_version=version, frames=frames)

    evaluate(project, version)

    entry = ModelVersion.objects.get(pk=version.pk).metrics["evaluation"]["all"]
    assert entry["semantic_miou"] == pytest.approx(1.0, abs=1e-6)
    assert entry["per_class_iou"]["sounding object"] == pytest.approx(1.0, abs=1e-6)


def test_masks_of_the_wrong_size_are_reported(project, make_member):
    from tests.factories import AnnotationFactory, ClipFactory, FrameFactory

    clip = ClipFactory(project=project)
    frame = FrameFactory(clip=clip, index=0)
    truth = np.zeros((48, 64), dtype=bool)
    truth[:10, :10] = True
    AnnotationFactory(frame=frame, status="accepted", instances=[{"mask": rle_encode(truth), "label": "dog"}])
    version = ModelVersionFactory(project=project)
    wrong = rle_encode(np.ones((10, 10), dtype=bool))
    Proposal.objects.create(
        clip=clip, model_version=version, frames=[{"frame_index": 0, "instances": [{"mask": wrong, "label": "dog"}]}]
    )

    with pytest.raises(
        CommandError, match=f"A mask of the proposal of clip {clip.pk} frame 0 is 10x10 but the frame is 64x48"
    ):
        evaluate(project, version)
