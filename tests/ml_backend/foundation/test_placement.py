"""Every stage sends its inputs where its model is (device and dtype), unless it is given a placement: a facade
built around a model on CUDA (or moved there later) must not feed it CPU float32 tensors.

No GPU is needed to see it: a model in float64 (on `device`, CUDA when present) takes float64 inputs only, and a
model moved to the `meta` device moves the facade's placement with it.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from ml_backend.foundation.audio_tagging import ClapTagger
from ml_backend.foundation.clip_labels import ClipLabeller
from ml_backend.foundation.grounding import GroundingDinoDetector
from ml_backend.foundation.loading import Placement, placement_of
from ml_backend.foundation.prompt_translation import ChatLlm
from ml_backend.foundation.sam import SamSegmenter

IMAGE = np.random.default_rng(0).integers(0, 255, (60, 100, 3), dtype=np.uint8)  # H=60, W=100
STAGES = ["grounding", "sam", "clap", "clip", "llm"]


def rebuild(kind: str, loaded, model):
    """A new facade of `kind` around `model`, built the way a caller does it: no placement given."""
    if kind == "grounding":
        return GroundingDinoDetector(model, loaded.processor, box_threshold=0.0, text_threshold=0.0)
    if kind == "sam":
        return SamSegmenter(model)
    if kind == "clap":
        return ClapTagger(model, loaded.processor)
    if kind == "clip":
        return ClipLabeller(model, loaded.processor)
    return ChatLlm(model, loaded.tokenizer, max_new_tokens=4)


def run(kind: str, stage) -> None:
    """One forward of the stage, asserting on the shape of what comes back."""
    if kind == "grounding":
        assert all(box.noun == "dog" for box in stage.detect(IMAGE, ["dog"]))
    elif kind == "sam":
        assert stage.segment(IMAGE, np.array([[10, 10, 50, 40]], dtype=np.float32)).masks.shape == (1, 60, 100)
    elif kind == "clap":
        window = np.sin(np.linspace(0, 400 * np.pi, 16_000)).astype(np.float32)
        assert len(stage.tag([window], sample_rate=16_000, vocabulary=["dog", "car"], top_k=1)) == 1
    elif kind == "clip":
        assert len(stage.label(IMAGE, [np.ones((60, 100), dtype=bool)], ["dog", "car"])) == 1
    else:
        assert isinstance(stage.complete([{"role": "user", "content": "dog barking"}]), str)


@pytest.mark.parametrize("kind", STAGES)
def test_a_stage_built_around_a_model_feeds_it_on_its_device_and_in_its_dtype(kind, tiny, device):
    loaded = tiny(kind)
    # segment-anything computes prompt coordinates in float32 whatever its weights: SAM stays float32 (on `device`)
    dtype = torch.float32 if kind == "sam" else torch.float64
    model = copy.deepcopy(loaded.model).to(device=device, dtype=dtype)
    stage = rebuild(kind, loaded, model)
    assert stage.placement == Placement(str(next(model.parameters()).device), str(dtype).removeprefix("torch."))
    run(kind, stage)  # float32 inputs (or CPU ones, next to CUDA weights) would fail in the forward


@pytest.mark.parametrize("kind", STAGES)
def test_a_stage_follows_its_model_when_the_model_moves(kind, tiny):
    loaded = tiny(kind)
    model = copy.deepcopy(loaded.model).to("cpu", torch.float32)
    stage = rebuild(kind, loaded, model)
    assert stage.placement == Placement("cpu", "float32")
    model.to("meta")
    assert stage.placement.torch_device == next(model.parameters()).device == torch.device("meta")


def test_a_given_placement_wins_and_the_loaders_give_theirs(tiny, load_context):
    sam = tiny("sam")
    assert sam.placement == load_context.placement == placement_of(sam.model)
    given = Placement("cpu", "float32")
    assert SamSegmenter(sam.model, placement=given).placement is given


def test_placement_of_anything_without_parameters_is_cpu_float32():
    assert placement_of(None) == placement_of(torch.nn.ReLU()) == Placement("cpu", "float32")
    half = torch.nn.Sequential(torch.nn.Linear(4, 4).half(), torch.nn.LayerNorm(2))  # most elements: float16
    assert placement_of(half) == Placement("cpu", "float16")
