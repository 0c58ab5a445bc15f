"""The video mask tracker (`models.tracker`, ml_backend.foundation.tracking): its settings, its loading through the
registry from the tiny random fixtures of both kinds (SAM 2 video, SAM 3's tracker), what the model catalogue
(`models fetch`) offers for it."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest

from ml_backend.foundation.config import ConfigError, load_config
from ml_backend.foundation.fetch import DEFAULT_MANIFEST, TRACKER_REVISION, build_config
from ml_backend.foundation.loading import ModelLoadError
from ml_backend.foundation.policy import ConfigPolicyError, ModelPolicy
from ml_backend.foundation.registry import ModelCache, model_registry
from ml_backend.foundation.tracking import CLASSES, VideoTracker, build_video_tracker

MINIMAL = {
    "models": {
        "clap": {"path": "clap"},
        "grounding": {"path": "gdino"},
        "sam": {"type": "vit_b", "checkpoint": "sam_vit_b.pth"},
    }
}


def write(tmp_path, data, name="config.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def with_tracker(**tracker) -> dict:
    return {"models": {**MINIMAL["models"], "tracker": tracker}}


def test_the_tracker_is_optional_and_its_defaults_are_sam2_video(tmp_path):
    assert load_config(write(tmp_path, MINIMAL)).models.tracker is None
    tracker = load_config(write(tmp_path, with_tracker(path="sam2"))).models.tracker
    assert (tracker.kind, tracker.path, tracker.min_confidence) == ("sam2_video", str(tmp_path / "sam2"), 0.5)


@pytest.mark.parametrize(
    ("tracker", "message"),
    [
        ({"path": "x", "kind": "cotracker"}, "models.tracker.kind: expected 'sam2_video' or 'sam3_tracker_video'"),
        ({"path": "x", "min_confidence": 1.5}, "models.tracker.min_confidence: expected a probability in [0, 1]"),
        ({"path": "x", "min_confidence": "high"}, "models.tracker.min_confidence: expected a number >= 0"),
        ({"path": "x", "memory": 7}, "models.tracker.memory: unknown setting"),
        ({"kind": "sam2_video"}, "models.tracker.path: required setting is missing"),
    ],
)
def test_a_bad_tracker_setting_is_named_in_the_error(tmp_path, tracker, message):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, with_tracker(**tracker)))
    assert message in str(caught.value)


def test_adding_a_tracker_changes_no_proposer_s_identity(tmp_path):
    """The tracker proposes nothing: a configuration's hash (its proposals' model version) stays the same."""
    plain = load_config(write(tmp_path, MINIMAL, "plain.json"))
    tracked = load_config(write(tmp_path, with_tracker(path="sam2"), "tracked.json"))
    assert tracked.sha256() == plain.sha256() and "tracker" not in tracked.to_dict()["models"]


def test_the_tracker_path_must_lie_inside_the_model_root(tmp_path, tiny_models):
    data = json.loads(tiny_models.read_text())
    data["models"]["tracker"]["path"] = str(tmp_path / "elsewhere")
    path = tiny_models.parent / "config-tracker-outside.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigPolicyError, match=r"models.tracker.path = '.*elsewhere': refused: model files must lie"):
        load_config(path, policy=ModelPolicy(model_root=str(tiny_models.parent)))


def test_the_fixture_tracker_loads_through_the_registry_where_the_placement_says(tracker_models, load_context, device):
    assert model_registry["tracker"] is build_video_tracker
    settings = load_config(tracker_models).models.tracker
    kind = settings.kind
    cache = ModelCache()
    tracker = cache.get("tracker", settings, load_context)
    assert isinstance(tracker, VideoTracker) and tracker.name == kind and tracker.kind == kind
    assert (type(tracker.model).__name__, type(tracker.processor).__name__) == CLASSES[kind]
    assert tracker.placement == load_context.placement
    parameter = next(tracker.model.parameters())
    assert parameter.device.type == device and str(parameter.dtype) == f"torch.{load_context.placement.dtype}"
    assert cache.get("tracker", settings, load_context) is tracker  # loaded once per process
    assert cache.load_counts["tracker"] == 1

    image = np.full((30, 40, 3), 128, dtype=np.uint8)
    mask = np.zeros((30, 40), dtype=bool)
    mask[5:20, 5:20] = True
    session = tracker.start(image, [mask])
    for _ in range(3):
        (tracked,) = session.track(image)
        assert tracked.mask.shape == (30, 40) and tracked.probability.shape == (30, 40)
        assert tracked.probability.dtype == np.float32 and tracked.mask.any()
    with pytest.raises(ValueError, match="mask 0 is 10×10 but the frame is 40×30"):
        tracker.start(image, [np.ones((10, 10), bool)])
    with pytest.raises(ValueError, match="mask 0 is empty"):
        tracker.start(image, [np.zeros((30, 40), bool)])


def test_a_tracker_folder_of_the_other_kind_is_refused_naming_the_kind_setting(tracker_models, load_context):
    """SAM 2 video and SAM 3's tracker share an interface but not their weights: a folder of one kind configured as
    the other is refused before anything loads, saying which kind would load it."""
    settings = load_config(tracker_models).models.tracker
    other = "sam3_tracker_video" if settings.kind == "sam2_video" else "sam2_video"
    with pytest.raises(ModelLoadError) as caught:
        build_video_tracker(dataclasses.replace(settings, kind=other), load_context)
    assert str(caught.value) == (
        f"models.tracker.path = '{settings.path}': this is a {settings.kind!r} model, which models.tracker.kind "
        f"{other!r} does not load: set models.tracker.kind to {settings.kind!r}"
    )


def test_the_catalogue_offers_sam2_hiera_tiny_as_an_opt_in_tracking_set(tmp_path):
    (source,) = [m for m in DEFAULT_MANIFEST.models if m.key == "tracker"]
    assert re.fullmatch(r"[0-9a-f]{40}", TRACKER_REVISION)  # pinned to a commit
    assert source.base_url == f"https://huggingface.co/facebook/sam2.1-hiera-tiny/resolve/{TRACKER_REVISION}"
    names = {f.name for f in source.files}
    assert {"config.json", "model.safetensors", "processor_config.json"} <= names  # what the loader reads
    assert "tracker" not in DEFAULT_MANIFEST.sets["default"] and "tracker" not in DEFAULT_MANIFEST.sets["light"]
    assert set(DEFAULT_MANIFEST.sets["tracking"]) == {*DEFAULT_MANIFEST.sets["default"], "tracker"}

    (tmp_path / "config.json").write_text(json.dumps(build_config(DEFAULT_MANIFEST, "tracking")))
    config = load_config(tmp_path / "config.json")  # the project's loader reads what fetch writes
    assert config.models.tracker.kind == "sam2_video"
    assert config.models.tracker.path == str(tmp_path.resolve() / "sam2.1_hiera_tiny")
