"""Student settings are validated without torch (`ml_backend.students.configs`), with the registry's messages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ml_backend import serving
from ml_backend.foundation.config import ConfigError
from ml_backend.students import av2t_sam, compact, configs, registry

ROOT = Path(__file__).resolve().parents[3]

PROBE = """
import sys
from ml_backend import serving
from ml_backend.students.configs import student_config_from_dict
print(student_config_from_dict({"kind": "av2t_sam", "epochs": 2}).epochs)
for kind, settings in (("compact", {"input_size": 100}), ("av2t_sam", {"cache_dtype": "int8"})):
    try:
        serving.check_student_settings(kind, settings)
    except serving.ConfigError as exc:
        print(exc)
try:
    serving.check_config({"models": {}, "students": {"fast": {"epochs": 0}}})
except serving.ConfigError as exc:
    print(exc)
print(sorted(m for m in ("torch", "transformers", "segment_anything") if m in sys.modules))
"""


def test_settings_are_checked_without_importing_torch():
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "2",
        "student_config.input_size must be divisible by 2**depth (16), got 100",
        "student_config.cache_dtype must be 'float16' or 'float32', got 'int8'",
        "the configuration: students.fast.epochs must be a positive integer, got 0",
        "[]",
    ]


def test_the_old_import_paths_name_the_same_classes_and_functions():
    assert compact.CompactConfig is configs.CompactConfig and av2t_sam.Av2tSamConfig is configs.Av2tSamConfig
    assert registry.student_config_from_dict is configs.student_config_from_dict
    assert registry.student_config_to_dict is configs.student_config_to_dict
    assert registry.students_from_dict is configs.students_from_dict
    assert {kind: registry.config_class(kind) for kind in registry.KINDS} == configs.CONFIG_CLASSES


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"epochs": 0}, "students.compact.epochs must be a positive integer, got 0"),
        ({"width": "x"}, "students.compact.width must be an integer, got 'x'"),
        ({"epoch": 3}, "students.compact.epoch is not a setting of the compact student (known: audio, audio_dim,"),
        ({"input_size": 100}, "students.compact.input_size must be divisible by 2**depth (16), got 100"),
        ({"kind": "av2t_sam", "prompt_tokens": 0}, "students.av2t_sam.prompt_tokens must be a positive integer, got 0"),
        ({"kind": "av2t_sam", "depth": 3}, "students.av2t_sam.depth is not a setting of the av2t_sam student"),
        ({"kind": "yolo"}, "students.yolo.kind must be one of compact, av2t_sam, got 'yolo'"),
    ],
)
def test_messages_name_the_setting(entry, message):
    with pytest.raises(ConfigError) as error:
        configs.student_config_from_dict(entry)
    assert str(error.value).startswith(message)


def test_the_servers_check_fills_in_the_defaults_and_names_settings_with_its_prefix():
    settings = serving.check_student_settings("compact", {"epochs": 2, "depth": 3})
    assert settings == configs.student_config_to_dict(configs.CompactConfig(epochs=2, depth=3))
    assert serving.check_student_settings("av2t_sam", {})["epochs"] == configs.Av2tSamConfig().epochs == 40
    with pytest.raises(ConfigError, match=r"^config\.film_scales must be at most depth \(3\), got 4$"):
        serving.check_student_settings("compact", {"depth": 3, "film_scales": 4}, prefix="config")
    with pytest.raises(ConfigError, match=r"^student_config must be a JSON object, got list$"):
        serving.check_student_settings("compact", [])
