"""Fixtures of the ML backend's tests: no network, an empty Hugging Face cache, tiny random models.

Set before any test module imports transformers/huggingface_hub (they read these at import time):
`HF_HUB_OFFLINE=1` and `HF_HOME` pointing at an empty temporary folder, which must still be empty when the
session ends (nothing was downloaded or cached).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_HF_HOME = tempfile.mkdtemp(prefix="avs_empty_hf_home_")
os.environ["HF_HOME"] = _HF_HOME
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session", autouse=True)
def empty_hf_home():
    """The Hugging Face cache of the session: it must stay empty (models come from local folders only)."""
    yield Path(_HF_HOME)
    leftovers = [str(p.relative_to(_HF_HOME)) for p in Path(_HF_HOME).rglob("*")]
    shutil.rmtree(_HF_HOME, ignore_errors=True)
    assert not leftovers, f"something wrote into HF_HOME during the tests: {leftovers[:5]}"


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Path:
    """`config.json` of a complete set of tiny random models, written once per session by the `fixtures` command."""
    from ml_backend.__main__ import main

    out = tmp_path_factory.mktemp("tiny_models")
    assert main(["fixtures", "--out", str(out), "--seed", "0"]) == 0
    return out / "config.json"


@pytest.fixture(scope="session")
def tiny_config(tiny_models):
    """The tiny models' configuration, read by the real configuration loader."""
    from ml_backend.foundation.config import load_config

    return load_config(tiny_models)


@pytest.fixture(scope="session")
def tiny_cache():
    """A model cache shared by the session's tests (each tiny model loads once)."""
    from ml_backend.foundation.registry import ModelCache

    return ModelCache()


@pytest.fixture(scope="session")
def tiny(tiny_config, tiny_cache, load_context):
    """`tiny(kind)`: the component of `kind` ("clap", "grounding", "sam", "llm", "clip"), loaded by the real loaders."""

    def get(kind: str):
        return tiny_cache.get(kind, getattr(tiny_config.models, kind), load_context)

    return get


@pytest.fixture(scope="session")
def device() -> str:
    """Where the tests put models they build themselves: "cuda" when a GPU is there, else "cpu"."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@pytest.fixture(scope="session")
def load_context(tiny_config):
    """The placement the tiny models load with (the configuration's "auto": CUDA + float16 when present)."""
    from ml_backend.foundation.loading import LoadContext, select_placement

    return LoadContext(select_placement(tiny_config.device))


@pytest.fixture(scope="session")
def tiny_sam3_models(tmp_path_factory) -> Path:
    """`config.sam3.json` of the tiny models with a tiny random SAM 3 (`sam3/`, the facebook/sam3 layout) in place of
    Grounding DINO, written once per session by `fixtures --sam3`."""
    from ml_backend.__main__ import main

    out = tmp_path_factory.mktemp("tiny_sam3_models")
    assert main(["fixtures", "--out", str(out), "--seed", "0", "--sam3"]) == 0
    return out / "config.sam3.json"


@pytest.fixture(scope="session")
def tiny_sam3_config(tiny_sam3_models):
    """The SAM 3 configuration, read by the real configuration loader."""
    from ml_backend.foundation.config import load_config

    return load_config(tiny_sam3_models)


TRACKER_KINDS = ("sam2_video", "sam3_tracker_video")  # models.tracker.kind, each with a tiny random model


@pytest.fixture(scope="session")
def tiny_sam3_tracker_models(tiny_models) -> Path:
    """`config.sam3_tracker.json` of the tiny models with a tiny random SAM 3 tracker (`sam3_tracker_video/`, written
    once per session next to them by `write_tiny_sam3_tracker_video`) as models.tracker."""
    import json

    from ml_backend.foundation.tiny import write_tiny_sam3_tracker_video

    write_tiny_sam3_tracker_video(tiny_models.parent / "sam3_tracker_video", seed=0)
    data = json.loads(tiny_models.read_text())
    data["models"]["tracker"] = {"kind": "sam3_tracker_video", "path": "sam3_tracker_video", "min_confidence": 0.5}
    path = tiny_models.parent / "config.sam3_tracker.json"
    path.write_text(json.dumps(data, indent=2))
    return path


@pytest.fixture(scope="session", params=TRACKER_KINDS)
def tracker_models(request) -> Path:
    """The tiny models' configuration with a tracker of each kind in turn (a test using it runs once per kind); the
    tracker's folder is named after its kind."""
    return request.getfixturevalue("tiny_models" if request.param == "sam2_video" else "tiny_sam3_tracker_models")


@pytest.fixture(scope="session")
def tiny_tracker(tracker_models, tiny_cache, load_context):
    """The tracker of `tracker_models`, loaded by the real loader through the session's model cache."""
    from ml_backend.foundation.config import load_config

    return tiny_cache.get("tracker", load_config(tracker_models).models.tracker, load_context)
