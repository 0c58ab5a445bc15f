"""Poison loops: a task whose deliveries keep killing their worker is failed with a readable message, not run
forever (`server.jobs.deliveries`, AVS_TASK_MAX_DELIVERIES).

Celery is eager here: a worker that died is what `task_delivery_begin` without a matching end leaves behind
(the count a dead delivery committed before it started working). A real worker killed by its task is in
tests/server/integration/test_poison_loop.py.
"""

from __future__ import annotations

import uuid

import pytest
from django.core.files import File

from server.datasets.models import Export
from server.datasets.tasks import evaluation_run_task, export_run_task
from server.jobs.models import Job, TaskDelivery
from server.jobs.services import job_create, task_delivery_begin, task_delivery_end
from server.media.models import Clip
from server.media.services import clip_create_from_file
from server.media.tasks import clip_ingest_task
from tests.media_files import DEMO_SMALL, make_video

pytestmark = pytest.mark.django_db

INGEST = clip_ingest_task.name
DIED = "stopped after 3 deliveries: the worker died while running it (out of memory?)"


def upload(project, path, name):
    with open(path, "rb") as handle:
        clip, job, created = clip_create_from_file(
            project=project, file=File(handle, name=name), name=name, enqueue=False
        )
    assert created
    return clip, job


def deliveries_died(times: int, *, task: str, job_id: int, item: str = "") -> None:
    """What `times` deliveries whose worker died while running them leave in the database."""
    for _ in range(times):
        task_delivery_begin(task=task, job_id=job_id, item=item)


def test_the_count_grows_per_delivery_and_starts_again_when_one_ends(project):
    job = job_create(project_id=project.pk, kind=Job.Kind.INGEST)
    key = {"task": INGEST, "job_id": job.pk, "item": "clip:1"}
    assert [task_delivery_begin(**key) for _ in range(3)] == [1, 2, 3]
    task_delivery_end(**key)
    assert task_delivery_begin(**key) == 1
    assert task_delivery_begin(task=INGEST, job_id=job.pk, item="clip:2") == 1  # counted per item
    row = TaskDelivery.objects.get(**key)
    assert (row.unfinished, row.total) == (1, 4)


def test_the_delivery_after_n_deaths_fails_the_clip_and_the_others_ingest(project, settings, media_root, tmp_path):
    settings.AVS_TASK_MAX_DELIVERIES = 3
    poison, poison_job = upload(project, DEMO_SMALL, "huge.mp4")
    fine, fine_job = upload(project, make_video(tmp_path / "fine.mp4", seconds=2.0, fps=10), "fine.mp4")

    # Three deliveries of the poison clip died mid-ingest: the clip is processing, a half-written frame is left.
    deliveries_died(3, task=INGEST, job_id=poison_job.pk, item=f"clip:{poison.pk}")
    Clip.objects.filter(pk=poison.pk).update(status=Clip.Status.PROCESSING, ingest_attempt=uuid.uuid4())
    stray = media_root / f"projects/{project.pk}/clips/{poison.pk}/frames/00000.jpg"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"half a jpeg")
    # Two deliveries of the other clip died too: below the limit, its next delivery runs.
    deliveries_died(2, task=INGEST, job_id=fine_job.pk, item=f"clip:{fine.pk}")

    clip_ingest_task.delay(poison.pk, poison_job.pk)
    clip_ingest_task.delay(fine.pk, fine_job.pk)

    poison.refresh_from_db()
    poison_job.refresh_from_db()
    assert poison.status == Clip.Status.FAILED
    assert poison.error.startswith(f"Ingest {DIED}")
    assert "it is not tried again" in poison.error and "AVS_TASK_MAX_DELIVERIES" in poison.error
    assert (poison_job.status, poison_job.error) == (Job.Status.FAILED, poison.error)
    assert not poison.frames.exists() and not stray.exists()
    assert (media_root / poison.source.name).is_file()  # the upload is kept: it can be ingested again

    fine.refresh_from_db()
    fine_job.refresh_from_db()
    assert fine.status == Clip.Status.READY and fine.frames.count() == 2
    assert fine_job.status == Job.Status.SUCCEEDED
    assert TaskDelivery.objects.get(job=fine_job).unfinished == 0  # it ended alive: the count starts again

    # Yet another copy of the poison message is refused as well, and changes nothing.
    clip_ingest_task.delay(poison.pk, poison_job.pk)
    assert Clip.objects.get(pk=poison.pk).error == poison.error
    assert TaskDelivery.objects.get(job=poison_job).unfinished == 5


def test_retrying_a_clip_failed_that_way_starts_a_fresh_count(project, settings, django_capture_on_commit_callbacks):
    from server.media.services import clip_ingest_retry

    settings.AVS_TASK_MAX_DELIVERIES = 1
    clip, job = upload(project, DEMO_SMALL, "demo.mp4")
    deliveries_died(1, task=INGEST, job_id=job.pk, item=f"clip:{clip.pk}")
    clip_ingest_task.delay(clip.pk, job.pk)
    clip.refresh_from_db()
    assert clip.status == Clip.Status.FAILED and DIED.replace("3", "1") in clip.error

    with django_capture_on_commit_callbacks(execute=True):
        retry = clip_ingest_retry(clip=clip)
    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY and clip.frames.count() == 5
    assert Job.objects.get(pk=retry.pk).status == Job.Status.SUCCEEDED


@pytest.mark.parametrize("kind", ["export", "evaluation"])
def test_exports_and_evaluations_are_guarded_too(project, settings, kind):
    settings.AVS_TASK_MAX_DELIVERIES = 2
    if kind == "export":
        job = job_create(project_id=project.pk, kind=Job.Kind.EXPORT)
        export = Export.objects.create(project=project, job=job, format=Export.Format.JSON)
        deliveries_died(2, task=export_run_task.name, job_id=job.pk, item=f"export:{export.pk}")
        export_run_task.delay(export.pk)
        expected = f"The export {DIED.replace('3', '2')}"
    else:
        job = job_create(project_id=project.pk, kind=Job.Kind.EVALUATE)
        deliveries_died(2, task=evaluation_run_task.name, job_id=job.pk)
        evaluation_run_task.delay(job.pk, 1, [1], "all")
        expected = f"The evaluation {DIED.replace('3', '2')}"
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.error.startswith(expected), job.error
