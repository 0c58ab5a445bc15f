"""The whole Label Studio loop, end to end: a real Label Studio 1.23.2 (tests/labelstudio_server.py) calls back our
live server (pytest-django's `live_server`, AVS_PUBLIC_URL), and a real Celery worker on Redis serves the `ingest`
queue (webhook events are queued, not run inline).

push → Label Studio connects our ML backend (/ls/health, /ls/setup) → its "Retrieve predictions" action and an
interactive SAM click go through /ls/predict → an annotation made in Label Studio reaches /ls/webhook and the worker
imports it → `ls_pull` finds nothing new → the annotation's update becomes a new version of ours → "Start training"
reaches /ls/webhook and queues a round. The test prints its own time (Label Studio's start is the session fixture's).
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
import urllib.request
import wave
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.core.signals import request_started
from django.db import connection as db_connection

from server.annotations.models import Annotation
from server.annotations.services import frame_sam_predict
from server.config.celery_app import app as celery_app
from server.core.masks import rle_decode, rle_encode
from server.labelstudio.brush import brush_decode, brush_result
from server.labelstudio.models import AnnotationLink, Connection, TaskLink, WebhookEvent
from server.learning.models import AcquisitionScore, TrainingRound
from server.learning.training import current_proposer_version, training_round_cancel
from server.media.models import AudioTrack
from tests.celery_worker import Worker
from tests.factories import ClipFactory, FrameFactory, LabelFactory, ProjectFactory, ProposalFactory
from tests.labelstudio_server import LS_USER
from tests.server.labelstudio.ls_world import HEIGHT, WIDTH, box

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

EVENT_TASK = "server.labelstudio.tasks.labelstudio_event_task"
WORKER_START = 90.0  # seconds: the worker's first task waits for it to import Django and Celery (2 busy cores in CI)
STEP = 30.0  # seconds: any other webhook → worker → database round trip


# --- fixtures -------------------------------------------------------------------------------------------------------


@pytest.fixture
def ls_calls():
    """`(method, path)` of every request our live server receives under /ls/, in order (Label Studio's calls)."""
    calls: list[tuple[str, str]] = []
    lock = threading.Lock()

    def record(sender: Any, environ: dict[str, Any] | None = None, **kwargs: Any) -> None:
        path = (environ or {}).get("PATH_INFO", "")
        if path.startswith("/ls/") and not path.startswith("/ls/media/"):
            with lock:
                calls.append((environ.get("REQUEST_METHOD", ""), path))

    request_started.connect(record, weak=False, dispatch_uid="test_loop_ls_calls")
    yield calls
    request_started.disconnect(dispatch_uid="test_loop_ls_calls")


@pytest.fixture
def ingest_worker(transactional_db, media_root, tmp_path, sam_configured):
    """A worker of the project's Celery app on the `ingest` queue, sharing the test's PostgreSQL database, Redis
    (AVS_TEST_REDIS_URL, emptied before and after) and models; our process queues tasks instead of running them
    (stopped before the database is flushed)."""
    import redis

    from tests.utils import require_service

    url = settings.CELERY_BROKER_URL
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        client.ping()
    except redis.RedisError as exc:
        require_service("Redis", f"{url}: {exc}")
    if db_connection.vendor != "postgresql":
        require_service("PostgreSQL", "set DATABASE_URL=postgres://... so the worker and the test share a database")
    client.flushdb()
    db = db_connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "server.config.settings.local",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": url,
        "AVS_MEDIA_ROOT": str(media_root),
        "AVS_MODEL_CONFIG": str(settings.AVS_MODEL_CONFIG),
        "AVS_LOG_LEVEL": "INFO",
        "HF_HUB_OFFLINE": "1",
    }
    worker = Worker("lsloop", env, tmp_path / "worker.log", queues=("ingest",), task=EVENT_TASK)
    celery_app.conf.task_always_eager = False
    try:
        yield worker
    finally:
        celery_app.conf.task_always_eager = True
        worker.stop()
        client.flushdb()


@pytest.fixture
def ls(labelstudio_server, live_server, settings):
    """An SDK client of the real Label Studio; our live server is the address it calls back (AVS_PUBLIC_URL)."""
    from label_studio_sdk import LabelStudio

    settings.AVS_PUBLIC_URL = live_server.url
    client = LabelStudio(base_url=labelstudio_server.url, api_key=labelstudio_server.token, timeout=60)
    client.server = labelstudio_server
    return client


# --- helpers --------------------------------------------------------------------------------------------------------


def make_world() -> dict[str, Any]:
    """Two ready clips of two frames (48×64) with audio; the current proposer's proposal on every frame (two sounding
    objects each, distinct boxes) and an acquisition score per clip."""
    project = ProjectFactory(name="loopproj")
    LabelFactory(project=project, name="dog", color="#00ff00")
    LabelFactory(project=project, name="car", color="#0000ff")
    version = current_proposer_version(project=project)
    frames, expected = [], {}
    for c, acquisition in enumerate((0.3, 0.9)):
        clip = ClipFactory(project=project, fps=2.0)
        AudioTrack.objects.create(
            clip=clip, file=ContentFile(wav_bytes(), name="a.wav"), sample_rate=16000, duration=0.5, num_samples=8000
        )
        entries = []
        for k in range(2):
            frame = FrameFactory(clip=clip, index=k)
            n = 2 * c + k
            instances = [
                {"mask": box(n, 2 * n, 10 + n, 20 + 2 * n), "label": "dog", "score": 0.9},
                {"mask": box(25, 30 + n, 40, 60), "label": "car", "score": 0.6},
            ]
            entries.append({"frame_index": k, "instances": instances})
            frames.append(frame)
            expected[frame.pk] = [(i["label"], rle_decode(i["mask"])) for i in instances]
        ProposalFactory(clip=clip, model_version=version, frames=entries)
        AcquisitionScore.objects.create(clip=clip, model_version=version, score=acquisition)
    return {"project": project, "frames": frames, "version": version, "expected": expected}


def wav_bytes(seconds: float = 0.5, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00\x01" * int(seconds * rate))
    return buffer.getvalue()


def decoded(results: list[dict[str, Any]]) -> list[tuple[str, np.ndarray]]:
    """`(label, mask)` of Label Studio brush results."""
    out = []
    for result in results:
        assert result["type"] == "brushlabels" and result["from_name"] == "mask", result
        [label] = result["value"]["brushlabels"]
        out.append((label, brush_decode(result["value"]["rle"], height=HEIGHT, width=WIDTH)))
    return out


def same_masks(got: list[tuple[str, np.ndarray]], want: list[tuple[str, np.ndarray]]) -> bool:
    return len(got) == len(want) and all(
        gl == wl and np.array_equal(gm.astype(bool), wm.astype(bool))
        for (gl, gm), (wl, wm) in zip(got, want, strict=True)
    )


def random_mask(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((HEIGHT, WIDTH)) < 0.4


def ls_api(server, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """A plain call of Label Studio's REST API (the SDK drops the interactive answer, and its pager asks for a page
    past the last one, which fills Label Studio's log with tracebacks)."""
    request = urllib.request.Request(
        server.url + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Token {server.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"{}")


def ls_tasks(server, ls_project_id: int) -> dict[int, dict[str, Any]]:
    """Label Studio's tasks of the project, with predictions and annotations, by frame id."""
    page = ls_api(server, "GET", f"/api/tasks/?project={ls_project_id}&fields=all&page_size=100")
    return {t["data"]["frame_id"]: t for t in page["tasks"]}


def pull(project) -> str:
    out = io.StringIO()
    call_command("ls_pull", "--project", project.name, stdout=out)
    return out.getvalue()


# --- the loop -------------------------------------------------------------------------------------------------------


def test_the_whole_loop_through_a_real_label_studio(ls, ingest_worker, ls_calls):
    started = time.monotonic()
    server, worker = ls.server, ingest_worker

    def diagnosis() -> str:
        return (
            f"\n--- /ls/ calls: {ls_calls}\n--- worker (exit {worker.proc.poll()}):\n{worker.text()[-4000:]}"
            f"\n--- Label Studio:\n{server.log_tail(30)}"
        )

    def wait_for(condition: Callable[[], Any], what: str, timeout: float = STEP) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline or worker.proc.poll() is not None:
                pytest.fail(f"{what} did not happen within {timeout:.0f} s{diagnosis()}")
            time.sleep(0.1)

    def event_processed(action: str, after: int) -> WebhookEvent | None:
        event = WebhookEvent.objects.filter(connection=connection, action=action, pk__gt=after).first()
        return event if event is not None and event.status != WebhookEvent.Status.QUEUED else None

    world = make_world()
    project, version, expected = world["project"], world["version"], world["expected"]

    # 1. Push: Label Studio connects our ML backend (health, then setup) before it accepts it.
    out = io.StringIO()
    call_command("ls_push", "--project", project.name, "--ls-url", server.url, "--ls-token", server.token, stdout=out)
    assert "4 tasks (4 created" in out.getvalue(), out.getvalue()
    assert ("GET", "/ls/health") in ls_calls and ("POST", "/ls/setup") in ls_calls, diagnosis()
    connection = Connection.objects.get(project=project)
    backend = ls.ml.get(connection.ml_backend_id)
    assert (backend.state, backend.model_version) == ("CO", version.name), (backend, diagnosis())
    tasks = ls_tasks(server, connection.ls_project_id)
    assert sorted(tasks) == sorted(f.pk for f in world["frames"])
    for frame_id, task in tasks.items():
        [prediction] = task["predictions"]
        assert prediction["model_version"] == version.name
        assert same_masks(decoded(prediction["result"]), expected[frame_id]), frame_id

    # 2. Label Studio asks /ls/predict ("Retrieve predictions"): it skips tasks holding the proposer's predictions,
    #    so the pushed ones go first; what it stores is what our backend answered.
    pushed = {p["id"] for t in tasks.values() for p in t["predictions"]}
    for prediction_id in pushed:
        ls.predictions.delete(prediction_id)
    calls_before = len(ls_calls)
    ls.actions.create(
        id="retrieve_tasks_predictions",
        project=connection.ls_project_id,
        selected_items={"all": True, "excluded": []},
    )
    assert ("POST", "/ls/predict") in ls_calls[calls_before:], diagnosis()
    tasks = ls_tasks(server, connection.ls_project_id)
    frames_by_id = {f.pk: f for f in world["frames"]}
    for frame_id, task in tasks.items():
        [prediction] = task["predictions"]
        assert prediction["id"] not in pushed and prediction["model_version"] == version.name
        assert same_masks(decoded(prediction["result"]), expected[frame_id]), (frame_id, prediction)
        acquisition = 0.3 if frames_by_id[frame_id].clip_id == world["frames"][0].clip_id else 0.9
        assert prediction["score"] == pytest.approx(1 - acquisition)  # Label Studio serves low scores first

    # 3. An interactive SAM click through Label Studio: the tiny SAM in our server answers it, mask unchanged.
    frame = world["frames"][1]
    task_id = TaskLink.objects.get(connection=connection, frame=frame).ls_task_id
    keypoint = {
        "type": "keypointlabels",
        "from_name": "point",
        "to_name": "image",
        "is_positive": True,
        "original_width": WIDTH,
        "original_height": HEIGHT,
        "value": {"x": 25.0, "y": 50.0, "width": 1, "keypointlabels": ["dog"]},
    }
    answer = ls_api(
        server,
        "POST",
        f"/api/ml/{connection.ml_backend_id}/interactive-annotating",
        {"task": task_id, "context": {"result": [keypoint]}},
    )
    assert "data" in answer, (answer, diagnosis())
    assert answer["data"]["model_version"] == f"{version.name} + SAM click"
    sam = frame_sam_predict(frame=frame, points=[{"x": 16.0, "y": 24.0, "positive": True}], box=None)
    assert same_masks(decoded(answer["data"]["result"]), [("dog", rle_decode(sam["mask"]))])

    # 4. An annotation made in Label Studio reaches /ls/webhook; the worker imports it.
    drawn = random_mask(1)
    result = brush_result(mask=rle_encode(drawn), label="dog", from_name="mask", to_name="image", result_id="h1")
    created = ls.annotations.create(task_id, result=[result])
    event = wait_for(lambda: event_processed("ANNOTATION_CREATED", 0), "the import of the webhook", WORKER_START)
    assert event.status == WebhookEvent.Status.DONE, (event.outcome, diagnosis())
    annotation = Annotation.objects.select_related("author").get(frame=frame)
    assert (annotation.external_source, annotation.external_id) == ("labelstudio", str(created.id))
    assert annotation.author.email == LS_USER
    assert same_masks([(i["label"], rle_decode(i["mask"])) for i in annotation.instances], [("dog", drawn)])
    assert Annotation.objects.count() == 1

    # ... and a pull finds nothing new.
    assert "1 Label Studio annotations: 0 imported or updated, 1 unchanged" in pull(project), diagnosis()
    annotation.refresh_from_db()
    assert annotation.version == 1
    assert same_masks([(i["label"], rle_decode(i["mask"])) for i in annotation.instances], [("dog", drawn)])

    # 5. Updated in Label Studio: after the webhook and the worker, a new version of ours with the new mask.
    redrawn = random_mask(2)
    result = brush_result(mask=rle_encode(redrawn), label="car", from_name="mask", to_name="image", result_id="h1")
    ls.annotations.update(created.id, result=[result])
    event = wait_for(lambda: event_processed("ANNOTATION_UPDATED", event.pk), "the update's import")
    assert event.status == WebhookEvent.Status.DONE, (event.outcome, diagnosis())
    annotation.refresh_from_db()
    assert annotation.version == 2
    assert same_masks([(i["label"], rle_decode(i["mask"])) for i in annotation.instances], [("car", redrawn)])
    link = AnnotationLink.objects.get(connection=connection, ls_annotation_id=created.id)
    assert (link.state, link.imported_version) == (AnnotationLink.State.IMPORTED, 2)
    assert "0 imported or updated, 1 unchanged" in pull(project), diagnosis()
    assert Annotation.objects.get(pk=annotation.pk).version == 2

    # 6. "Start training" in Label Studio reaches /ls/webhook and queues a round (no worker serves training here).
    calls_before = len(ls_calls)
    ls.ml.train(connection.ml_backend_id)
    assert ("POST", "/ls/webhook") in ls_calls[calls_before:], diagnosis()
    assert ("POST", "/ls/train") not in ls_calls[calls_before:]  # Label Studio 1.23's "Start training" is a webhook
    training_round = TrainingRound.objects.get(project=project)
    assert training_round.trigger == TrainingRound.Trigger.LABELSTUDIO
    assert training_round.status == TrainingRound.Status.QUEUED
    training_round_cancel(training_round=training_round)

    elapsed = time.monotonic() - started
    print(f"\nLabel Studio loop: {elapsed:.1f} s (Label Studio started in {server.startup_seconds:.0f} s)")
