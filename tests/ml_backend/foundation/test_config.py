"""The model configuration file (ml_backend.foundation.config)."""

from __future__ import annotations

import json

import pytest

from ml_backend.foundation.config import ConfigError, config_hash, load_config


def write(tmp_path, data) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


MINIMAL = {
    "models": {
        "clap": {"path": "clap"},
        "grounding": {"path": "gdino"},
        "sam": {"type": "vit_b", "checkpoint": "sam_vit_b.pth"},
    }
}


def test_relative_model_paths_resolve_against_the_configuration_folder(tmp_path):
    config = load_config(write(tmp_path, MINIMAL))
    assert config.models.clap.path == str(tmp_path / "clap")
    assert config.models.sam.checkpoint == str(tmp_path / "sam_vit_b.pth")
    assert config.models.llm is None and config.models.clip is None
    assert config.models.grounding.box_threshold == 0.25  # the OpenAVS setting
    assert config.device == "auto" and config.allow_network is False
    assert config.pipeline.min_tag_score == 0.05 and config.pipeline.min_window_rms == 0.0056  # per-frame sources


def test_the_fixture_configuration_names_every_model(tiny_config, tiny_models):
    models = tiny_config.models
    assert models.sam.builder == "ml_backend.foundation.tiny:build_tiny_sam"
    assert models.llm is not None and models.clip is not None
    assert models.clap.path == str(tiny_models.parent / "clap")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["models"]["clap"].update(pth="x"), "models.clap.pth: unknown setting"),
        (lambda d: d["models"].pop("sam"), "models.sam: required setting is missing"),
        (
            lambda d: d["models"]["grounding"].update(box_threshold="high"),
            "models.grounding.box_threshold: expected a number",
        ),
        (
            lambda d: d["models"]["grounding"].update(kind="yolo"),
            "models.grounding.kind: expected 'grounding_dino' or 'owlv2'",
        ),
        (lambda d: d.update(pipeline={"merge": "mean"}), "pipeline.merge: expected 'union' or 'best'"),
        (
            lambda d: d.update(pipeline={"clip_labels": True}),
            "pipeline.clip_labels is true but models.clip is not configured",
        ),
        (lambda d: d.update(pipeline={"top_k": 0}), "pipeline.top_k: expected a positive integer"),
        (lambda d: d.update(pipeline={"min_tag_score": 1.5}), "pipeline.min_tag_score: expected a probability"),
        (lambda d: d.update(pipeline={"min_window_rms": -0.1}), "pipeline.min_window_rms: expected a number >= 0"),
    ],
)
def test_a_bad_setting_is_named_in_the_error(tmp_path, change, message):
    data = json.loads(json.dumps(MINIMAL))
    change(data)
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert message in str(error.value)
    assert path in str(error.value)


def test_invalid_json_and_missing_file_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"not valid JSON \(line 2"):
        load_config(write(tmp_path, '{\n  "models": ,\n}'))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.json")


def test_the_hash_is_sha256_of_canonical_json_and_follows_the_settings(tmp_path):
    config = load_config(write(tmp_path, MINIMAL))
    canonical = json.dumps(config.to_dict(), sort_keys=True, separators=(",", ":"))
    import hashlib

    assert config.sha256() == hashlib.sha256(canonical.encode()).hexdigest() == config_hash(config.to_dict())
    changed = json.loads(json.dumps(MINIMAL))
    changed["models"]["grounding"]["box_threshold"] = 0.3
    assert load_config(write(tmp_path, changed)).sha256() != config.sha256()
    assert load_config(write(tmp_path, MINIMAL)).sha256() == config.sha256()


def test_hub_ids_stay_as_given_only_when_the_network_is_allowed(tmp_path):
    data = json.loads(json.dumps(MINIMAL))
    data["models"]["clap"]["path"] = "laion/clap-htsat-unfused"
    assert load_config(write(tmp_path, data)).models.clap.path == str(tmp_path / "laion/clap-htsat-unfused")
    data["allow_network"] = True
    assert load_config(write(tmp_path, data)).models.clap.path == "laion/clap-htsat-unfused"


def test_a_students_section_is_read_into_validated_student_configurations(tmp_path):
    from ml_backend.foundation.config import config_from_dict
    from ml_backend.students.compact import CompactConfig

    without = load_config(write(tmp_path, MINIMAL))
    assert without.students == {} and "students" not in without.to_dict()  # its hash is unchanged
    data = {**MINIMAL, "students": {"fast": {"kind": "compact", "epochs": 3, "input_size": 64}, "compact": {}}}
    config = load_config(write(tmp_path, data))
    assert config.students["fast"] == CompactConfig(epochs=3, input_size=64)
    assert config.students["compact"] == CompactConfig()
    assert config.sha256() != without.sha256()
    again = config_from_dict(config.to_dict(), base_dir=None)  # the plain form reads back the same
    assert again.students == config.students and again.sha256() == config.sha256()


@pytest.mark.parametrize(
    ("students", "message"),
    [
        ({"fast": {"epochs": 0}}, "students.fast.epochs must be a positive integer, got 0"),
        ({"fast": {"kind": "yolo"}}, "students.fast.kind must be one of"),
        ({"fast": {"learning_rate": -1}}, "students.fast.learning_rate must be a number > 0"),
        ({"fast": {"pseudo_low": 0.9}}, "students.fast.pseudo_low must be below students.fast.pseudo_high"),
        ({"fast": {"batchsize": 4}}, "students.fast.batchsize is not a setting of the compact student"),
        ({"fast": []}, "students.fast must be a JSON object"),
        ({"bad name!": {}}, "'bad name!' is not a valid student name"),
        ([], "students must be a JSON object"),
    ],
)
def test_a_bad_student_setting_is_named_in_the_error(tmp_path, students, message):
    path = write(tmp_path, {**MINIMAL, "students": students})
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert message in str(error.value) and path in str(error.value)
