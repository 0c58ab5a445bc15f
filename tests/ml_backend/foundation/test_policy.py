"""What a configuration may name (ml_backend.foundation.policy): code, files outside the model folder, the network.
Refusals happen before anything the configuration names is imported, read or downloaded."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from ml_backend.foundation.config import SamSettings, load_config
from ml_backend.foundation.loading import LoadContext, ModelLoadError
from ml_backend.foundation.policy import ConfigPolicyError, ModelPolicy, set_policy_provider
from ml_backend.foundation.registry import model_registry
from ml_backend.foundation.sam import resolve_builder
from tests.untrusted_code import write_marker_module


@pytest.fixture
def untrusted(tmp_path, monkeypatch):
    folder = tmp_path / "code"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return write_marker_module(folder)


def tiny_data(tiny_models: Path, **sam) -> dict:
    """The tiny models' configuration with absolute paths and `sam` merged into models.sam."""
    data = json.loads(tiny_models.read_text())
    for settings in data["models"].values():
        for key in ("path", "checkpoint"):
            if key in settings:
                settings[key] = str(tiny_models.parent / settings[key])
    data["models"]["sam"].update(sam)
    return data


def write(folder: Path, data: dict) -> Path:
    path = folder / "config.json"
    path.write_text(json.dumps(data))
    return path


def test_a_builder_outside_ml_backend_is_refused_and_never_imported(tmp_path, tiny_models, untrusted):
    path = write(tmp_path, tiny_data(tiny_models, builder=untrusted.builder))
    with pytest.raises(ConfigPolicyError) as error:
        load_config(path, policy=ModelPolicy())
    assert f"{path}: models.sam.builder = '{untrusted.builder}': refused" in str(error.value)
    assert "AVS_MODEL_ALLOW_CUSTOM_BUILDERS" in str(error.value)
    # The loader refuses too (a configuration that never met a policy), still without importing the module.
    settings = SamSettings(checkpoint=str(tiny_models.parent / "sam" / "tiny_sam.pth"), builder=untrusted.builder)
    with pytest.raises(ModelLoadError, match=r"^models.sam.builder = .*: refused"):
        model_registry["sam"](settings, LoadContext())
    for spec in ("os:system", "subprocess:getoutput", "ml_backend.__main__:main", "ml_backend.foundation.tiny:SEED"):
        with pytest.raises(ValueError, match="refused"):
            resolve_builder(spec)
    assert not untrusted.was_imported()


def test_custom_builders_run_only_when_the_policy_allows_them(tmp_path, tiny_models, untrusted):
    path = write(tmp_path, tiny_data(tiny_models, builder=untrusted.builder))
    config = load_config(path, policy=ModelPolicy(allow_custom_builders=True))
    with pytest.raises(ModelLoadError, match="the builder returned a NoneType, not a SAM"):
        model_registry["sam"](config.models.sam, LoadContext(allow_custom_builders=True))
    assert untrusted.marker.read_text() == "called"


def test_ml_backend_s_own_builders_need_no_permission(tiny_models):
    config = load_config(tiny_models, policy=ModelPolicy())
    assert config.models.sam.builder == "ml_backend.foundation.tiny:build_tiny_sam"
    assert model_registry["sam"](config.models.sam, LoadContext()).name == "tiny_sam"


def test_model_paths_must_resolve_inside_the_model_root(tmp_path, tiny_models):
    root = tiny_models.parent
    policy = ModelPolicy(model_root=str(root), root_required=True)
    assert load_config(tiny_models, policy=policy).models.clap.path == str(root / "clap")

    outside = tmp_path / "outside"
    outside.mkdir()
    escaped = tiny_data(tiny_models)
    escaped["models"]["clap"]["path"] = str(root / ".." / "clap")  # `..` out of the root
    with pytest.raises(ConfigPolicyError) as error:
        load_config(write(outside, escaped), policy=policy)
    expected = f"models.clap.path = '{root.parent.resolve() / 'clap'}': refused: model files must lie inside"
    assert expected in str(error.value) and f"AVS_MODEL_ROOT ({root.resolve()})" in str(error.value)

    link = root / "sneaky_sam.pth"  # inside the root by name, outside by target
    link.symlink_to(outside / "sam.pth")
    try:
        linked = tiny_data(tiny_models, checkpoint=str(link))
        with pytest.raises(ConfigPolicyError, match=r"models.sam.checkpoint = .*: refused: .*inside AVS_MODEL_ROOT"):
            load_config(write(outside, linked), policy=policy)
        relative = json.loads(tiny_models.read_text())  # relative paths resolve against the file's folder
        with pytest.raises(ConfigPolicyError, match="models.clap.path"):
            load_config(write(outside, relative), policy=policy)
    finally:
        link.unlink()


def test_without_a_model_root_a_policy_that_requires_one_refuses_every_configuration(tiny_models):
    with pytest.raises(ConfigPolicyError, match="AVS_MODEL_ROOT is not set"):
        load_config(tiny_models, policy=ModelPolicy(root_required=True))
    assert load_config(tiny_models, policy=ModelPolicy(root_required=False)).models.sam.builder


def test_allow_network_is_refused_unless_the_policy_allows_it(tmp_path, tiny_models):
    data = tiny_data(tiny_models)
    data["allow_network"] = True
    data["models"]["clap"]["path"] = "laion/clap-htsat-unfused"
    path = write(tmp_path, data)
    with pytest.raises(ConfigPolicyError, match="allow_network = true: refused: .*AVS_MODEL_ALLOW_NETWORK"):
        load_config(path, policy=ModelPolicy(allow_network=False, model_root=str(tmp_path)))
    allowed = load_config(path, policy=ModelPolicy(allow_network=True, model_root=str(tiny_models.parent)))
    assert allowed.models.clap.path == "laion/clap-htsat-unfused"  # a hub id, not a file: no root to check


def test_the_serving_entry_points_apply_the_process_policy(tmp_path, tiny_models, untrusted):
    from ml_backend.serving import check_config, load_proposer, model_info
    from ml_backend.serving.interactive import SamUnavailableError, sam_session, sam_sessions_clear

    path = write(tmp_path, tiny_data(tiny_models, builder=untrusted.builder))
    data = json.loads(path.read_text())
    set_policy_provider(lambda: ModelPolicy(model_root=str(tmp_path / "nowhere"), root_required=True))
    try:
        for call in (lambda: model_info(path), lambda: load_proposer(path), lambda: check_config(data)):
            with pytest.raises(ConfigPolicyError, match="models.sam.builder"):
                call()
        sam_sessions_clear()
        with pytest.raises(SamUnavailableError, match="models.sam.builder = .*refused"):
            sam_session(path)
        inside = dataclasses.replace(ModelPolicy(), model_root=str(tiny_models.parent), root_required=True)
        assert model_info(tiny_models, policy=inside)["kind"] == "openavs"
        with pytest.raises(ConfigPolicyError, match="models.clap.path = .*inside AVS_MODEL_ROOT"):
            model_info(tiny_models)  # the process's policy: another root
    finally:
        set_policy_provider(None)
        sam_sessions_clear()
    assert not untrusted.was_imported()
