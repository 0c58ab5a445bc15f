"""A clip whose pre-annotation keeps killing its worker (out of memory) fails with a readable message after
AVS_TASK_MAX_DELIVERIES deliveries; the job finishes with the other clips done (`server.jobs.deliveries`).

Celery is eager: the deliveries that died are the counts they committed before working (`task_delivery_begin`)."""

from __future__ import annotations

import pytest

from server.annotations.models import Proposal
from server.annotations.preannotation import preannotate_request
from server.annotations.tasks import clip_preannotate_task
from server.jobs.models import Job
from server.jobs.services import task_delivery_begin

pytestmark = pytest.mark.django_db


def test_the_clip_that_killed_its_workers_fails_and_the_others_are_done(
    project, synth_clips, no_default_models, settings, django_capture_on_commit_callbacks
):
    settings.AVS_TASK_MAX_DELIVERIES = 3
    poison = synth_clips[1]
    with django_capture_on_commit_callbacks(execute=False) as queued:
        job = preannotate_request(project=project)
    for _ in range(3):  # three deliveries of the middle clip died while proposing
        task_delivery_begin(task=clip_preannotate_task.name, job_id=job.pk, item=f"clip:{poison.pk}")
    for callback in queued:  # the job's tasks reach the (eager) worker
        callback()

    job.refresh_from_db()
    entries = {e["clip"]: e for e in job.result["clips"]}
    assert entries[poison.pk]["status"] == "failed"
    assert entries[poison.pk]["error"].startswith(
        "Pre-annotation stopped after 3 deliveries: the worker died while running it (out of memory?)"
    )
    assert [entries[c.pk]["status"] for c in synth_clips if c != poison] == ["done", "done"]
    assert job.status == Job.Status.SUCCEEDED and job.result["outcome"] == "succeeded_with_warnings"
    assert job.result["counts"] == {"total": 3, "done": 2, "skipped": 0, "failed": 1}
    assert "out of memory?" in job.message
    assert not Proposal.objects.filter(clip=poison).exists()
    assert Proposal.objects.filter(clip__in=[c for c in synth_clips if c != poison]).count() == 2
