"""A down broker: the upload is kept, the job says why it did not run, and a retry ingests it."""

from __future__ import annotations

import pytest

from server.accounts.models import Role
from server.config.celery_app import app as celery_app
from server.jobs.models import Job
from server.media.models import Clip
from tests.factories import ClipFactory
from tests.media_files import DEMO_SMALL

pytestmark = pytest.mark.django_db


def _drop_connection_pools() -> None:
    """Forget the app's cached broker connections so the next publish connects to `broker_url` anew."""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def unreachable_broker():
    """Point the producer at a port where nothing listens (a real connection refusal, no mock)."""
    conf = celery_app.conf
    saved = conf.broker_url, conf.task_always_eager, conf.broker_transport_options, conf.task_publish_retry_policy
    _drop_connection_pools()
    conf.broker_url = "redis://127.0.0.1:9/0"
    conf.task_always_eager = False
    conf.broker_transport_options = {}
    conf.task_publish_retry_policy = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.1}
    yield
    _drop_connection_pools()
    conf.broker_url, conf.task_always_eager, conf.broker_transport_options, conf.task_publish_retry_policy = saved


def test_upload_with_broker_down_keeps_the_file_and_retry_ingests_it(
    project, make_member, client_for, media_root, unreachable_broker, django_capture_on_commit_callbacks
):
    manager = make_member(project, Role.MANAGER)
    client = client_for(manager)
    with open(DEMO_SMALL, "rb") as fh, django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/projects/{project.pk}/clips/", {"file": fh}, format="multipart")
    assert response.status_code == 201, response.content
    clip = Clip.objects.get(pk=response.json()["clip"]["id"])
    job = Job.objects.get(pk=response.json()["job_id"])
    assert clip.status == Clip.Status.FAILED
    assert "broker is unreachable" in clip.error and f"/api/clips/{clip.pk}/ingest/" in clip.error
    assert job.status == Job.Status.FAILED and "CELERY_BROKER_URL" in job.error
    assert (media_root / clip.source.name).is_file()  # the upload is not lost

    # Broker back (eager worker): the retry endpoint ingests the stored source.
    celery_app.conf.task_always_eager = True
    with django_capture_on_commit_callbacks(execute=True):
        retry = client.post(f"/api/clips/{clip.pk}/ingest/")
    assert retry.status_code == 202, retry.content
    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY and clip.error == ""
    assert clip.frames.count() == 5
    assert Job.objects.get(pk=retry.json()["job_id"]).status == Job.Status.SUCCEEDED

    again = client.post(f"/api/clips/{clip.pk}/ingest/")
    assert again.status_code == 409
    assert "only failed or uploaded clips" in again.json()["message"]


def test_only_managers_can_retry_an_ingest(project, make_member, client_for):
    annotator = make_member(project, Role.ANNOTATOR)
    clip = ClipFactory(project=project, status=Clip.Status.FAILED)
    assert client_for(annotator).post(f"/api/clips/{clip.pk}/ingest/").status_code == 403
    outsider = make_member(ClipFactory().project, Role.MANAGER)
    assert client_for(outsider).post(f"/api/clips/{clip.pk}/ingest/").status_code == 404
