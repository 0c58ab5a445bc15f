"""Loading foundation models from local folders (registry + loaders) and the errors a person can act on."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ml_backend.foundation.audio_tagging import ClapTagger
from ml_backend.foundation.clip_labels import ClipLabeller
from ml_backend.foundation.config import ClapSettings, GroundingSettings, LlmSettings, SamSettings
from ml_backend.foundation.grounding import GroundingDinoDetector, Owlv2Detector
from ml_backend.foundation.loading import LoadContext, ModelLoadError
from ml_backend.foundation.prompt_translation import ChatLlm
from ml_backend.foundation.registry import ModelCache, model_registry
from ml_backend.foundation.sam import SamSegmenter

ROOT = Path(__file__).resolve().parents[3]
CPU = LoadContext()


def load(kind: str, settings):
    return model_registry[kind](settings, CPU)


def test_every_tiny_model_loads_through_the_real_loaders(tiny):
    assert isinstance(tiny("clap"), ClapTagger)
    assert isinstance(tiny("grounding"), GroundingDinoDetector)
    assert isinstance(tiny("sam"), SamSegmenter)
    assert isinstance(tiny("llm"), ChatLlm)
    assert isinstance(tiny("clip"), ClipLabeller)
    assert tiny("clap").name == "clap" and tiny("sam").name == "tiny_sam"


def test_the_owlv2_alternative_loads(tiny_config):
    settings = dataclasses.replace(
        tiny_config.models.grounding, kind="owlv2", path=str(Path(tiny_config.models.grounding.path).parent / "owlv2")
    )
    detector = load("grounding", settings)
    assert isinstance(detector, Owlv2Detector) and detector.name == "owlv2"


def test_the_cache_loads_each_model_once_per_process(tiny_config):
    calls = []

    def counting(settings, context):
        calls.append(settings)
        return model_registry["clap"](settings, context)

    cache = ModelCache({"clap": counting})
    first = cache.get("clap", tiny_config.models.clap, CPU)
    again = cache.get("clap", dataclasses.replace(tiny_config.models.clap), CPU)  # equal settings, new object
    assert first is again and len(calls) == 1 and cache.load_counts["clap"] == 1


def test_nothing_is_loaded_when_the_backend_is_imported():
    code = (
        "import sys, ml_backend.serving, ml_backend.serving.media; print('torch' in sys.modules); "
        "import ml_backend.pipelines.openavs, ml_backend.serving.proposals; print('transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]  # the web process imports serving; weights load on first use


def test_a_missing_model_directory_names_the_setting_and_the_path(tmp_path):
    missing = str(tmp_path / "no-clap-here")
    with pytest.raises(ModelLoadError) as error:
        load("clap", ClapSettings(path=missing))
    assert str(error.value).startswith(f"models.clap.path = '{missing}': no such model directory")
    assert error.value.setting == "models.clap.path" and error.value.path == missing


def test_a_hub_id_never_reaches_for_the_network_offline(monkeypatch):
    started = time.monotonic()
    with pytest.raises(ModelLoadError, match="hub ids are used only with allow_network"):
        load("clap", ClapSettings(path="laion/clap-htsat-unfused"))
    with pytest.raises(ModelLoadError, match="HF_HUB_OFFLINE unset"):  # allowed, but HF_HUB_OFFLINE=1 wins
        model_registry["clap"](ClapSettings(path="laion/clap-htsat-unfused"), LoadContext(allow_network=True))
    assert time.monotonic() - started < 1.0


def test_a_directory_without_config_or_weights_is_refused(tmp_path, tiny_config):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match="has no config.json"):
        load("llm", LlmSettings(path=str(empty)))
    copy = Path(shutil.copytree(tiny_config.models.llm.path, tmp_path / "llm"))
    (copy / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="has no weights"):
        load("llm", LlmSettings(path=str(copy)))


def test_a_truncated_safetensors_file_is_a_load_error(tmp_path, tiny_config):
    copy = Path(shutil.copytree(tiny_config.models.clap.path, tmp_path / "clap"))
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])
    with pytest.raises(ModelLoadError) as error:
        load("clap", ClapSettings(path=str(copy)))
    assert f"models.clap.path = '{copy}'" in str(error.value)
    assert "corrupt" in str(error.value) and "SafetensorError" in str(error.value)


def test_a_truncated_sam_checkpoint_is_a_load_error(tmp_path, tiny_config):
    checkpoint = tmp_path / "sam.pth"
    data = Path(tiny_config.models.sam.checkpoint).read_bytes()
    checkpoint.write_bytes(data[: len(data) // 2])
    settings = dataclasses.replace(tiny_config.models.sam, checkpoint=str(checkpoint))
    with pytest.raises(
        ModelLoadError, match=rf"^models.sam.checkpoint = '{checkpoint}': the model could not be loaded"
    ):
        load("sam", settings)


def test_a_sam_checkpoint_of_another_size_is_a_load_error(tiny_config):
    settings = SamSettings(type="vit_b", checkpoint=tiny_config.models.sam.checkpoint)  # tiny weights, vit_b model
    with pytest.raises(ModelLoadError, match="models.sam.checkpoint = .*does not fit the SAM built from type vit_b"):
        load("sam", settings)


def test_missing_sam_checkpoint_and_bad_builder_are_named(tmp_path, tiny_config):
    with pytest.raises(ModelLoadError, match=r"^models.sam.checkpoint = .*: no such checkpoint file"):
        load("sam", SamSettings(checkpoint=str(tmp_path / "sam.pth")))
    bad = SamSettings(checkpoint=tiny_config.models.sam.checkpoint, builder="ml_backend.foundation.tiny:build_nope")
    with pytest.raises(
        ModelLoadError, match=r"^models.sam.builder = 'ml_backend.foundation.tiny:build_nope': cannot import"
    ):
        load("sam", bad)


def test_a_tokenizer_that_comes_back_blank_is_refused(tmp_path, tiny_config):
    """transformers 5 builds a 5-token BertTokenizer, silently, when the tokenizer files are missing."""
    copy = Path(shutil.copytree(tiny_config.models.grounding.path, tmp_path / "grounding_dino"))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (copy / name).unlink()
    with pytest.raises(ModelLoadError) as error:
        load("grounding", GroundingSettings(path=str(copy)))
    assert f"models.grounding.path = '{copy}': its tokenizer has 5 tokens" in str(error.value)


def test_an_llm_without_a_chat_template_is_refused(tmp_path, tiny_config):
    import json

    copy = Path(shutil.copytree(tiny_config.models.llm.path, tmp_path / "llm"))
    (copy / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((copy / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (copy / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="has no chat template"):
        load("llm", LlmSettings(path=str(copy)))
