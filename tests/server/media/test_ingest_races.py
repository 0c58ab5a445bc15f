"""Ingest races: concurrent retries, duplicate and stale deliveries never wipe or fail a good clip.

Every ingest run claims the clip with an attempt id (`Clip.ingest_attempt`, under a row lock); only the run holding
it stores frames or fails the clip, and a ready clip is never touched again.
"""

from __future__ import annotations

import errno
import threading
from pathlib import Path

import pytest
from django.core.files import File
from django.core.files.storage import FileSystemStorage
from django.db import connection

from server.accounts.models import Role
from server.jobs.models import Job
from server.media.models import Clip, Frame
from server.media.services import clip_create_from_file, clip_ingest, clip_ingest_fail
from server.media.tasks import clip_ingest_task
from tests.media_files import DEMO_SMALL
from tests.utils import require_service

RETRIES = 4


def clip_files(root: Path, clip: Clip) -> list[str]:
    folder = root / f"projects/{clip.project_id}/clips/{clip.pk}"
    return sorted(p.relative_to(root).as_posix() for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def uploaded(project) -> tuple[Clip, Job]:
    with open(DEMO_SMALL, "rb") as handle:
        clip, job, _ = clip_create_from_file(
            project=project, file=File(handle, name=DEMO_SMALL.name), name=DEMO_SMALL.name, enqueue=False
        )
    return clip, job


def snapshot(clip: Clip, root: Path) -> dict:
    """What a user sees of a ready clip: its frames (ids, files) and the bytes of every file."""
    return {
        "frames": list(Frame.objects.filter(clip=clip).order_by("index").values_list("pk", "index", "image")),
        "audio": clip.audio.file.name,
        "files": {name: (root / name).read_bytes() for name in clip_files(root, clip)},
    }


class HookedStorage(FileSystemStorage):
    """Local storage that calls `hooks[n]()` just before its n-th save (1-based)."""

    def __init__(self, hooks):
        super().__init__()
        self.hooks, self.saves = hooks, 0

    def _save(self, name, content):
        self.saves += 1
        hook = self.hooks.get(self.saves)
        if hook is not None:
            hook()
        return super()._save(name, content)


# --- concurrent retries (PostgreSQL) ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_queue_one_ingest_and_the_clip_ends_ready(project, make_member, client_for, media_root):
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "row locks between threads need DATABASE_URL=postgres://...")
    clip, job = uploaded(project)
    clip_ingest_fail(clip_id=clip.pk, job_id=job.pk, error="The broker was unreachable.")
    manager = make_member(project, role=Role.MANAGER)
    start = threading.Barrier(RETRIES)
    answers: list[tuple[int, dict]] = []

    def retry() -> None:
        from django.db import connection as thread_connection

        try:
            start.wait()
            # Celery is eager: the winner's ingest runs inside its request, once its transaction commits.
            response = client_for(manager).post(f"/api/clips/{clip.pk}/ingest/")
            answers.append((response.status_code, response.json()))
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=retry) for _ in range(RETRIES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    codes = sorted(code for code, _ in answers)
    assert codes == [202] + [409] * (RETRIES - 1), answers
    for code, body in answers:
        if code == 409:
            assert body["message"].startswith(f"Clip {clip.pk} is ")
            assert "ingested again" in body["message"] or "already queued for ingest" in body["message"]
    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY and clip.error == ""
    assert sorted(clip.frames.values_list("index", flat=True)) == [0, 1, 2, 3, 4]
    assert len(clip_files(media_root, clip)) == 6  # 5 frames + audio.wav, every one present
    assert all((media_root / f.image.name).stat().st_size > 0 for f in clip.frames.all())
    ingest_jobs = Job.objects.filter(kind=Job.Kind.INGEST, target_id=clip.pk).exclude(pk=job.pk)
    assert [j.status for j in ingest_jobs] == [Job.Status.SUCCEEDED]  # exactly one retry ran


# --- duplicate and stale deliveries -----------------------------------------------------------------

pytestmark_db = pytest.mark.django_db


@pytestmark_db
def test_a_duplicate_delivery_of_a_finished_ingest_leaves_the_ready_clip_alone(project, media_root):
    clip, job = uploaded(project)
    clip_ingest_task.delay(clip.pk, job.pk)
    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY
    before = snapshot(clip, media_root)

    clip_ingest_task.delay(clip.pk, job.pk)  # the broker delivered the message once more

    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY
    assert snapshot(clip, media_root) == before
    assert Job.objects.get(pk=job.pk).status == Job.Status.SUCCEEDED


@pytestmark_db
def test_a_stale_delivery_of_a_replaced_job_changes_nothing(project, media_root, django_capture_on_commit_callbacks):
    from server.media.services import clip_ingest_retry

    clip, first = uploaded(project)
    clip_ingest_fail(clip_id=clip.pk, job_id=first.pk, error="The broker was unreachable.")
    with django_capture_on_commit_callbacks(execute=True):
        second = clip_ingest_retry(clip=clip)
    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY
    before = snapshot(clip, media_root)

    clip_ingest_task.delay(clip.pk, first.pk)  # the first job's message turns up late
    clip_ingest_fail(clip_id=clip.pk, job_id=first.pk, error="late failure report")

    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY and snapshot(clip, media_root) == before
    assert Job.objects.get(pk=first.pk).status == Job.Status.FAILED
    assert Job.objects.get(pk=second.pk).status == Job.Status.SUCCEEDED


@pytestmark_db
def test_a_stale_runs_failure_does_not_fail_the_clip_another_run_ingested(project, media_root):
    clip, job = uploaded(project)
    done = {}

    def duplicate_delivery_runs_to_the_end() -> None:
        clip_ingest(clip_id=clip.pk, job_id=job.pk)  # takes the clip over and makes it ready
        done["snapshot"] = snapshot(Clip.objects.get(pk=clip.pk), media_root)

    def disk_fails() -> None:
        raise OSError(errno.EIO, "disk went away")

    # The first run writes a frame, a duplicate delivery ingests the whole clip, then the first run fails.
    storage = HookedStorage({2: duplicate_delivery_runs_to_the_end, 3: disk_fails})
    clip_ingest(clip_id=clip.pk, job_id=job.pk, storage=storage, clock=lambda: 0.0)

    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY and clip.error == ""
    assert snapshot(clip, media_root) == done["snapshot"]  # nothing of the stale run's failure reached the clip
    assert Job.objects.get(pk=job.pk).status == Job.Status.SUCCEEDED


@pytestmark_db
def test_a_stale_run_that_finishes_keeps_out_and_removes_only_its_own_files(project, media_root):
    clip, job = uploaded(project)
    done = {}

    def duplicate_delivery_runs_to_the_end() -> None:
        clip_ingest(clip_id=clip.pk, job_id=job.pk)
        done["snapshot"] = snapshot(Clip.objects.get(pk=clip.pk), media_root)

    storage = HookedStorage({2: duplicate_delivery_runs_to_the_end})
    clip_ingest(clip_id=clip.pk, job_id=job.pk, storage=storage, clock=lambda: 0.0)

    assert storage.saves == 6  # the stale run decoded everything, then found the clip taken over
    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY
    assert snapshot(clip, media_root) == done["snapshot"]  # same frames, files and bytes; no stray files


@pytestmark_db
def test_retrying_a_ready_clip_is_a_409_and_its_frames_stay(project, make_member, client_for, media_root):
    clip, job = uploaded(project)
    clip_ingest_task.delay(clip.pk, job.pk)
    clip.refresh_from_db()
    before = snapshot(clip, media_root)
    response = client_for(make_member(project, role=Role.MANAGER)).post(f"/api/clips/{clip.pk}/ingest/")
    assert response.status_code == 409
    assert response.json() == {
        "message": f"Clip {clip.pk} is ready; only failed or uploaded clips can be ingested again.",
        "extra": {"status": "ready"},
    }
    assert snapshot(Clip.objects.get(pk=clip.pk), media_root) == before


@pytestmark_db
def test_retrying_a_clip_whose_ingest_is_still_queued_is_a_409(project, make_member, client_for):
    clip, job = uploaded(project)  # queued, not run yet
    response = client_for(make_member(project, role=Role.MANAGER)).post(f"/api/clips/{clip.pk}/ingest/")
    assert response.status_code == 409
    assert response.json()["message"] == f"Clip {clip.pk} is already queued for ingest (job {job.pk})."
    assert Job.objects.filter(kind=Job.Kind.INGEST, target_id=clip.pk).count() == 1
