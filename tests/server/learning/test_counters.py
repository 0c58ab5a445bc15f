"""The counters stored on clips, projects and model versions (what the lists order, filter and count on) stay equal to
a count from scratch after every kind of write: ingest (ready, failed, retried), proposals, annotation saves and
status changes, reviews, accepting proposals on a frame and on a whole clip, acquisition scores, Label Studio imports
and retractions, AVSBench imports and deletes; also under concurrent writers, and after a bulk load once
`manage.py counters_rebuild` (or the migration's fill) ran."""

from __future__ import annotations

import importlib
import io
import threading

import pytest
from django.apps import apps
from django.core.files import File
from django.core.management import call_command
from django.db import connection

from server.accounts.models import Role
from server.annotations.models import Annotation, Proposal
from server.annotations.services import annotation_update, proposal_store, review_create
from server.labelstudio.imports import annotation_import, annotation_retract
from server.learning.models import AcquisitionScore, ModelVersion
from server.learning.services import acquisition_score_record
from server.media.models import Clip, Frame, Project
from server.media.services import clip_create_from_file, clip_ingest, clip_ingest_fail, clip_ingest_retry
from tests.factories import ClipFactory, FrameFactory, ModelVersionFactory, ProjectFactory, UserFactory
from tests.media_files import make_video
from tests.server.annotations.conftest import box_mask
from tests.server.labelstudio.ls_world import box, connect, ls_annotation, ls_task

pytestmark = pytest.mark.django_db

CLIP_COUNTERS = (
    "num_frames",
    "proposal_count",
    "has_proposals",
    "annotated_count",
    "accepted_count",
    "submitted_count",
    "rejected_count",
    "acquisition_score",
    "has_score",
)
PROJECT_COUNTERS = (
    "clip_count",
    "clips_uploaded",
    "clips_processing",
    "clips_ready",
    "clips_failed",
    "clips_done",
    "annotation_count",
    "annotations_submitted",
    "annotations_accepted",
    "annotations_rejected",
)


# --- counting from scratch --------------------------------------------------------------------------------------


def recount_clip(clip_id: int) -> dict:
    statuses = list(Annotation.objects.filter(clip_id=clip_id).values_list("status", flat=True))
    latest = AcquisitionScore.objects.filter(clip_id=clip_id).order_by("-created_at", "-id").first()
    proposals = Proposal.objects.filter(clip_id=clip_id).count()
    return {
        "num_frames": Frame.objects.filter(clip_id=clip_id).count(),
        "proposal_count": proposals,
        "has_proposals": proposals > 0,
        "annotated_count": len(statuses),
        "accepted_count": statuses.count("accepted"),
        "submitted_count": statuses.count("submitted"),
        "rejected_count": statuses.count("rejected"),
        "acquisition_score": latest.score if latest else None,
        "has_score": latest is not None,
    }


def recount_project(project_id: int) -> dict:
    clips = {c.pk: c for c in Clip.objects.filter(project_id=project_id)}
    counts = {name: 0 for name in PROJECT_COUNTERS}
    for clip in clips.values():
        counts["clip_count"] += 1
        counts[f"clips_{clip.status}"] += 1
        mine = recount_clip(clip.pk)
        if clip.status == "ready" and 0 < mine["num_frames"] == mine["accepted_count"]:
            counts["clips_done"] += 1
        counts["annotation_count"] += mine["annotated_count"]
        for status in ("submitted", "accepted", "rejected"):
            counts[f"annotations_{status}"] += mine[f"{status}_count"]
    return counts


def recount_versions(project_id: int) -> dict[int, tuple[int, float]]:
    out = {}
    for version in ModelVersion.objects.filter(project_id=project_id):
        ious = list(
            Annotation.objects.filter(source_proposal__model_version=version, proposal_iou__isnull=False).values_list(
                "proposal_iou", flat=True
            )
        )
        out[version.pk] = (len(ious), sum(ious))
    return out


def assert_counters_match(project: Project) -> None:
    for clip_id in Clip.objects.filter(project=project).values_list("pk", flat=True):
        stored = Clip.objects.filter(pk=clip_id).values(*CLIP_COUNTERS).get()
        assert stored == recount_clip(clip_id), f"clip {clip_id}"
    assert Project.objects.filter(pk=project.pk).values(*PROJECT_COUNTERS).get() == recount_project(project.pk)
    for version_id, (n, total) in recount_versions(project.pk).items():
        stored = ModelVersion.objects.filter(pk=version_id).values_list("edit_annotations", "edit_iou_sum").get()
        assert stored[0] == n and stored[1] == pytest.approx(total, abs=1e-9), f"model version {version_id}"


# --- the world ------------------------------------------------------------------------------------------------------


@pytest.fixture
def upload(project, tmp_path, django_capture_on_commit_callbacks):
    """Upload a synthetic video (3 s: 3 frames of 64×48 at the project's 1 fps) and ingest it."""

    def run(name: str, *, seconds: float = 3.0) -> Clip:
        path = make_video(tmp_path / name, seconds=seconds, fps=5)
        with open(path, "rb") as handle, django_capture_on_commit_callbacks(execute=True):
            clip, _, _ = clip_create_from_file(project=project, file=File(handle, name=name), name=name)
        clip.refresh_from_db()
        return clip

    return run


def proposal_frames(clip: Clip, *, width: int = 20) -> list[dict]:
    return [
        {"frame_index": f.index, "instances": [{"mask": box_mask(0, 0, 20, width), "label": "dog", "score": 0.9}]}
        for f in clip.frames.order_by("index")
    ]


def test_every_kind_of_write_keeps_the_counters_equal_to_a_count_from_scratch(
    project, upload, make_member, client_for, tmp_path
):
    manager, reviewer = make_member(project, Role.MANAGER), make_member(project, Role.REVIEWER)
    api, review_api = client_for(manager), client_for(reviewer)

    # Ingest: uploaded → processing → ready, with frames; a failure, then a retry.
    first, second = upload("first.mp4"), upload("second.mp4", seconds=3.4)  # two files: two clips
    assert first.status == second.status == "ready" and first.num_frames == second.num_frames == 3
    assert_counters_match(project)
    path = make_video(tmp_path / "broken.mp4", seconds=2.0, fps=5)
    with open(path, "rb") as handle:
        broken, job, _ = clip_create_from_file(
            project=project, file=File(handle, name="broken.mp4"), name="broken.mp4", enqueue=False
        )
    assert_counters_match(project)  # uploaded
    clip_ingest_fail(clip_id=broken.pk, job_id=job.pk, error="The worker died.")
    assert_counters_match(project)  # failed
    clip_ingest_retry(clip=Clip.objects.get(pk=broken.pk))
    assert Clip.objects.get(pk=broken.pk).status == "uploaded"
    assert_counters_match(project)

    # Proposals of two model versions.
    teacher, student = ModelVersionFactory(project=project), ModelVersionFactory(project=project)
    proposal = proposal_store(clip=first, model_version=teacher, frames=proposal_frames(first))
    proposal_store(clip=first, model_version=student, frames=proposal_frames(first, width=30))
    on_second = proposal_store(clip=second, model_version=teacher, frames=proposal_frames(second))
    assert_counters_match(project)

    # Annotation saves (new draft, then submitted), a proposal accepted on a frame, and on a whole clip.
    frames = list(first.frames.order_by("index"))
    saved = api.put(
        f"/api/frames/{frames[0].pk}/annotation/",
        {"instances": [{"mask": box_mask(0, 0, 10, 10), "label": "dog"}], "version": None},
        format="json",
    ).json()
    assert_counters_match(project)
    api.put(
        f"/api/frames/{frames[0].pk}/annotation/",
        {"instances": saved["instances"], "version": saved["version"], "status": "submitted"},
        format="json",
    )
    accepted = api.post(
        f"/api/frames/{frames[1].pk}/annotation/accept-proposal/",
        {"proposal": proposal.pk, "version": None},
        format="json",
    )
    assert accepted.status_code == 201, accepted.content
    assert_counters_match(project)
    bulk = api.post(f"/api/clips/{second.pk}/accept-proposals/", {"proposal": on_second.pk}, format="json")
    assert bulk.status_code == 200 and bulk.json()["created"] == 3, bulk.content
    assert_counters_match(project)
    assert ModelVersion.objects.get(pk=teacher.pk).edit_annotations == 4

    # Reviews: submit and accept every frame of the second clip (it leaves the queue: done), reject one of the first.
    for annotation in Annotation.objects.filter(clip=second):
        annotation = annotation_update(
            frame=annotation.frame,
            user=manager,
            role=Role.MANAGER,
            instances=annotation.instances,
            version=annotation.version,
            status="submitted",
        )
        response = review_api.post(
            f"/api/annotations/{annotation.pk}/reviews/", {"verdict": "accept", "annotation_version": 2}, format="json"
        )
        assert response.status_code == 201, response.content
    assert Project.objects.get(pk=project.pk).clips_done == 1
    submitted = Annotation.objects.get(frame=frames[0])
    review_create(
        annotation_id=submitted.pk,
        reviewer=reviewer,
        verdict="reject",
        comment="Too loose.",
        annotation_version=submitted.version,
    )
    assert_counters_match(project)

    # Acquisition scores: the latest one counts.
    acquisition_score_record(clip=first, score=0.9, model_version=teacher)
    acquisition_score_record(clip=first, score=0.2, model_version=student)
    acquisition_score_record(clip=second, score=0.5)
    assert Clip.objects.get(pk=first.pk).acquisition_score == 0.2
    assert_counters_match(project)

    # Label Studio: an import (through the same services) and its retraction (a delete).
    ls = connect(project)
    ls_frame = frames[2]
    annotation_import(
        connection=ls,
        task=ls_task(ls_frame),
        annotation=ls_annotation(ls_frame, ls_id=71, masks=[(box(1, 1, 9, 9), "x")]),
    )
    assert_counters_match(project)
    annotation_retract(connection=ls, ls_annotation_id=71)
    assert not Annotation.objects.filter(frame=ls_frame).exists()
    assert_counters_match(project)

    # Deletes: a clip with annotations started from proposals (the versions' statistics drop), through the API.
    assert api.delete(f"/api/clips/{second.pk}/").status_code == 204
    assert_counters_match(project)
    assert ModelVersion.objects.get(pk=teacher.pk).edit_annotations == 1
    assert Project.objects.get(pk=project.pk).clips_done == 0


def test_an_avsbench_import_stores_the_counters(project, tmp_path):
    from ml_backend.media.synth import generate_dataset

    root = tmp_path / "s4"
    generate_dataset(root, clips=6, seed=3, layout="s4", size=64)
    call_command(
        "import_avsbench", "--project", project.name, "--root", str(root), "--protocol", "s4", stdout=io.StringIO()
    )
    assert Clip.objects.filter(project=project).count() == 6
    assert_counters_match(project)
    assert Project.objects.get(pk=project.pk).annotations_accepted > 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_of_one_clip_and_one_project_keep_the_counters_exact():
    """Writers of different frames of one clip, and of another clip of the same project, at the same time: each takes
    its turn on the clip's row, and the project's counters move by exact amounts."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL's row locks (SQLite runs one writer at a time)")
    project = ProjectFactory()
    clips = [ClipFactory(project=project) for _ in range(2)]
    frames = [FrameFactory(clip=clip, index=k) for clip in clips for k in range(4)]
    user = UserFactory()
    start = threading.Barrier(len(frames))
    errors = []

    def save(frame: Frame) -> None:
        from django.db import connection as thread_connection

        try:
            start.wait()
            annotation = annotation_update(
                frame=frame,
                user=user,
                role=Role.MANAGER,
                instances=[{"mask": box_mask(0, 0, 8, 8), "label": "dog"}],
                version=None,
                status="submitted",
            )
            review_create(
                annotation_id=annotation.pk, reviewer=user, verdict="accept", comment="", annotation_version=1
            )
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=save, args=(frame,)) for frame in frames]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert_counters_match(project)
    stored = Project.objects.get(pk=project.pk)
    assert (stored.annotations_accepted, stored.clips_done) == (8, 2)


def test_a_stale_instance_saved_whole_does_not_undo_the_counters(project):
    clip = ClipFactory(project=project)  # read before its frames exist: num_frames 0 in memory
    FrameFactory(clip=clip, index=0)
    FrameFactory(clip=clip, index=1)
    clip.name = "renamed.mp4"
    clip.save()
    stored = Clip.objects.get(pk=clip.pk)
    assert (stored.name, stored.num_frames) == ("renamed.mp4", 2)
    project.description = "changed"
    project.save()
    assert Project.objects.get(pk=project.pk).clip_count == 1


def bulk_world(project: Project) -> None:
    """Rows written behind the services' back (as a bulk load does): the counters are stale."""
    version = ModelVersionFactory(project=project)
    for n in range(3):
        clip = Clip.objects.create(project=project, name=f"bulk{n}.mp4", checksum=f"{n:064x}", status="ready")
        made = Frame.objects.bulk_create(
            [Frame(clip=clip, index=k, timestamp=k + 0.94, image=f"x/{k}.jpg", width=64, height=48) for k in range(2)]
        )
        proposal = Proposal.objects.create(clip=clip, model_version=version, frames=[])
        for k, frame in enumerate(made[: n + 1]):
            Annotation.objects.create(
                clip=clip,
                frame=frame,
                status=("accepted", "submitted")[k % 2],
                source_proposal=proposal,
                proposal_iou=0.5 + 0.1 * k,
            )
        AcquisitionScore.objects.create(clip=clip, score=0.1 * n)
    Clip.objects.create(project=project, name="new.mp4", checksum="f" * 64, status="uploaded")


def test_counters_rebuild_recounts_rows_loaded_in_bulk(project):
    bulk_world(project)
    with pytest.raises(AssertionError):
        assert_counters_match(project)
    out = io.StringIO()
    call_command("counters_rebuild", "--project", project.name, stdout=out)
    assert "Counters recomputed: 4 clips, 1 projects" in out.getvalue()
    assert_counters_match(project)


def test_the_migration_fills_the_counters_of_existing_rows(project):
    bulk_world(project)
    media = importlib.import_module("server.media.migrations.0005_clip_and_project_counters")
    learning = importlib.import_module("server.learning.migrations.0006_modelversion_edit_stats")
    media.counters_fill(apps, None)
    learning.edit_stats_fill(apps, None)
    assert_counters_match(project)


def test_an_ingest_that_replaces_frames_counts_the_new_ones(project, upload, tmp_path):
    clip = upload("long.mp4", seconds=4.0)
    assert clip.num_frames == 4
    Clip.objects.filter(pk=clip.pk).update(status=Clip.Status.FAILED)  # as a failed ingest leaves it
    from server.media.services import project_clip_counts_refresh

    project_clip_counts_refresh(project_id=project.pk)
    job = clip_ingest_retry(clip=clip)
    assert Clip.objects.get(pk=clip.pk).num_frames == 0  # the old frames are gone with the retry
    clip_ingest(clip_id=clip.pk, job_id=job.pk)
    assert Clip.objects.get(pk=clip.pk).num_frames == 4
    assert_counters_match(project)


def test_proposals_replaced_count_once(project, upload):
    clip = upload("one.mp4")
    version = ModelVersionFactory(project=project)
    proposal_store(clip=clip, model_version=version, frames=proposal_frames(clip))
    proposal_store(clip=clip, model_version=version, frames=proposal_frames(clip, width=5))
    assert Clip.objects.get(pk=clip.pk).proposal_count == 1
    assert_counters_match(project)
