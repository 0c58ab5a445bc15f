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
