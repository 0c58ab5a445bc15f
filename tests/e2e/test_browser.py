"""Browser end-to-end tests: the built web app in headless Chromium against a live server.

Each test seeds the demo data set (`server.core.demo.demo_seed`, what `manage.py seed_demo` runs) into
the test database, starts pytest-django's `live_server` (a real threaded HTTP server on 127.0.0.1, same
process, transactional database: PostgreSQL when DATABASE_URL says so), and runs one self-contained
playwright-core script from frontend/e2e/ with node. The script exits 0 when every check passed; on
failure its output (reason, browser console, failed requests) is shown here and screenshots of its pages
are under var/e2e/.

Needs node, /usr/bin/chromium, frontend/node_modules (playwright-core) and the built bundle
(`make frontend`): missing tools skip locally and fail in CI (AVS_REQUIRE_SERVICES=1); a missing bundle
always fails, naming the command that builds it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

from server.accounts.models import Role
from server.annotations.services import annotation_update
from server.core.demo import demo_seed
from server.core.masks import rle_encode
from server.learning.acquisition import acquisition_score_store
from server.learning.models import LearningSettings, TrainingRound
from tests.media_files import DEMO_SMALL
from tests.utils import require_service

os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")  # read when live_server starts

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "frontend" / "e2e"
SCREENSHOTS = ROOT / "var" / "e2e"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
PASSWORD = "e2e-pass-word"
SPEC_TIMEOUT_MS = 120_000  # each script bounds itself; the process is killed 60 s later at the latest


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        require_service("node", "the browser tests run playwright-core scripts with node (Node 20)")
    if not CHROMIUM.is_file():
        require_service("Chromium", f"{CHROMIUM} is missing (Debian: apt-get install chromium)")
    if not (ROOT / "frontend" / "node_modules" / "playwright-core").is_dir():
        require_service("playwright-core", "frontend/node_modules has no playwright-core: run `make install`")
    if not (ROOT / "frontend" / "dist" / "index.html").is_file():
        pytest.fail("frontend/dist/index.html is missing: build the web app with `make frontend` first.")
    assert found is not None
    return found


@pytest.fixture
def demo(node, live_server):
    """The demo data set (users manager/annotator/reviewer, project, 5-frame clip, fixture proposal)."""
    return demo_seed(password=PASSWORD, clip_path=DEMO_SMALL, proposer=None)


def run_spec(node: str, spec: str, live_server, **env: object) -> str:
    """Run frontend/e2e/<spec> against the live server; return its output, failing the test with it."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    child_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "BASE_URL": live_server.url,
        "SCREENSHOT_DIR": str(SCREENSHOTS),
        "CHROMIUM_PATH": str(CHROMIUM),
        "E2E_TIMEOUT_MS": str(SPEC_TIMEOUT_MS),
        **{key: str(value) for key, value in env.items()},
    }
    process = subprocess.Popen(
        [node, str(SPECS / spec)],
        cwd=ROOT,
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: a hung browser is killed with it
    )
    try:
        output, _ = process.communicate(timeout=SPEC_TIMEOUT_MS / 1000 + 60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"{spec} hung and was killed:\n{output}")
    assert process.returncode == 0, f"{spec} failed (exit {process.returncode}):\n{output}"
    print(output)  # shown with -rP
    return output


def first_frame(demo):
    return demo.clip.frames.order_by("index").first()


def test_an_annotator_paints_submits_and_finds_the_mask_after_reloading(node, live_server, demo):
    output = run_spec(
        node,
        "annotate_brush.mjs",
        live_server,
        USERNAME="annotator",
        PASSWORD=PASSWORD,
        PROJECT_ID=demo.project.pk,
        CLIP_ID=demo.clip.pk,
        FRAME_ID=first_frame(demo).pk,
    )
    assert "PASS annotate_brush" in output
    annotation = first_frame(demo).annotation
    assert annotation.status == "submitted" and annotation.author.username == "annotator"


def test_a_sam_click_adds_an_instance(node, live_server, demo, sam_configured):
    output = run_spec(
        node,
        "sam_click.mjs",
        live_server,
        USERNAME="annotator",
        PASSWORD=PASSWORD,
        CLIP_ID=demo.clip.pk,
        FRAME_ID=first_frame(demo).pk,
    )
    assert "PASS sam_click" in output
    assert len(first_frame(demo).annotation.instances) == 1


def test_a_reviewers_rejection_comment_reaches_the_annotator(node, live_server, demo):
    frame = first_frame(demo)
    mask = np.zeros((frame.height, frame.width), dtype=bool)
    mask[frame.height // 4 : frame.height // 2, frame.width // 4 : frame.width // 2] = True
    annotation_update(
        frame=frame,
        user=demo.users["annotator"],
        role=Role.ANNOTATOR,
        instances=[{"mask": rle_encode(mask), "label": "dog"}],
        version=None,
        status="submitted",
    )
    output = run_spec(
        node,
        "review_reject.mjs",
        live_server,
        REVIEWER="reviewer",
        ANNOTATOR="annotator",
        PASSWORD=PASSWORD,
        CLIP_ID=demo.clip.pk,
        FRAME_ID=frame.pk,
    )
    assert "PASS review_reject" in output
    frame.annotation.refresh_from_db()
    assert frame.annotation.status == "rejected"


def test_a_stale_save_shows_the_conflict_dialog(node, live_server, demo):
    output = run_spec(
        node,
        "conflict.mjs",
        live_server,
        USERNAME="annotator",
        PASSWORD=PASSWORD,
        CLIP_ID=demo.clip.pk,
        FRAME_ID=first_frame(demo).pk,
    )
    assert "PASS conflict" in output
    assert [i["label"] for i in first_frame(demo).annotation.instances] == ["their label"]


def test_a_manager_starts_a_training_round_from_the_models_tab(node, live_server, demo, settings, tmp_path):
    from tests.server.learning.rounds_world import accept, masks_of, store_clip, tiny_student

    settings.AVS_TRAINING_DIR = str(tmp_path / "training")
    # Two labelled clips to train on, one labelled held-out clip to judge on (the project's real split rule).
    for n, side in enumerate(("train", "train", "heldout")):
        clip = store_clip(demo.project, side=side, clip_no=n, frames=3)
        accept(clip, masks_of(clip, n))
    LearningSettings.objects.update_or_create(
        project=demo.project, defaults={"student_config": tiny_student(epochs=2, batch_size=6)}
    )
    output = run_spec(
        node, "training_round.mjs", live_server, USERNAME="manager", PASSWORD=PASSWORD, PROJECT_ID=demo.project.pk
    )
    assert "PASS training_round" in output
    training_round = TrainingRound.objects.get(project=demo.project)
    assert training_round.status == "succeeded" and training_round.model_version is not None
    assert training_round.created_by == demo.users["manager"] and training_round.student_kind == "compact"


def test_a_manager_picks_the_next_batch_from_the_review_queue(node, live_server, demo):
    from tests.factories import ClipFactory, FrameFactory, ModelVersionFactory

    version = ModelVersionFactory(project=demo.project)
    clips = []
    for n, score in enumerate((0.2, 0.9, 0.6)):
        clip = ClipFactory(project=demo.project, name=f"scored-{n}.mp4")
        FrameFactory(clip=clip, index=0)
        clips.append(clip)
        acquisition_score_store(
            clip=clip,
            model_version=version,
            score=score,
            strategy="combined",
            terms={"topk_entropy": {"value": score, "weight": 0.35, "contribution": score}},
            top_term="topk_entropy",
        )
    output = run_spec(
        node, "next_batch.mjs", live_server, USERNAME="manager", PASSWORD=PASSWORD, PROJECT_ID=demo.project.pk
    )
    assert "PASS next_batch" in output
    # No clip embeddings here: the batch goes by score alone, best first (the page showed the same, in order).
    assert f"API: {clips[1].pk}, {clips[2].pk} (top_k)" in output


def test_frames_are_numbered_from_one_with_their_time_window(node, live_server, demo):
    frame = demo.clip.frames.get(index=2)  # the third of the demo clip's five frames
    assert demo.clip.frames.count() == 5 and demo.clip.fps == 1.0
    mask = np.zeros((frame.height, frame.width), dtype=bool)
    mask[: frame.height // 2, : frame.width // 2] = True
    annotation = annotation_update(
        frame=frame,
        user=demo.users["annotator"],
        role=Role.ANNOTATOR,
        instances=[{"mask": rle_encode(mask), "label": "dog"}],
        version=None,
        status="submitted",
    )
    output = run_spec(
        node,
        "frame_numbering.mjs",
        live_server,
        USERNAME="reviewer",
        PASSWORD=PASSWORD,
        PROJECT_ID=demo.project.pk,
        CLIP_ID=demo.clip.pk,
        ANNOTATION_ID=annotation.pk,
    )
    assert "PASS frame_numbering" in output
    assert 'annotator at ?frame=2: "Frame 3 of 5' in output


def test_an_administrator_chooses_the_model_configuration_and_a_manager_reads_it(
    node, live_server, demo, settings, tmp_path
):
    import json

    from tests.factories import UserFactory

    root = tmp_path / "models"
    (root / "openavs" / "clap").mkdir(parents=True)  # stand-ins: what runs is decided from the files' presence
    (root / "openavs" / "gd").mkdir()
    (root / "openavs" / "sam.pth").write_bytes(b"")
    models = {"clap": {"path": "clap"}, "grounding": {"path": "gd"}, "sam": {"type": "vit_b", "checkpoint": "sam.pth"}}
    (root / "openavs" / "config.json").write_text(json.dumps({"models": models}))
    (root / "broken.json").write_text(json.dumps({"models": {"clap": {"path": "clap"}}}))
    settings.AVS_MODEL_ROOT = str(root)
    settings.AVS_MODEL_CONFIG = ""
    admin = UserFactory(username="root-admin", is_superuser=True, is_staff=True)
    admin.set_password(PASSWORD)
    admin.save()
    output = run_spec(
        node,
        "model_config.mjs",
        live_server,
        ADMIN="root-admin",
        MANAGER="manager",
        PASSWORD=PASSWORD,
        PROJECT_ID=demo.project.pk,
        CONFIG="openavs/config.json",
        BROKEN="broken.json",
    )
    assert "PASS model_config" in output
    demo.project.refresh_from_db()
    assert demo.project.model_config == str(root.resolve() / "openavs" / "config.json")


def test_a_manager_connects_label_studio_and_push_now_shows_the_readable_failure(node, live_server, demo):
    import socket

    from server.labelstudio.models import Connection

    with socket.socket() as probe:  # a port where nothing listens: "Label Studio" refuses the connection
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    ls_url = f"http://127.0.0.1:{closed_port}"
    output = run_spec(
        node,
        "labelstudio_settings.mjs",
        live_server,
        USERNAME="manager",
        PASSWORD=PASSWORD,
        PROJECT_ID=demo.project.pk,
        LS_URL=ls_url,
        LS_TOKEN="e2e-ls-token-123",
    )
    assert "PASS labelstudio_settings" in output
    connection = Connection.objects.get(project=demo.project)
    assert connection.url == ls_url and connection.token == "e2e-ls-token-123"
    assert connection.ls_project_id is None and connection.last_error


@pytest.fixture
def tracker_config(sam_configured, settings):
    """`tracker_config(name, **pipeline)`: AVS_MODEL_CONFIG set to a copy of the tiny random models' config (which
    names the tiny SAM 2 video tracker) with these `pipeline` settings, to decide what the audio check hears."""
    base = json.loads(sam_configured.read_text())
    assert "tracker" in base["models"], (
        f"the tiny fixtures' config.json names no models.tracker: {sorted(base['models'])}"
    )

    def make(name: str, **pipeline: object):
        config = {**base, "pipeline": {**base["pipeline"], **pipeline}}
        path = sam_configured.with_name(f"config.{name}.json")  # beside the original: its relative model paths hold
        path.write_text(json.dumps(config))
        settings.AVS_MODEL_CONFIG = str(path)
        return path

    return make


def propagate_in_the_browser(node, live_server, demo, *, expect_silent: str) -> list:
    frames = list(demo.clip.frames.order_by("index"))
    output = run_spec(
        node,
        "propagate.mjs",
        live_server,
        USERNAME="annotator",
        PASSWORD=PASSWORD,
        CLIP_ID=demo.clip.pk,
        NUM_FRAMES=len(frames),
        EXPECT_SILENT=expect_silent,
    )
    assert "PASS propagate" in output
    for frame in frames[1:]:
        frame.refresh_from_db()
        annotation = frame.annotation
        assert annotation.status == "draft" and annotation.author.username == "annotator"
        assert [instance["label"] for instance in annotation.instances] == ["dog"]
        assert annotation.instances[0]["track_of"].endswith(":0")
    return frames


def test_an_annotator_propagates_a_mask_and_accepts_the_range(node, live_server, demo, tracker_config):
    # The tagger's sounds are "dog" and the project's labels, all kept (top_k above their number, no score floor) on
    # every window (none counts as silent): the dog sounds on every frame.
    tracker_config("dog-sounds", vocabulary=["dog"], top_k=20, min_tag_score=0.0, min_window_rms=0.0)
    frames = propagate_in_the_browser(node, live_server, demo, expect_silent="none")
    source = frames[0].annotation  # saved when the annotator moved on; its mask is the prompt, not a track
    assert [instance["label"] for instance in source.instances] == ["dog"] and "track_of" not in source.instances[0]


def test_silent_frames_are_marked_and_accepted_only_when_included(node, live_server, demo, tracker_config):
    # Every window is below the silence floor: the dog is visible on every frame but sounds on none.
    tracker_config("all-silent", min_window_rms=1e9)
    propagate_in_the_browser(node, live_server, demo, expect_silent="all")


def test_without_a_tracker_the_propagate_action_says_why(node, live_server, demo, sam_configured, settings):
    config = json.loads(sam_configured.read_text())
    del config["models"]["tracker"]  # the models are configured (SAM clicks work), the tracker is not
    path = sam_configured.with_name("config.no-tracker.json")
    path.write_text(json.dumps(config))
    settings.AVS_MODEL_CONFIG = str(path)
    output = run_spec(
        node, "propagate_unavailable.mjs", live_server, USERNAME="annotator", PASSWORD=PASSWORD, CLIP_ID=demo.clip.pk
    )
    assert "PASS propagate_unavailable" in output
    assert "models.tracker" in output  # the reason shown names the setting to add
    assert first_frame(demo).annotation.instances  # the annotator kept working
