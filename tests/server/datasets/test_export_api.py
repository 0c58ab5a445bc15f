"""Export API: managers queue an export job, members download its zip, outsiders see nothing."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from server.accounts.models import Role
from server.datasets.models import Export
from server.jobs.models import Job
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported(project, datasets, import_dataset):
    out, error = import_dataset(project, datasets("s4"), "s4", "--split", "test")
    assert error is None, out
    return project


def start_export(client, project, django_capture_on_commit_callbacks, **body):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(f"/api/projects/{project.pk}/exports/", {"format": "avsbench", **body}, format="json")


def test_manager_exports_and_members_download_the_archive(
    imported, make_member, client_for, django_capture_on_commit_callbacks
):
    manager = make_member(imported, role=Role.MANAGER)

    response = start_export(client_for(manager), imported, django_capture_on_commit_callbacks)

    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    assert response.json()["kind"] == "export"
    job = client_for(manager).get(f"/api/jobs/{job_id}/").json()
    assert (job["status"], job["progress"]) == ("succeeded", 100)
    assert "(avsbench s4)" in job["message"]
    export = Export.objects.get(job_id=job_id)
    assert (
        export.file.name
        == f"projects/{imported.pk}/exports/{export.pk}/{imported.name.replace(' ', '-')}-avsbench-s4.zip"
    )

    for role in (Role.ANNOTATOR, Role.REVIEWER, Role.MANAGER):
        download = client_for(make_member(imported, role=role)).get(f"/api/exports/{job_id}/download/")
        assert download.status_code == 200
        assert download["Content-Type"] == "application/zip"
        assert "attachment" in download["Content-Disposition"]
        with zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content))) as archive:
            assert "s4_meta_data.csv" in archive.namelist()


def test_outsiders_get_404_and_non_managers_cannot_export(
    imported, make_member, client_for, django_capture_on_commit_callbacks
):
    manager = make_member(imported, role=Role.MANAGER)
    job_id = start_export(client_for(manager), imported, django_capture_on_commit_callbacks).json()["id"]

    outsider = client_for(UserFactory())
    assert outsider.get(f"/api/exports/{job_id}/download/").status_code == 404
    assert outsider.get(f"/api/exports/{job_id}/download/").json()["message"] == "Export not found."
    assert client_for().get(f"/api/exports/{job_id}/download/").status_code in (401, 403)
    assert start_export(outsider, imported, django_capture_on_commit_callbacks).status_code == 404
    annotator = client_for(make_member(imported, role=Role.ANNOTATOR))
    refused = start_export(annotator, imported, django_capture_on_commit_callbacks)
    assert refused.status_code == 403
    assert Export.objects.count() == 1


def test_download_before_the_job_finishes_is_a_conflict(imported, make_member, client_for):
    manager = make_member(imported, role=Role.MANAGER)
    # Without running the on-commit callbacks the job stays queued.
    job_id = (
        client_for(manager)
        .post(f"/api/projects/{imported.pk}/exports/", {"format": "coco"}, format="json")
        .json()["id"]
    )

    response = client_for(manager).get(f"/api/exports/{job_id}/download/")

    assert response.status_code == 409
    assert response.json()["message"] == f"The export is not ready yet (job {job_id} is queued, 0%)."


def test_include_submitted_and_protocol_are_recorded_and_bad_requests_explained(
    imported, make_member, client_for, django_capture_on_commit_callbacks
):
    manager = client_for(make_member(imported, role=Role.MANAGER))

    response = start_export(
        manager, imported, django_capture_on_commit_callbacks, include_submitted=True, protocol="avss"
    )
    export = Export.objects.get(job_id=response.json()["id"])
    assert (export.include_submitted, export.protocol, export.job.status) == (True, "avss", Job.Status.SUCCEEDED)
    assert export.summary["clips"] >= 1

    bad = manager.post(f"/api/projects/{imported.pk}/exports/", {"format": "xml"}, format="json")
    assert bad.status_code == 400


def test_exporting_an_empty_project_is_refused_with_a_message(project, make_member, client_for):
    manager = client_for(make_member(project, role=Role.MANAGER))

    response = manager.post(f"/api/projects/{project.pk}/exports/", {"format": "json"}, format="json")

    assert response.status_code == 400
    assert "has no accepted annotations to export" in response.json()["message"]
    assert Job.objects.filter(kind=Job.Kind.EXPORT).count() == 0


def test_include_submitted_adds_submitted_frames_to_the_downloaded_archive(
    imported, make_member, client_for, django_capture_on_commit_callbacks
):
    from server.annotations.models import Annotation

    submitted = Annotation.objects.filter(clip__project=imported).first()
    Annotation.objects.filter(pk=submitted.pk).update(status=Annotation.Status.SUBMITTED)
    manager = client_for(make_member(imported, role=Role.MANAGER))

    def images(**body) -> list[int]:
        job_id = start_export(manager, imported, django_capture_on_commit_callbacks, format="coco", **body).json()["id"]
        download = manager.get(f"/api/exports/{job_id}/download/")
        with zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content))) as archive:
            document = json.loads(archive.read("annotations/instances.json"))
        return [image["id"] for image in document["images"]]

    accepted_only, with_submitted = images(), images(include_submitted=True)

    assert submitted.frame_id not in accepted_only
    assert sorted(with_submitted) == sorted([*accepted_only, submitted.frame_id])
