"""Jobs as users see them: status, progress, message, readable error, what they work on."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from server.accounts.models import Role
from server.jobs.models import Job
from server.jobs.services import job_create, job_fail, job_progress, job_start
from tests.factories import ClipFactory, JobFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db

WHO = ["anonymous", "outsider", "annotator", "reviewer", "manager", "superuser"]
READ = dict(anonymous=401, outsider=404, annotator=200, reviewer=200, manager=200, superuser=200)


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("path", ["/api/projects/{project}/jobs/", "/api/jobs/{job}/"], ids=["list", "detail"])
def test_permission_matrix(project, actor, client_for, path, who):
    job = JobFactory(project=project)
    response = client_for(actor(project, who)).get(path.format(project=project.pk, job=job.pk))
    assert response.status_code == READ[who], response.data
    if READ[who] == 404:
        assert response.data["message"] in ("Project not found.", "Job not found.")


def test_job_detail_reports_progress_error_and_target(project, make_member, client_for):
    manager = make_member(project, role=Role.MANAGER)
    clip = ClipFactory(project=project)
    job = job_create(project_id=project.pk, kind=Job.Kind.INGEST, created_by=manager, target=clip)
    client = client_for(make_member(project, role=Role.ANNOTATOR))

    queued = client.get(f"/api/jobs/{job.pk}/").data
    assert (queued["status"], queued["progress"], queued["message"]) == ("queued", 0, "Queued.")
    assert queued["target"] == {"type": "media.clip", "id": clip.pk}
    assert queued["created_by"] == {"id": manager.pk, "username": manager.username}
    assert queued["started_at"] is None and queued["finished_at"] is None

    job_start(job_id=job.pk)
    job_progress(job_id=job.pk, progress=42.7, message="Decoding frames (42%).")
    running = client.get(f"/api/jobs/{job.pk}/").data
    assert (running["status"], running["progress"], running["message"]) == ("running", 42, "Decoding frames (42%).")
    assert running["started_at"] is not None

    job_fail(job_id=job.pk, error="The file is not a video PyAV can read.")
    failed = client.get(f"/api/jobs/{job.pk}/").data
    assert failed["status"] == "failed"
    assert failed["error"] == "The file is not a video PyAV can read."
    assert failed["finished_at"] is not None


def test_job_list_is_newest_first_and_filters_by_status_and_kind(project, make_member, client_for):
    ingest_done = JobFactory(project=project, kind=Job.Kind.INGEST, status=Job.Status.SUCCEEDED)
    ingest_running = JobFactory(project=project, kind=Job.Kind.INGEST, status=Job.Status.RUNNING)
    export_running = JobFactory(project=project, kind=Job.Kind.EXPORT, status=Job.Status.RUNNING)
    JobFactory(project=ProjectFactory())  # another project's
    client = client_for(make_member(project, role=Role.REVIEWER))

    def ids(query: str = "") -> list[int]:
        response = client.get(f"/api/projects/{project.pk}/jobs/{query}")
        assert response.status_code == 200, response.data
        return [job["id"] for job in response.data["results"]]

    assert ids() == [export_running.pk, ingest_running.pk, ingest_done.pk]
    assert ids("?status=running") == [export_running.pk, ingest_running.pk]
    assert ids("?kind=ingest") == [ingest_running.pk, ingest_done.pk]
    assert ids("?status=running&kind=ingest") == [ingest_running.pk]
    assert ids("?status=queued") == []


def test_unknown_filter_value_is_refused(project, make_member, client_for):
    response = client_for(make_member(project)).get(f"/api/projects/{project.pk}/jobs/?status=done")
    assert response.status_code == 400
    assert response.data["message"] == 'status: "done" is not a valid choice.'


def test_job_list_queries_do_not_grow_with_jobs(make_member, client_for):
    small, large = ProjectFactory(), ProjectFactory()
    user = UserFactory(is_superuser=True)
    for project, n in ((small, 2), (large, 6)):
        for _ in range(n):
            JobFactory(project=project, created_by=UserFactory(), target=ClipFactory(project=project))
    client = client_for(user)

    def count(project, n: int) -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"/api/projects/{project.pk}/jobs/")
        assert response.data["count"] == n
        assert all(job["target"]["type"] == "media.clip" for job in response.data["results"])
        return len(ctx.captured_queries)

    count(small, 2)  # warm-up
    assert count(small, 2) == count(large, 6)
