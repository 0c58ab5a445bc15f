"""The sync side of the Label Studio bridge: label config, signed media URLs, the connection API, and `ls_push` /
`ls_pull` against a real Label Studio 1.23.2 (tests/labelstudio_server.py) that calls back our live server."""

from __future__ import annotations

import io
import re
import socket
import threading
import time
import urllib.error
import urllib.request
import wave
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command

from server.accounts.models import Role
from server.annotations.models import Annotation
from server.core.masks import rle_decode, rle_encode
from server.jobs.models import Job
from server.labelstudio.brush import brush_decode, brush_result
from server.labelstudio.label_config import label_config
from server.labelstudio.media import audio_media_url, frame_media_url
from server.labelstudio.models import AnnotationLink, Connection, TaskLink
from server.learning.models import AcquisitionScore
from server.learning.training import current_proposer_version
from server.media.models import AudioTrack
from tests.factories import ClipFactory, FrameFactory, LabelFactory, ProjectFactory, ProposalFactory, UserFactory

HEIGHT, WIDTH = 48, 64  # FrameFactory's images
ODD_LABEL = 'dog & <cat> "quoted"'


def box(top: int, left: int, bottom: int, right: int) -> dict:
    mask = np.zeros((HEIGHT, WIDTH), dtype=bool)
    mask[top:bottom, left:right] = True
    return rle_encode(mask)


def wav_bytes(seconds: float = 0.5, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00\x01" * int(seconds * rate))
    return buffer.getvalue()


def make_world(*, frames: int = 3, name: str = "lsproj") -> dict:
    """A project with an odd label, one ready clip of `frames` frames with audio, the current proposer's proposal on
    frames 0 and 1 and an acquisition score of 0.8."""
    project = ProjectFactory(name=name)
    LabelFactory(project=project, name=ODD_LABEL, color="#00ff00")
    LabelFactory(project=project, name="car", color="#0000ff")
    clip = ClipFactory(project=project, fps=2.0)
    frame_list = [FrameFactory(clip=clip, index=k) for k in range(frames)]
    AudioTrack.objects.create(
        clip=clip, file=ContentFile(wav_bytes(), name="audio.wav"), sample_rate=16000, duration=0.5, num_samples=8000
    )
    version = current_proposer_version(project=project)
    proposal = ProposalFactory(
        clip=clip,
        model_version=version,
        frames=[
            {"frame_index": 0, "instances": [{"mask": box(2, 3, 20, 30), "label": ODD_LABEL, "score": 0.9}]},
            {"frame_index": 1, "instances": [{"mask": box(10, 10, 40, 60), "label": "car", "score": 0.7}]},
        ],
    )
    AcquisitionScore.objects.create(clip=clip, model_version=version, score=0.8)
    return {"project": project, "clip": clip, "frames": frame_list, "version": version, "proposal": proposal}


# --- label config and media (no Label Studio needed) -------------------------------------------------------------


@pytest.mark.django_db
def test_label_config_escapes_user_label_names_and_names_the_fixed_controls():
    world = make_world(frames=1)
    xml = label_config(project=world["project"], extra_labels=["sounding object"])
    root = ET.fromstring(xml)  # well-formed whatever the names
    controls = {el.tag: el.attrib for el in root if el.tag != "Header"}
    assert controls["Image"] == {"name": "image", "value": "$image", "zoom": "true", "zoomControl": "true"}
    assert controls["Audio"] == {"name": "audio", "value": "$audio"}
    assert controls["KeyPointLabels"]["smart"] == controls["RectangleLabels"]["smart"] == "true"
    assert root.find("Header").get("value") == "$window"
    brush = root.find("BrushLabels")
    assert (brush.get("name"), brush.get("toName")) == ("mask", "image")
    assert [(label.get("value"), label.get("background")) for label in brush] == [
        ("car", "#0000ff"),
        (ODD_LABEL, "#00ff00"),
        ("sounding object", "#888888"),
    ]
    assert "&lt;cat&gt;" in xml and "&quot;quoted&quot;" in xml


@pytest.mark.django_db
def test_signed_media_urls_serve_frame_and_audio_without_a_session(client, settings):
    settings.AVS_PUBLIC_URL = "http://avs.example:8000"
    world = make_world(frames=1)
    frame = world["frames"][0]
    url = frame_media_url(frame_id=frame.pk)
    assert url.startswith("http://avs.example:8000/ls/media/frame/")
    response = client.get(url.removeprefix("http://avs.example:8000"))
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    frame.image.open("rb")
    assert b"".join(response.streaming_content) == frame.image.read()
    audio = client.get(audio_media_url(clip_id=world["clip"].pk).removeprefix("http://avs.example:8000"))
    assert audio.status_code == 200 and audio["Content-Type"] == "audio/wav"
    assert b"".join(audio.streaming_content)[:4] == b"RIFF"


@pytest.mark.django_db
def test_bad_forged_or_expired_media_tokens_get_403_with_a_message(client, settings):
    settings.AVS_PUBLIC_URL = "http://avs.example:8000"
    world = make_world(frames=1)
    frame_path = frame_media_url(frame_id=world["frames"][0].pk).removeprefix("http://avs.example:8000")
    audio_path = audio_media_url(clip_id=world["clip"].pk).removeprefix("http://avs.example:8000")
    token = frame_path.rsplit("/", 1)[1]
    tampered = frame_path[:-3] + ("AAA" if not frame_path.endswith("AAA") else "BBB")
    for path in (tampered, "/ls/media/frame/not-a-token", f"/ls/media/audio/{token}"):  # a frame token opens no audio
        response = client.get(path)
        assert response.status_code == 403, path
        assert response.json()["detail"] == "This media link is not valid."
    settings.AVS_LS_MEDIA_URL_MAX_AGE = 1
    time.sleep(2.1)
    for path in (frame_path, audio_path):
        response = client.get(path)
        assert response.status_code == 403
        assert "expired" in response.json()["detail"] and "push the project" in response.json()["detail"]


# --- the connection API ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_connection_api_is_for_managers_and_never_returns_the_token(make_member, client_for, settings):
    project = ProjectFactory()
    manager = make_member(project, Role.MANAGER)
    annotator = make_member(project, Role.ANNOTATOR)
    outsider = UserFactory()
    url = f"/api/projects/{project.pk}/labelstudio/"

    assert client_for(annotator).get(url).status_code == 403
    assert client_for(annotator).put(url, {"url": "http://ls:8080", "token": "x"}, format="json").status_code == 403
    assert client_for(annotator).post(url + "push/").status_code == 403
    assert client_for(outsider).get(url).status_code == 404
    assert client_for().get(url).status_code in (401, 403)

    empty = client_for(manager).get(url).json()
    assert empty["connected"] is False and empty["url"] is None and empty["ls_project_id"] is None
    assert empty["has_token"] is False and empty["latest_job"] is None
    assert empty["ml_backend_url"] == settings.AVS_PUBLIC_URL.rstrip("/") + "/ls/"
    assert empty["counts"] == {"tasks": 0, "predictions": 0, "annotations_imported": 0, "conflicts": 0}
    assert empty["conflicts"] == []
    # Nothing to push yet: a readable 400.
    refused = client_for(manager).post(url + "push/")
    assert refused.status_code == 400 and "URL and token" in refused.json()["message"]

    secret = "s3cret-ls-token-value"
    response = client_for(manager).put(
        url, {"url": "http://ls.example:8080/", "token": secret, "import_status": "accepted"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["url"] == "http://ls.example:8080" and body["has_token"] is True
    assert body["import_status"] == "accepted" and body["connected"] is False
    assert secret not in response.content.decode()
    assert secret not in client_for(manager).get(url).content.decode()
    assert Connection.objects.get(project=project).token == secret
    # PUT without a token keeps the stored one.
    client_for(manager).put(url, {"url": "http://ls.example:8080"}, format="json")
    assert Connection.objects.get(project=project).token == secret
    bad = client_for(manager).put(url, {"url": "not a url"}, format="json")
    assert bad.status_code == 400

    started = client_for(manager).post(url + "push/")
    assert started.status_code == 202
    job = started.json()["job"]
    assert job["kind"] == "labelstudio" and job["status"] == "queued" and job["result"] == {"action": "push"}
    again = client_for(manager).post(url + "pull/")
    assert again.status_code in (400, 409)  # not pushed yet, and a push is queued
    assert client_for(manager).get(url).json()["latest_job"]["id"] == job["id"]


@pytest.mark.django_db
def test_push_job_to_an_unreachable_label_studio_fails_with_a_readable_message(
    make_member, client_for, django_capture_on_commit_callbacks
):
    project = ProjectFactory()
    manager = make_member(project, Role.MANAGER)
    FrameFactory(clip=ClipFactory(project=project))
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"/api/projects/{project.pk}/labelstudio/"
    client_for(manager).put(url, {"url": f"http://127.0.0.1:{port}", "token": "abcdef"}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(manager).post(url + "push/")
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["job"]["id"])
    assert job.status == Job.Status.FAILED
    assert job.error.startswith(f"cannot reach Label Studio at http://127.0.0.1:{port}:")
    assert "\n" not in job.error
    state = client_for(manager).get(url).json()
    assert state["last_error"] == job.error and state["latest_job"]["status"] == "failed"


def test_ls_push_command_without_a_project_or_url_says_what_to_give(db):
    with pytest.raises(CommandError, match='no project named "nope"'):
        call_command("ls_push", "--project", "nope")
    ProjectFactory(name="p1")
    with pytest.raises(CommandError, match="give --ls-url"):
        call_command("ls_push", "--project", "p1")
    with pytest.raises(CommandError, match="no Label Studio URL"):
        call_command("ls_push", "--project", "p1", "--ls-url", "ftp://x", "--ls-token", "abcdef")


# --- against a real Label Studio ------------------------------------------------------------------------------------


class CuttingProxy:
    """A TCP proxy to Label Studio that, once armed, lets the n-th request matching `pattern` reach Label Studio,
    drops its answer and goes down (connections refused) until `restore()`: Label Studio dying mid-push."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.port = 0
        self.pattern: re.Pattern[bytes] | None = None
        self.cut_at = 0
        self.seen = 0
        self.cut_pending = False
        self.down = False
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()
        self.restore()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def arm(self, pattern: bytes, nth: int) -> None:
        self.pattern, self.cut_at, self.seen = re.compile(pattern, re.M), nth, 0

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener, self.down, self.pattern = listener, False, None
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, requests: bool) -> None:
        try:
            while data := source.recv(65536):
                with self._lock:
                    if requests and self.pattern is not None:
                        self.seen += len(self.pattern.findall(data))
                        if self.seen >= self.cut_at:
                            self.cut_pending, self.pattern = True, None
                    elif not requests and self.cut_pending:  # the answer to the cut request: drop it, go down
                        self.cut_pending = False
                        self.go_down()
                        return
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def go_down(self) -> None:
        self.down = True
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); new connections are refused
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        for sock in self._sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            except OSError:
                pass
        self._sockets = []

    def close(self) -> None:
        self.go_down()


@pytest.fixture
def ls(labelstudio_server, live_server, settings):
    """The real Label Studio, our live server as the address it calls back (AVS_PUBLIC_URL) and an SDK client."""
    from label_studio_sdk import LabelStudio

    settings.AVS_PUBLIC_URL = live_server.url
    client = LabelStudio(base_url=labelstudio_server.url, api_key=labelstudio_server.token, timeout=30)
    client.server = labelstudio_server
    created_before = {p.id for p in client.projects.list(page_size=1000).items}
    yield client
    for project in client.projects.list(page_size=1000).items:  # each test leaves Label Studio as it found it
        if project.id not in created_before:
            client.projects.delete(project.id)


def ls_tasks(client, ls_project_id: int) -> list[dict]:
    return [t.model_dump(mode="json") for t in client.tasks.list(project=ls_project_id, fields="all", page_size=100)]


@pytest.mark.integration
def test_push_creates_project_tasks_predictions_webhook_and_ml_backend_and_rerun_duplicates_nothing(ls, settings):
    world = make_world(frames=3)
    project, frames = world["project"], world["frames"]
    out = io.StringIO()
    started = time.monotonic()
    call_command(
        "ls_push", "--project", project.name, "--ls-url", ls.server.url, "--ls-token", ls.server.token, stdout=out
    )
    first_push = time.monotonic() - started
    assert "3 tasks (3 created" in out.getvalue(), out.getvalue()
    connection = Connection.objects.get(project=project)
    assert connection.last_error == "" and connection.last_push_at is not None
    assert connection.counts["tasks"] == 3 and connection.counts["predictions"] == 2

    remote = ls.projects.get(connection.ls_project_id)
    assert remote.title == project.name
    assert ODD_LABEL in remote.label_config or "&lt;cat&gt;" in remote.label_config  # Label Studio accepted it
    assert set(remote.parsed_label_config["mask"]["labels"]) >= {ODD_LABEL, "car"}
    tasks = sorted(ls_tasks(ls, connection.ls_project_id), key=lambda t: t["data"]["frame_index"])
    assert [t["data"]["frame_id"] for t in tasks] == [f.pk for f in frames]
    data = tasks[0]["data"]
    assert data["clip_id"] == world["clip"].pk and data["avs_project"] == project.pk
    assert data["window"] == "Frame 1 of 3 · 0.00–0.50 s" and data["acquisition_score"] == 0.8
    assert data["image"].startswith(f"{settings.AVS_PUBLIC_URL}/ls/media/frame/")
    assert data["audio"].startswith(f"{settings.AVS_PUBLIC_URL}/ls/media/audio/")
    assert [len(t["predictions"]) for t in tasks] == [1, 1, 0]
    prediction = tasks[0]["predictions"][0]
    assert prediction["model_version"] == world["version"].name
    assert prediction["score"] == pytest.approx(0.2)  # 1 − acquisition: Label Studio serves low scores first
    [result] = prediction["result"]
    assert result["value"]["brushlabels"] == [ODD_LABEL]
    mask = brush_decode(result["value"]["rle"], height=HEIGHT, width=WIDTH)
    assert np.array_equal(mask, rle_decode(box(2, 3, 20, 30)))
    links = {link.frame_id: link for link in TaskLink.objects.filter(connection=connection)}
    assert {links[f.pk].ls_task_id for f in frames} == {t["id"] for t in tasks}
    assert links[frames[0].pk].prediction_id == prediction["id"]

    # The media URLs work for whoever holds them (Label Studio's browser), without a session.
    with urllib.request.urlopen(data["image"], timeout=10) as response:
        frames[0].image.open("rb")
        assert response.read() == frames[0].image.read()

    hooks = [
        h for h in ls.webhooks.list(project=str(connection.ls_project_id)) if h.project == connection.ls_project_id
    ]
    assert [h.url for h in hooks] == [f"{settings.AVS_PUBLIC_URL}/ls/webhook"]  # ours only: LS made no second one
    assert hooks[0].headers["Authorization"].startswith("Basic ") and hooks[0].id == connection.webhook_id
    [backend] = ls.ml.list(project=connection.ls_project_id)
    assert backend.url == f"{settings.AVS_PUBLIC_URL}/ls/" and backend.is_interactive
    assert backend.auth_method == "BASIC_AUTH" and backend.id == connection.ml_backend_id

    # Re-run: same tasks and predictions, nothing sent while the URLs are fresh.
    out = io.StringIO()
    call_command("ls_push", "--project", project.name, stdout=out)
    again = sorted(ls_tasks(ls, connection.ls_project_id), key=lambda t: t["data"]["frame_index"])
    assert [t["id"] for t in again] == [t["id"] for t in tasks]
    assert [[p["id"] for p in t["predictions"]] for t in again] == [[p["id"] for p in t["predictions"]] for t in tasks]
    assert again[0]["data"]["image"] == data["image"]
    assert "3 tasks (0 created, 0 re-linked, 0 refreshed), 2 predictions (0 sent, 2 unchanged" in out.getvalue()
    # URLs past a quarter of their lifetime are renewed by the next push.
    settings.AVS_LS_MEDIA_URL_MAX_AGE = 4
    time.sleep(1.1)
    out = io.StringIO()
    call_command("ls_push", "--project", project.name, stdout=out)
    assert "3 tasks (0 created, 0 re-linked, 3 refreshed)" in out.getvalue()
    renewed = sorted(ls_tasks(ls, connection.ls_project_id), key=lambda t: t["data"]["frame_index"])
    assert [t["id"] for t in renewed] == [t["id"] for t in tasks]
    assert renewed[0]["data"]["image"] != data["image"] and renewed[0]["data"]["audio"] != data["audio"]
    with urllib.request.urlopen(renewed[0]["data"]["image"], timeout=10) as response:
        assert response.status == 200
    settings.AVS_LS_MEDIA_URL_MAX_AGE = 3600
    assert len(ls.ml.list(project=connection.ls_project_id)) == 1
    proposal = world["proposal"]
    proposal.frames[1]["instances"][0]["mask"] = box(0, 0, 5, 5)
    proposal.save()
    call_command("ls_push", "--project", project.name, stdout=io.StringIO())
    third = sorted(ls_tasks(ls, connection.ls_project_id), key=lambda t: t["data"]["frame_index"])
    assert third[0]["predictions"][0]["id"] == tasks[0]["predictions"][0]["id"]
    [changed] = third[1]["predictions"]
    assert changed["id"] != tasks[1]["predictions"][0]["id"]
    assert np.array_equal(
        brush_decode(changed["result"][0]["value"]["rle"], height=HEIGHT, width=WIDTH), rle_decode(box(0, 0, 5, 5))
    )
    print(f"\nls_push of 3 frames: {first_push:.2f} s (Label Studio started in {ls.server.startup_seconds:.0f} s)")


@pytest.mark.integration
def test_label_studio_dying_mid_push_fails_readably_and_a_rerun_completes_without_duplicates(ls, settings):
    settings.AVS_LS_PUSH_BATCH = 2
    world = make_world(frames=5, name="cutproj")
    project = world["project"]
    proxy = CuttingProxy(ls.server.port)
    try:
        # Label Studio creates the second batch's tasks, then its answer is lost and the server is gone.
        proxy.arm(rb"^POST /api/projects/\d+/import", 2)
        with pytest.raises(CommandError) as failure:
            call_command("ls_push", "--project", project.name, "--ls-url", proxy.url, "--ls-token", ls.server.token)
        message = str(failure.value)
        assert message.startswith(f"Label Studio at {proxy.url} stopped answering when asked to import tasks 3–4")
        assert "run it again" in message and "\n" not in message
        job = Job.objects.filter(project=project, kind=Job.Kind.LABELSTUDIO).latest("created_at")
        assert job.status == Job.Status.FAILED and job.error == message
        connection = Connection.objects.get(project=project)
        assert connection.last_error == message
        assert TaskLink.objects.filter(connection=connection).count() == 2  # batch 2 went unrecorded
        assert len(ls_tasks(ls, connection.ls_project_id)) == 4

        # While it is down: the one-line "cannot reach".
        with pytest.raises(CommandError, match=rf"^cannot reach Label Studio at {re.escape(proxy.url)}: "):
            call_command("ls_push", "--project", project.name)

        proxy.restore()
        out = io.StringIO()
        call_command("ls_push", "--project", project.name, stdout=out)
        assert "5 tasks (1 created, 2 re-linked, 0 refreshed)" in out.getvalue(), out.getvalue()
        tasks = ls_tasks(ls, connection.ls_project_id)
        assert sorted(t["data"]["frame_id"] for t in tasks) == sorted(f.pk for f in world["frames"])
        assert TaskLink.objects.filter(connection=connection).count() == 5
        assert sum(len(t["predictions"]) for t in tasks) == 2
        connection.refresh_from_db()
        assert connection.last_error == "" and connection.counts["tasks"] == 5
    finally:
        proxy.close()


@pytest.mark.integration
def test_wrong_token_and_wrong_url_give_one_line_errors(ls):
    project = ProjectFactory(name="errproj")
    FrameFactory(clip=ClipFactory(project=project))
    with pytest.raises(CommandError) as failure:
        call_command("ls_push", "--project", project.name, "--ls-url", ls.server.url, "--ls-token", "wrong-token")
    assert str(failure.value) == (
        f"Label Studio at {ls.server.url} refused the token (401): check --ls-token (Label Studio: Account & "
        "Settings → Access Token; a legacy token also needs LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true on that server)."
    )
    with pytest.raises(CommandError) as failure:
        call_command("ls_push", "--project", project.name, "--ls-url", ls.server.url + "/nothere")
    assert str(failure.value).startswith(f"{ls.server.url}/nothere is not Label Studio's address (404 on its API)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(CommandError, match=rf"^cannot reach Label Studio at http://127\.0\.0\.1:{port}: .*--ls-url"):
        call_command("ls_push", "--project", project.name, "--ls-url", f"http://127.0.0.1:{port}")
    assert not TaskLink.objects.exists()


@pytest.mark.integration
def test_pull_imports_label_studio_annotations_idempotently_and_retracts_deleted_ones(ls):
    world = make_world(frames=2, name="pullproj")
    project, frame = world["project"], world["frames"][1]
    call_command("ls_push", "--project", project.name, "--ls-url", ls.server.url, "--ls-token", ls.server.token)
    connection = Connection.objects.get(project=project)
    ls.webhooks.update(connection.webhook_id, is_active=False)  # this test is about the pull, not the webhook
    task_id = TaskLink.objects.get(connection=connection, frame=frame).ls_task_id
    drawn = box(5, 6, 30, 40)
    result = brush_result(mask=drawn, label="car", from_name="mask", to_name="image", result_id="r1")
    created = ls.annotations.create(task_id, result=[result])

    out = io.StringIO()
    call_command("ls_pull", "--project", project.name, stdout=out)
    assert "1 Label Studio annotations: 1 imported" in out.getvalue(), out.getvalue()
    link = AnnotationLink.objects.get(connection=connection, ls_annotation_id=created.id)
    annotation = Annotation.objects.get(frame=frame)
    assert link.annotation_id == annotation.pk and annotation.external_source == "labelstudio"
    assert annotation.author.email == "ls-admin@example.com"
    assert [i["label"] for i in annotation.instances] == ["car"]
    assert np.array_equal(rle_decode(annotation.instances[0]["mask"]), rle_decode(drawn))

    out = io.StringIO()
    call_command("ls_pull", "--project", project.name, stdout=out)
    assert "0 imported or updated, 1 unchanged" in out.getvalue(), out.getvalue()
    assert Annotation.objects.get(frame=frame).version == annotation.version

    ls.annotations.delete(created.id)
    out = io.StringIO()
    call_command("ls_pull", "--project", project.name, stdout=out)
    assert "1 retracted" in out.getvalue(), out.getvalue()
    assert AnnotationLink.objects.get(pk=link.pk).state == AnnotationLink.State.RETRACTED
    connection.refresh_from_db()
    assert connection.last_pull_at is not None and connection.counts["annotations_imported"] == 0

    # The next push turns our webhook back on.
    call_command("ls_push", "--project", project.name, stdout=io.StringIO())
    assert ls.webhooks.get(connection.webhook_id).is_active


@pytest.mark.integration
def test_push_of_100_frames_and_its_rerun(ls):
    world = make_world(frames=100, name="bigproj")
    project = world["project"]
    world["proposal"].frames = [
        {"frame_index": k, "instances": [{"mask": box(k % 40, 2, k % 40 + 8, 50), "label": "car", "score": 0.5}]}
        for k in range(100)
    ]
    world["proposal"].save()
    timings = []
    for _ in range(2):
        started = time.monotonic()
        call_command(
            "ls_push",
            "--project",
            project.name,
            "--ls-url",
            ls.server.url,
            "--ls-token",
            ls.server.token,
            stdout=io.StringIO(),
        )
        timings.append(time.monotonic() - started)
    connection = Connection.objects.get(project=project)
    tasks = ls_tasks(ls, connection.ls_project_id)
    assert sorted(t["data"]["frame_id"] for t in tasks) == sorted(f.pk for f in world["frames"])
    assert [len(t["predictions"]) for t in tasks] == [1] * 100
    print(f"\nls_push of 100 frames: first {timings[0]:.1f} s, re-run {timings[1]:.1f} s")
