"""The ML-backend routes Label Studio calls (`/ls/*`), through Django's test client with Label Studio's payloads:
auth, health, setup, predict (stored proposals, queued pre-annotation, interactive SAM), webhooks, training."""

from __future__ import annotations

import base64
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from django.test import Client

from server.annotations.models import Annotation
from server.core.masks import rle_decode
from server.jobs.models import Job
from server.labelstudio.brush import brush_decode
from server.labelstudio.models import AnnotationLink, WebhookEvent
from server.learning.models import AcquisitionScore, LearningSettings, TrainingRound
from tests.factories import ClipFactory, FrameFactory, ModelVersionFactory, ProposalFactory
from tests.server.labelstudio.ls_world import (
    HEIGHT,
    LS_CREATED,
    LS_PROJECT,
    WIDTH,
    box,
    connect,
    ls_annotation,
    ls_task,
)

pytestmark = pytest.mark.django_db

DOG = box(5, 5, 20, 30)
CAT = box(25, 30, 40, 60)
PROJECT_UID = f"{LS_PROJECT}.{LS_CREATED}"  # how Label Studio names its project to an ML backend


def basic(user="ls-bridge", password="ls-bridge-secret") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def ls():
    """Label Studio's side: a Django test client presenting the bridge's Basic credentials."""
    return Client(HTTP_AUTHORIZATION=basic())


def post(client, route, body, **extra):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(f"/ls/{route}", data=data, content_type="application/json", **extra)


@pytest.fixture
def proposer(project):
    version = ModelVersionFactory(project=project, name="openavs-test-v1")
    LearningSettings.objects.create(project=project, proposer=version)
    return version


@pytest.fixture
def clip(project):
    return ClipFactory(project=project, width=WIDTH, height=HEIGHT)


@pytest.fixture
def frames(clip):
    return [FrameFactory(clip=clip, index=i) for i in range(2)]


@pytest.fixture
def users_api():
    """Label Studio's users API (`GET /api/users/{id}/`) on 127.0.0.1, enough for the annotator's email that
    webhooks leave out; stopped after the test."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            seen.append((self.path, self.headers.get("Authorization")))
            user_id = self.path.rstrip("/").rsplit("/", 1)[-1]
            body = json.dumps({"id": int(user_id), "email": f"user{user_id}@ls.example"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


# --- auth ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "route,method", [("health", "get"), ("setup", "post"), ("predict", "post"), ("webhook", "post"), ("train", "post")]
)
@pytest.mark.parametrize("authorization", [None, basic(password="wrong"), basic(user="other"), "Bearer x", "Basic !!"])
def test_wrong_or_missing_credentials_are_refused(route, method, authorization, project):
    connect(project)
    client = Client(HTTP_AUTHORIZATION=authorization) if authorization else Client()
    body = {"action": "ANNOTATION_CREATED", "project": {"id": LS_PROJECT}}
    response = client.generic(method.upper(), f"/ls/{route}", data=json.dumps(body), content_type="application/json")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic realm=")
    assert "AVS_LS_BASIC_AUTH_USER" in response.json()["message"]
    assert not WebhookEvent.objects.exists() and not TrainingRound.objects.exists()


def test_the_bridge_is_off_until_its_credentials_are_set(ls, settings):
    settings.AVS_LS_BASIC_AUTH_PASS = ""
    response = ls.get("/ls/health")
    assert response.status_code == 503
    assert "set AVS_LS_BASIC_AUTH_USER and AVS_LS_BASIC_AUTH_PASS" in response.json()["message"]


def test_ls_routes_are_not_the_web_apps(ls):
    assert ls.get("/ls/nothing-here").status_code == 404


# --- health, setup, versions, metrics ----------------------------------------------------------------------------


def test_health_answers_up_without_the_database(ls, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = ls.get("/ls/health")
    assert response.status_code == 200
    assert response.json() == {"status": "UP", "model_class": "AVSStudio"}


def test_setup_answers_the_current_proposer_version(ls, project, proposer):
    connect(project)
    body = {"project": PROJECT_UID, "schema": "<View/>", "hostname": "http://ls", "access_token": "t"}
    response = post(ls, "setup", body)
    assert response.status_code == 200
    assert response.json() == {"model_version": "openavs-test-v1"}


def test_setup_of_an_unknown_project_still_connects_and_logs(ls, caplog):
    with caplog.at_level(logging.WARNING, logger="server.labelstudio"):
        response = post(ls, "setup", {"project": "999.123"})
    assert response.status_code == 200
    assert response.json() == {"model_version": "AVSStudio"}
    assert "connected to no AVS Studio project" in caplog.text


def test_versions_and_metrics(ls, project, proposer):
    connect(project)
    ModelVersionFactory(project=project, name="student-2")
    ModelVersionFactory(name="of another project")
    # Label Studio sends GET /versions with a JSON body
    response = ls.generic(
        "GET", "/ls/versions", data=json.dumps({"project": PROJECT_UID}), content_type="application/json"
    )
    assert response.status_code == 200
    assert sorted(response.json()["versions"]) == ["openavs-test-v1", "student-2"]
    assert ls.get("/ls/metrics").json() == {}


# --- predict ------------------------------------------------------------------------------------------------------


def test_predict_answers_stored_proposals_as_brushes_in_task_order(ls, project, proposer, clip, frames):
    connect(project)
    ProposalFactory(
        clip=clip,
        model_version=proposer,
        frames=[
            {"frame_index": 0, "instances": [{"mask": DOG, "label": "dog", "score": 0.9, "provenance": {}}]},
            {
                "frame_index": 1,
                "instances": [
                    {"mask": CAT, "label": "cat", "score": 0.8, "provenance": {}},
                    {"mask": DOG, "label": "", "score": 0.4, "provenance": {}},
                ],
            },
        ],
    )
    AcquisitionScore.objects.create(clip=clip, score=0.9)
    AcquisitionScore.objects.create(clip=clip, score=0.25)  # the latest counts

    body = {"tasks": [ls_task(frames[1]), ls_task(frames[0])], "project": PROJECT_UID, "params": {"context": None}}
    response = post(ls, "predict", body)

    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["model_version"] for r in results] == ["openavs-test-v1"] * 2
    assert [r["score"] for r in results] == [0.75, 0.75]  # 1 − acquisition: Label Studio serves low scores first
    first, second = results[0]["result"], results[1]["result"]
    assert [r["value"]["brushlabels"] for r in first] == [["cat"], ["sounding object"]]
    assert all(r["type"] == "brushlabels" and r["from_name"] == "mask" and r["to_name"] == "image" for r in first)
    assert (first[0]["original_width"], first[0]["original_height"]) == (WIDTH, HEIGHT)
    decoded = brush_decode(first[0]["value"]["rle"], height=HEIGHT, width=WIDTH)
    assert np.array_equal(decoded, rle_decode(CAT))
    assert np.array_equal(brush_decode(second[0]["value"]["rle"], height=HEIGHT, width=WIDTH), rle_decode(DOG))


def test_predict_unscored_clip_has_no_score(ls, project, proposer, clip, frames):
    connect(project)
    ProposalFactory(clip=clip, model_version=proposer, frames=[])
    result = post(ls, "predict", {"tasks": [ls_task(frames[0])], "project": PROJECT_UID}).json()["results"][0]
    assert result == {"result": [], "score": None, "model_version": "openavs-test-v1"}


def test_predict_queues_pre_annotation_of_a_clip_without_proposal_once(ls, project, proposer, clip, frames):
    connect(project)
    ModelVersionFactory(project=project)  # a proposal of another version does not count
    body = {"tasks": [ls_task(frames[0]), ls_task(frames[1])], "project": PROJECT_UID}

    first = post(ls, "predict", body).json()["results"]
    second = post(ls, "predict", body).json()["results"]

    jobs = Job.objects.filter(project=project, kind=Job.Kind.PREANNOTATE)
    assert jobs.count() == 1
    assert jobs.get().result["request"]["clips"] == [clip.pk]
    for result in first + second:
        assert result["result"] == [] and result["score"] is None
        assert result["model_version"] == "openavs-test-v1 (proposing)"  # so Label Studio asks again later
    assert f"pre-annotation queued (job {jobs.get().pk})" in first[0]["note"]
    assert "is being proposed" in second[0]["note"]


def test_predict_for_an_unconnected_project_is_refused(ls, frames):
    response = post(ls, "predict", {"tasks": [ls_task(frames[0])], "project": "999.1"})
    assert response.status_code == 404
    assert "connected to no AVS Studio project" in response.json()["message"]


def test_predict_malformed_body(ls):
    assert post(ls, "predict", "{not json").status_code == 400
    response = post(ls, "predict", {"tasks": "x", "project": PROJECT_UID})
    assert response.status_code == 400 and "tasks must be a non-empty list" in response.json()["message"]


def test_interactive_keypoints_and_box_become_one_sam_brush(ls, project, proposer, frames, sam_configured):
    connect(project)
    context = {
        "result": [
            {
                "type": "keypointlabels",
                "from_name": "point",
                "to_name": "image",
                "is_positive": True,
                "original_width": WIDTH,
                "original_height": HEIGHT,
                "value": {"x": 25.0, "y": 50.0, "width": 1, "keypointlabels": ["dog"]},
            },
            {
                "type": "rectanglelabels",
                "from_name": "box",
                "to_name": "image",
                "value": {"x": 10.0, "y": 10.0, "width": 60.0, "height": 90.0, "rectanglelabels": ["dog"]},
            },
        ]
    }
    body = {"tasks": [ls_task(frames[0])], "project": PROJECT_UID, "params": {"context": context}}

    response = post(ls, "predict", body)

    assert response.status_code == 200, response.json()
    [prediction] = response.json()["results"]
    [result] = prediction["result"]
    assert result["type"] == "brushlabels" and result["value"]["brushlabels"] == ["dog"]
    assert (result["original_width"], result["original_height"]) == (WIDTH, HEIGHT)
    assert brush_decode(result["value"]["rle"], height=HEIGHT, width=WIDTH).shape == (HEIGHT, WIDTH)
    assert prediction["model_version"] == "openavs-test-v1 + SAM click"


def test_interactive_without_sam_says_which_setting(ls, project, proposer, frames, settings):
    settings.AVS_MODEL_CONFIG = ""
    connect(project)
    prompt = {"type": "keypointlabels", "value": {"x": 50, "y": 50, "keypointlabels": ["dog"]}, "is_positive": True}
    body = {"tasks": [ls_task(frames[0])], "project": PROJECT_UID, "params": {"context": {"result": [prompt]}}}
    response = post(ls, "predict", body)
    assert response.status_code == 503
    assert "AVS_MODEL_CONFIG" in response.json()["message"]


# --- webhooks -----------------------------------------------------------------------------------------------------


def webhook(action, frame, annotation):
    """Label Studio's ANNOTATION_* webhook body: the annotation (completed_by an id), its task, the project."""
    return {"action": action, "annotation": annotation, "task": ls_task(frame), "project": {"id": LS_PROJECT}}


def test_an_annotation_created_in_label_studio_is_imported_by_the_worker(
    ls, project, frames, users_api, django_capture_on_commit_callbacks
):
    url, seen = users_api
    connect(project, url=url, token="ls-token")
    annotation = ls_annotation(frames[0], ls_id=77, masks=[(DOG, "dog")], completed_by=5)

    with django_capture_on_commit_callbacks(execute=True):
        response = post(ls, "webhook", webhook("ANNOTATION_CREATED", frames[0], annotation))

    assert response.status_code == 201
    event = WebhookEvent.objects.get(pk=response.json()["event"])
    assert event.status == WebhookEvent.Status.DONE, event.outcome
    assert "imported as version 1" in event.outcome
    stored = Annotation.objects.get(frame=frames[0])
    assert stored.instances == [{"mask": DOG, "label": "dog"}]
    assert stored.author.email == "user5@ls.example"
    assert seen == [("/api/users/5/", "Token ls-token")]

    # delivered again (Label Studio retries), then updated, then deleted
    with django_capture_on_commit_callbacks(execute=True):
        post(ls, "webhook", webhook("ANNOTATION_CREATED", frames[0], annotation))
    assert Annotation.objects.get(frame=frames[0]).version == 1
    updated = ls_annotation(frames[0], ls_id=77, masks=[(CAT, "cat")], completed_by=5, updated_at="2026-02-01T00:00Z")
    with django_capture_on_commit_callbacks(execute=True):
        post(ls, "webhook", webhook("ANNOTATION_UPDATED", frames[0], updated))
    assert Annotation.objects.get(frame=frames[0]).instances == [{"mask": CAT, "label": "cat"}]
    deleted = {"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 77}], "project": {"id": LS_PROJECT}}
    with django_capture_on_commit_callbacks(execute=True):
        response = post(ls, "webhook", deleted)
    assert WebhookEvent.objects.get(pk=response.json()["event"]).status == WebhookEvent.Status.DONE
    assert not Annotation.objects.filter(frame=frames[0]).exists()
    assert AnnotationLink.objects.get(ls_annotation_id=77).state == AnnotationLink.State.RETRACTED


def test_the_webhook_stores_and_queues_but_does_not_import_inline(ls, project, frames):
    connect(project)
    annotation = ls_annotation(frames[0], ls_id=77, masks=[(DOG, "dog")])
    body = webhook("ANNOTATION_CREATED", frames[0], annotation)
    body["project"] |= {"label_config": "<View/>", "task_data_password": "secret"}  # Label Studio sends it all
    response = post(ls, "webhook", body)  # the commit that would queue the task never happens in this test
    assert response.status_code == 201
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.QUEUED
    assert event.payload["project"] == {"id": LS_PROJECT}  # only the id of Label Studio's project record is kept
    assert event.payload["annotation"] == annotation
    assert not Annotation.objects.exists()


def test_processing_an_event_twice_changes_nothing(ls, project, frames, django_capture_on_commit_callbacks):
    from server.labelstudio.tasks import labelstudio_event_task

    connect(project)
    annotation = ls_annotation(frames[0], ls_id=77, masks=[(DOG, "dog")])
    with django_capture_on_commit_callbacks(execute=True):
        event_id = post(ls, "webhook", webhook("ANNOTATION_CREATED", frames[0], annotation)).json()["event"]
    labelstudio_event_task.delay(event_id)
    assert Annotation.objects.get().version == 1
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.DONE


def test_a_wrong_size_brush_fails_the_event_with_the_message(ls, project, frames, django_capture_on_commit_callbacks):
    connect(project)
    annotation = ls_annotation(frames[0], ls_id=77, masks=[(box(0, 0, 2, 2, shape=(10, 10)), "dog")])
    with django_capture_on_commit_callbacks(execute=True):
        post(ls, "webhook", webhook("ANNOTATION_CREATED", frames[0], annotation))
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.FAILED
    assert "drawn on a 10x10 picture but the frame is 64x48" in event.outcome
    assert not Annotation.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[1, 2]",
        {"no": "action"},
        {"action": ""},
        {"action": "ANNOTATION_CREATED", "project": {"id": LS_PROJECT}},
        {"action": "ANNOTATION_UPDATED", "annotation": [1], "task": {}},
        {"action": "ANNOTATIONS_DELETED", "annotations": [{"id": "x"}]},
    ],
)
def test_malformed_webhooks_are_refused_and_nothing_is_stored(ls, project, body):
    connect(project)
    response = post(ls, "webhook", body)
    assert response.status_code == 400
    assert response.json()["message"]
    assert not WebhookEvent.objects.exists()


def test_an_oversized_body_is_refused(ls, project, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = post(ls, "webhook", {"action": "ANNOTATION_CREATED", "padding": "x" * 2000})
    assert response.status_code == 413
    assert "AVS_REQUEST_BODY_MAX_BYTES" in response.json()["message"]
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize("action", ["PROJECT_UPDATED", "TASKS_CREATED", "LABEL_LINK_CREATED", "SOMETHING_NEW"])
def test_other_actions_are_answered_and_ignored(ls, project, action):
    connect(project)
    response = post(ls, "webhook", {"action": action, "project": {"id": LS_PROJECT}, "tasks": [{"id": 1}]})
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert not WebhookEvent.objects.exists()


def test_a_webhook_of_an_unknown_project_is_logged_and_ignored(ls, frames, caplog):
    annotation = ls_annotation(frames[0], ls_id=77, masks=[(DOG, "dog")])
    with caplog.at_level(logging.WARNING, logger="server.labelstudio"):
        response = post(ls, "webhook", webhook("ANNOTATION_CREATED", frames[0], annotation) | {"project": {"id": 9}})
    assert response.status_code == 200 and response.json()["status"] == "ignored"
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.IGNORED
    assert "Label Studio project 9 is connected to no AVS Studio project" in caplog.text
    assert not Annotation.objects.exists()


def test_a_webhook_of_an_unknown_task_is_logged_and_ignored(ls, project, django_capture_on_commit_callbacks, caplog):
    connect(project)
    elsewhere = FrameFactory(index=0)  # a frame of another project
    annotation = ls_annotation(elsewhere, ls_id=77, masks=[(DOG, "dog")])
    with caplog.at_level(logging.INFO, logger="server.labelstudio"), django_capture_on_commit_callbacks(execute=True):
        post(ls, "webhook", webhook("ANNOTATION_CREATED", elsewhere, annotation))
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.IGNORED
    assert "is no frame of project" in event.outcome and "is no frame of project" in caplog.text
    assert not Annotation.objects.exists() and not AnnotationLink.objects.exists()


# --- training -----------------------------------------------------------------------------------------------------


def test_start_training_queues_a_round_and_a_second_press_says_one_runs(ls, project, proposer):
    connect(project)
    body = {"action": "START_TRAINING", "project": {"id": LS_PROJECT, "title": "x"}}

    response = post(ls, "webhook", body)

    assert response.status_code == 201
    training_round = TrainingRound.objects.get(pk=response.json()["training_round"])
    assert training_round.project == project
    assert training_round.trigger == TrainingRound.Trigger.LABELSTUDIO
    assert training_round.status == TrainingRound.Status.QUEUED
    again = post(ls, "webhook", body)
    assert again.status_code == 409
    assert f"Training round {training_round.pk} of this project is queued" in again.json()["message"]
    assert TrainingRound.objects.count() == 1


def test_legacy_train_route_starts_a_round(ls, project, proposer):
    connect(project)
    response = post(ls, "train", {"annotations": [], "project": PROJECT_UID, "label_config": "<View/>"})
    assert response.status_code == 201
    assert TrainingRound.objects.get().pk == response.json()["training_round"]


def test_training_an_unknown_project_is_refused(ls):
    response = post(ls, "webhook", {"action": "START_TRAINING", "project": {"id": 9}})
    assert response.status_code == 404
    assert not TrainingRound.objects.exists()
