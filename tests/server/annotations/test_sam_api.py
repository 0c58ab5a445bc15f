"""POST /api/frames/{id}/sam/: SAM's mask for clicks on a frame, one image embedding per frame.

Runs the real endpoint on the ML backend's tiny random SAM (a fixture config written once per session):
masks are random-looking, but their size, the caching and the errors are what a user relies on.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.files.base import ContentFile
from PIL import Image

from server.accounts.models import Role
from server.core.masks import rle_decode
from tests.factories import ClipFactory, FrameFactory, UserFactory

pytestmark = pytest.mark.django_db

HEIGHT, WIDTH = 48, 80
TINY_EMBEDDING_BYTES = 32 * 8 * 8 * 4  # the tiny SAM's 1×32×8×8 float32 image embedding


def noisy_frame(clip, index: int, *, seed: int = 0):
    pixels = np.random.default_rng(seed + index).integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return FrameFactory(clip=clip, index=index, image=ContentFile(buffer.getvalue(), name=f"{index:05d}.jpg"))


@pytest.fixture
def clip(project):
    return ClipFactory(project=project, width=WIDTH, height=HEIGHT)


@pytest.fixture
def frames(clip):
    return [noisy_frame(clip, i) for i in range(3)]


@pytest.fixture
def annotator(project, make_member, client_for):
    return client_for(make_member(project, role=Role.ANNOTATOR))


@pytest.fixture
def encoder_runs(sam_configured, settings):
    """A list that grows by one on every run of the session's SAM image encoder."""
    from ml_backend.serving.interactive import sam_session

    session = sam_session(settings.AVS_MODEL_CONFIG, cache_bytes=settings.AVS_SAM_CACHE_BYTES)
    runs: list[int] = []
    hook = session.segmenter.model.image_encoder.register_forward_hook(lambda *_: runs.append(1))
    yield runs
    hook.remove()


def click(client, frame, points=None, box=None):
    body = {"points": points if points is not None else [{"x": 40.0, "y": 24.0, "positive": True}], "box": box}
    return client.post(f"/api/frames/{frame.pk}/sam/", body, format="json")


def test_a_click_returns_a_mask_of_the_frames_size(annotator, frames, encoder_runs):
    response = click(annotator, frames[0])
    assert response.status_code == 200, response.data
    data = response.json()
    assert data["mask"]["size"] == [HEIGHT, WIDTH]
    assert rle_decode(data["mask"]).shape == (HEIGHT, WIDTH)
    assert isinstance(data["score"], float)
    assert data["cached"] is False


def test_the_second_click_on_a_frame_reuses_its_embedding(annotator, frames, encoder_runs):
    first = click(annotator, frames[0], points=[{"x": 10, "y": 10, "positive": True}])
    second = click(
        annotator, frames[0], points=[{"x": 10, "y": 10, "positive": True}, {"x": 70.5, "y": 40.25, "positive": False}]
    )
    third = click(annotator, frames[0], points=[], box=[5, 5, 60, 40])
    assert [r.json()["cached"] for r in (first, second, third)] == [False, True, True]
    assert len(encoder_runs) == 1
    # another frame is embedded on its own first click
    assert click(annotator, frames[1]).json()["cached"] is False
    assert len(encoder_runs) == 2


def test_the_same_prompt_gives_the_same_mask_from_cache(annotator, frames, encoder_runs):
    points = [{"x": 33, "y": 20, "positive": True}]
    first, again = click(annotator, frames[0], points=points).json(), click(annotator, frames[0], points=points).json()
    assert (first["cached"], again["cached"]) == (False, True)
    assert first["mask"] == again["mask"] and first["score"] == pytest.approx(again["score"])


def test_the_embedding_cache_evicts_the_least_recently_used_frame_by_bytes(annotator, frames, encoder_runs, settings):
    settings.AVS_SAM_CACHE_BYTES = 2 * TINY_EMBEDDING_BYTES  # room for two frames
    a, b, c = frames
    assert [click(annotator, f).json()["cached"] for f in (a, b, a)] == [False, False, True]
    assert click(annotator, c).json()["cached"] is False  # evicts b, the least recently used
    assert click(annotator, a).json()["cached"] is True
    assert click(annotator, b).json()["cached"] is False  # embedded again
    assert len(encoder_runs) == 4


def test_a_cache_too_small_for_one_embedding_still_answers(annotator, frames, encoder_runs, settings):
    settings.AVS_SAM_CACHE_BYTES = TINY_EMBEDDING_BYTES - 1
    assert [click(annotator, frames[0]).status_code for _ in range(2)] == [200, 200]
    assert len(encoder_runs) == 2


def test_a_new_image_file_for_the_frame_is_embedded_again(annotator, frames, encoder_runs):
    frame = frames[0]
    assert click(annotator, frame).json()["cached"] is False
    replacement = noisy_frame(frame.clip, 7, seed=99)  # another picture of the same size, in another file
    frame.image.name = replacement.image.name
    frame.save()
    assert click(annotator, frame).json()["cached"] is False
    assert len(encoder_runs) == 2


def test_no_configured_sam_is_a_503_naming_the_setting(annotator, frames, settings):
    settings.AVS_MODEL_CONFIG = ""
    response = click(annotator, frames[0])
    assert response.status_code == 503
    assert "AVS_MODEL_CONFIG" in response.json()["message"]
    assert response.json()["extra"] == {"setting": "AVS_MODEL_CONFIG"}


def test_a_missing_config_file_is_a_503_naming_the_setting_and_the_file(annotator, frames, settings, tmp_path):
    from ml_backend.serving.interactive import sam_sessions_clear

    sam_sessions_clear()
    settings.AVS_MODEL_CONFIG = str(tmp_path / "nowhere.json")
    response = click(annotator, frames[0])
    assert response.status_code == 503
    message = response.json()["message"]
    assert "AVS_MODEL_CONFIG" in message and "nowhere.json" in message and "does not exist" in message


def test_a_sam_checkpoint_that_fails_to_load_is_a_503(annotator, frames, settings, tiny_model_config, tmp_path):
    from ml_backend.serving.interactive import sam_sessions_clear

    sam_sessions_clear()
    broken = tmp_path / "config.json"
    broken.write_text(
        tiny_model_config.read_text().replace('"sam/tiny_sam.pth"', f'"{tiny_model_config.parent}/sam/missing.pth"')
    )
    settings.AVS_MODEL_CONFIG = str(broken)
    response = click(annotator, frames[0])
    assert response.status_code == 503
    message = response.json()["message"]
    assert "AVS_MODEL_CONFIG" in message and "models.sam.checkpoint" in message and "missing.pth" in message
    sam_sessions_clear()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"points": [], "box": None}, "Give at least one point or a box."),
        ({}, "Give at least one point or a box."),
        (
            {"points": [{"x": 81, "y": 10}]},
            "points[0] (81, 10) is outside the frame, which is 80x48 pixels (WxH).",
        ),
        (
            {"points": [{"x": 5, "y": 5}, {"x": 5, "y": -0.5}]},
            "points[1] (5, -0.5) is outside the frame, which is 80x48 pixels (WxH).",
        ),
        (
            {"points": [], "box": [50, 5, 10, 40]},
            "box [50, 5, 10, 40] must be [x0, y0, x1, y1] with x0 < x1 and y0 < y1 inside the frame, "
            "which is 80x48 pixels (WxH).",
        ),
        ({"points": [], "box": [0, 0, 80, 49]}, "box [0, 0, 80, 49] must be"),
        ({"points": [{"x": 1, "y": 1}] * 65}, "points: Ensure this field has no more than 64 elements."),
        ({"points": [{"x": "left", "y": 5}]}, "points: "),
        ({"box": [1, 2, 3]}, "box: "),
    ],
)
def test_invalid_prompts_are_refused_with_a_readable_400(annotator, frames, sam_configured, body, message):
    response = annotator.post(f"/api/frames/{frames[0].pk}/sam/", body, format="json")
    assert response.status_code == 400
    assert response.json()["message"].startswith(message)


def test_validation_comes_before_the_model(annotator, frames, settings):
    """A bad prompt is a 400 even where no SAM is configured."""
    settings.AVS_MODEL_CONFIG = ""
    assert click(annotator, frames[0], points=[{"x": 500, "y": 5}]).status_code == 400


@pytest.mark.parametrize(
    ("who", "expected"),
    [("annotator", 200), ("manager", 200), ("reviewer", 403), ("outsider", 404), ("anonymous", 401)],
)
def test_who_may_click(project, frames, make_member, client_for, sam_configured, who, expected):
    if who == "anonymous":
        user = None
    elif who == "outsider":
        user = UserFactory()
    else:
        user = make_member(project, role=who)
    response = click(client_for(user), frames[0])
    assert response.status_code == expected
    if expected == 404:
        assert response.json()["message"] == "Frame not found."


def test_an_unknown_frame_is_404(annotator, sam_configured):
    assert click(annotator, type("F", (), {"pk": 987654})()).status_code == 404
