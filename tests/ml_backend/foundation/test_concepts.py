"""SAM 3 as the text -> masks stage (ml_backend.foundation.concepts, `models.segmenter`): tiny random SAM 3 models
built from configs, saved with save_pretrained and loaded by the real loader offline; both modes; the errors a
person can act on; the configuration rules that come with it."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ml_backend.foundation.concepts import VISUAL_KIND, Sam3ConceptSegmenter, Sam3VideoSegmenter
from ml_backend.foundation.config import ConfigError, SegmenterSettings, config_from_dict, load_config
from ml_backend.foundation.loading import LoadContext, ModelLoadError
from ml_backend.foundation.policy import ConfigPolicyError, ModelPolicy
from ml_backend.foundation.registry import ModelCache, model_registry
from ml_backend.foundation.tiny import build_tiny_sam3, write_tiny_sam3

RNG = np.random.default_rng(0)
FRAMES = [RNG.integers(0, 255, (60, 100, 3), dtype=np.uint8) for _ in range(24)]  # H=60, W=100
NOUNS = ["dog", "emergency-car", "guitar"]


@pytest.fixture(scope="module")
def sam3_path(tiny_sam3_config) -> str:
    """The tiny SAM 3 in the facebook/sam3 layout (model_type "sam3_video"), written by `fixtures --sam3`."""
    return tiny_sam3_config.models.segmenter.path


def settings(path: str, **changes) -> SegmenterSettings:
    """Thresholds 0: a random SAM 3 scores about 0.25 and its mask logits are about 0 (every pixel then counts)."""
    return SegmenterSettings(**{"path": path, "score_threshold": 0.0, "mask_threshold": 0.0, **changes})


@pytest.fixture(scope="module")
def frame_segmenter(sam3_path, load_context) -> Sam3ConceptSegmenter:
    return ModelCache().get("segmenter", settings(sam3_path), load_context)


def video_segmenter(path: str, context: LoadContext, **changes) -> Sam3VideoSegmenter:
    return model_registry["segmenter"](settings(path, mode="video", **changes), context)


def test_the_fixture_is_the_facebook_sam3_layout_loaded_offline(sam3_path, frame_segmenter, empty_hf_home):
    config = json.loads((Path(sam3_path) / "config.json").read_text())
    assert config["model_type"] == "sam3_video"  # detector + tracker, as facebook/sam3 ships it
    assert isinstance(frame_segmenter, Sam3ConceptSegmenter)  # Sam3Model reads the detector out of it
    assert frame_segmenter.name == "sam3" and frame_segmenter.mode == "frame" and frame_segmenter.kind == "sam3"
    assert not any(empty_hf_home.iterdir())  # nothing came from (or went to) a hub cache


def test_frame_mode_masks_every_instance_of_the_nouns_asked_for(frame_segmenter):
    session = frame_segmenter.start_clip(NOUNS)
    found = session.segment(FRAMES[0], ["dog", "guitar"])
    assert {m.noun for m in found.masks} == {"dog", "guitar"}  # only the nouns asked for on this frame
    for noun in ("dog", "guitar"):
        scores = [m.score for m in found.masks if m.noun == noun]
        assert 1 <= len(scores) <= 2  # the tiny model has 2 object queries
        assert scores == sorted(scores, reverse=True)
    for mask in found.masks:
        assert mask.mask.shape == mask.probability.shape == (60, 100) and mask.mask.dtype == bool
        assert mask.mask.any() and mask.probability.dtype == np.float32
        x0, y0, x1, y1 = mask.xyxy
        assert 0 <= x0 <= x1 <= 100 and 0 <= y0 <= y1 <= 60
        assert 0 < mask.score <= 1 and mask.object_id is None
    assert found.pooled.shape == (128,) and found.pooled.dtype == np.float32  # the tiny FPN's width
    silent = session.segment(FRAMES[1], [])  # no noun asked for: no masks, the embedding still
    assert silent.masks == [] and silent.pooled.shape == (128,)
    with pytest.raises(ValueError, match="not among the clip's nouns"):
        session.segment(FRAMES[2], ["cat"])
    session.close()


def test_frame_mode_thresholds_are_settings(sam3_path, load_context):
    strict = model_registry["segmenter"](settings(sam3_path, score_threshold=0.9), load_context)
    assert strict.start_clip(["dog"]).segment(FRAMES[0], ["dog"]).masks == []  # a random model scores ~0.25
    one = model_registry["segmenter"](settings(sam3_path, max_masks=1), load_context)
    assert len(one.start_clip(["dog"]).segment(FRAMES[0], ["dog"]).masks) == 1
    half = model_registry["segmenter"](settings(sam3_path, mask_threshold=0.5), load_context)
    full = model_registry["segmenter"](settings(sam3_path), load_context)
    area = [m.mask.sum() for m in half.start_clip(["dog"]).segment(FRAMES[0], ["dog"]).masks]
    assert all(a < 60 * 100 for a in area)  # mask_threshold decides which pixels count
    assert all(m.mask.all() for m in full.start_clip(["dog"]).segment(FRAMES[0], ["dog"]).masks)


def test_an_image_only_sam3_serves_the_frame_mode(tmp_path, load_context):
    path = write_tiny_sam3(tmp_path / "sam3_image", seed=0, video=False)
    segmenter = model_registry["segmenter"](settings(str(path)), load_context)
    found = segmenter.start_clip(["dog"]).segment(FRAMES[0], ["dog"])
    assert found.masks and found.pooled.shape == (32,)
    assert segmenter.visual_kind == VISUAL_KIND


def test_video_mode_keeps_each_object_s_identity_through_the_clip(sam3_path, load_context):
    segmenter = video_segmenter(sam3_path, load_context, max_objects=8)
    assert isinstance(segmenter, Sam3VideoSegmenter) and segmenter.mode == "video"
    session = segmenter.start_clip(NOUNS)
    first = session.segment(FRAMES[0], NOUNS)
    assert {m.noun for m in first.masks} == set(NOUNS)
    first_ids = {noun: {m.object_id for m in first.masks if m.noun == noun} for noun in NOUNS}
    assert all(ids and None not in ids for ids in first_ids.values())
    seen = {m.object_id: m.noun for m in first.masks}
    for k in range(1, 6):
        asked = ["dog"] if k % 2 else ["guitar", "dog"]
        found = session.segment(FRAMES[k], asked)
        assert {m.noun for m in found.masks} == set(asked)  # only the nouns asked for on this frame
        for mask in found.masks:
            assert mask.mask.shape == (60, 100) and mask.mask.any()
            assert mask.tracker_score is None or 0 <= mask.tracker_score <= 1
            assert seen.setdefault(mask.object_id, mask.noun) == mask.noun  # an object keeps its noun
        for noun in asked:  # the objects found on the first frame are tracked on, under the same ids
            assert first_ids[noun] <= {m.object_id for m in found.masks if m.noun == noun}, (k, noun)
        assert found.pooled.shape == (128,)
    assert len(seen) <= 8  # max_objects
    session.close()


def tensor_bytes(value) -> int:
    """Bytes of every tensor reachable through dicts, lists and tuples."""
    if isinstance(value, torch.Tensor):
        return value.nelement() * value.element_size()
    if isinstance(value, dict):
        return sum(tensor_bytes(v) for v in value.values())
    if isinstance(value, list | tuple | set):
        return sum(tensor_bytes(v) for v in value)
    return 0


def test_video_mode_state_does_not_grow_with_the_clip(sam3_path, load_context):
    segmenter = video_segmenter(sam3_path, load_context, max_objects=4)
    session = segmenter.start_clip(["dog", "guitar"])
    sizes = []
    for k, frame in enumerate(FRAMES):
        session.segment(frame, ["dog"])
        if k in (11, 23):
            sizes.append(tensor_bytes(vars(session.state)))
    assert sizes[1] <= sizes[0], sizes  # twice the frames, no more state (frames and old outputs are dropped)
    window = segmenter.memory_frames
    for outputs in session.state.output_dict_per_obj.values():
        assert all(f >= len(FRAMES) - 1 - window for f in outputs["non_cond_frame_outputs"])
    assert all(v.numel() == 0 for v in session.state.processed_frames.values())
    session.close()


def test_the_same_seed_builds_the_same_weights():
    (a, _), (b, _) = build_tiny_sam3(3, video=False), build_tiny_sam3(3, video=False)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


# --- errors ---------------------------------------------------------------------------------------------------


def test_a_missing_model_names_the_setting(tmp_path, load_context):
    with pytest.raises(ModelLoadError, match=r"models\.segmenter\.path = '.*nowhere': no such model directory"):
        model_registry["segmenter"](settings(str(tmp_path / "nowhere")), load_context)


def test_a_folder_without_a_model_names_the_setting(tmp_path, load_context):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match=r"models\.segmenter\.path .*no config\.json"):
        model_registry["segmenter"](settings(str(tmp_path / "empty")), load_context)


def test_another_kind_of_model_is_refused_with_what_was_found(tiny_config, load_context):
    clip = tiny_config.models.clip.path  # a CLIP folder where SAM 3 belongs
    with pytest.raises(ModelLoadError, match=r"models\.segmenter\.path = .*this is a 'clip' model: expected a SAM 3"):
        model_registry["segmenter"](settings(clip), load_context)


def test_video_mode_needs_the_video_layout(tmp_path, load_context):
    path = write_tiny_sam3(tmp_path / "sam3_image", video=False)
    with pytest.raises(ModelLoadError, match="mode 'video' needs the SAM 3 video layout"):
        video_segmenter(str(path), load_context)


def test_damaged_weights_name_the_setting(sam3_path, tmp_path, load_context):
    broken = tmp_path / "broken"
    shutil.copytree(sam3_path, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelLoadError, match=r"models\.segmenter\.path .*missing files or corrupt"):
        model_registry["segmenter"](settings(str(broken)), load_context)


# --- configuration ---------------------------------------------------------------------------------------------

BASE = {"models": {"clap": {"path": "/m/clap"}}}


def with_models(**models):
    return {**BASE, "models": {**BASE["models"], **models}}


def test_with_a_segmenter_grounding_and_sam_are_optional():
    config = config_from_dict(with_models(segmenter={"path": "/m/sam3", "mode": "video"}), base_dir=None)
    assert config.models.grounding is None and config.models.sam is None
    assert config.models.segmenter == SegmenterSettings(path="/m/sam3", mode="video")
    assert config.to_dict()["models"]["segmenter"]["mode"] == "video"


def test_without_a_segmenter_grounding_and_sam_are_required_and_the_message_says_the_alternative():
    with pytest.raises(
        ConfigError, match=r"models\.grounding: required setting is missing \(or configure models\.segmenter"
    ):
        config_from_dict(with_models(sam={"checkpoint": "/m/sam.pth"}), base_dir=None)
    with pytest.raises(ConfigError, match=r"models\.sam: required setting is missing"):
        config_from_dict(with_models(grounding={"path": "/m/gd"}), base_dir=None)


def test_a_configuration_without_a_segmenter_keeps_its_hash(tiny_config):
    assert "segmenter" not in tiny_config.to_dict()["models"]  # the proposer's identity of existing configurations
    data = json.loads(Path(tiny_config.source).read_text())
    assert load_config(tiny_config.source).sha256() == tiny_config.sha256()
    assert "segmenter" not in data["models"]


@pytest.mark.parametrize(
    ("segmenter", "message"),
    [
        ({"path": "/m/sam3", "kind": "sam2"}, r"models\.segmenter\.kind: expected 'sam3', got 'sam2'"),
        ({"path": "/m/sam3", "mode": "clip"}, r"models\.segmenter\.mode: expected 'frame' or 'video', got 'clip'"),
        ({"path": "/m/sam3", "score_threshold": 1.5}, r"models\.segmenter\.score_threshold: expected a probability"),
        ({"path": "/m/sam3", "mask_threshold": -1}, r"models\.segmenter\.mask_threshold: expected a number >= 0"),
        ({"path": "/m/sam3", "max_masks": 0}, r"models\.segmenter\.max_masks: expected a positive integer"),
        ({"mode": "frame"}, r"models\.segmenter\.path: required setting is missing"),
        ({"path": "/m/sam3", "threshold": 0.5}, r"models\.segmenter\.threshold: unknown setting"),
    ],
)
def test_bad_segmenter_settings_name_the_setting(segmenter, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(with_models(segmenter=segmenter), base_dir=None)


def test_the_segmenter_path_obeys_the_model_root(tmp_path):
    root = tmp_path / "models"
    root.mkdir()
    data = with_models(clap={"path": str(root / "clap")}, segmenter={"path": str(tmp_path / "elsewhere")})
    with pytest.raises(ConfigPolicyError, match=r"models\.segmenter\.path = .*refused: model files must lie inside"):
        config_from_dict(data, base_dir=None, policy=ModelPolicy(model_root=str(root)))
    inside = with_models(clap={"path": str(root / "clap")}, segmenter={"path": str(root / "sam3")})
    assert config_from_dict(inside, base_dir=None, policy=ModelPolicy(model_root=str(root))).models.segmenter


def test_the_fixture_configuration_reads_back_with_sam3_in_place_of_grounding(tiny_sam3_config):
    models = tiny_sam3_config.models
    assert models.grounding is None and models.sam is not None  # SAM stays for the annotator's clicks
    assert dataclasses.asdict(models.segmenter) | {"path": "-"} == {
        "path": "-",
        "kind": "sam3",
        "mode": "frame",
        "score_threshold": 0.0,
        "mask_threshold": 0.0,
        "max_masks": 20,
        "max_objects": 8,
    }
