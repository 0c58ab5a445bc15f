"""Student configurations, building, and the saved-student folder (ml_backend.students.registry)."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from ml_backend.foundation.config import ConfigError
from ml_backend.students.compact import CompactConfig, CompactStudent, tiny_config
from ml_backend.students.registry import (
    META_FILE,
    WEIGHTS_FILE,
    build_student,
    load_student,
    student_config_from_dict,
    student_config_to_dict,
)


@pytest.fixture(scope="module")
def trained(synth_set) -> CompactStudent:
    config = tiny_config(epochs=2)
    student = build_student(config)
    student.fit(synth_set.train[:40], config)
    return student


def test_a_saved_student_loads_back_with_identical_proposals(trained, small_clip, tmp_path):
    trained.save(tmp_path / "student")
    assert sorted(p.name for p in (tmp_path / "student").iterdir()) == [META_FILE, WEIGHTS_FILE]
    meta = json.loads((tmp_path / "student" / META_FILE).read_text())
    assert meta["kind"] == "compact" and meta["format"] == 1 and meta["label"] == trained.label
    assert student_config_from_dict(meta["config"]) == trained.config

    loaded = load_student(tmp_path / "student", device="cpu")
    assert isinstance(loaded, CompactStudent) and loaded.label == trained.label
    before, after = trained.predict(small_clip), loaded.predict(small_clip)
    assert len(before.frames) == len(after.frames)
    for a, b in zip(before.frames, after.frames, strict=True):
        assert [i.score for i in a.instances] == [i.score for i in b.instances]
        for x, y in zip(a.instances, b.instances, strict=True):
            assert np.array_equal(x.probability, y.probability) and x.label == y.label


def test_loading_refuses_what_is_not_a_saved_student_without_running_it(trained, tmp_path):
    with pytest.raises(ValueError, match="not a saved student"):
        load_student(tmp_path)
    folder = tmp_path / "student"
    trained.save(folder)

    class Exploit:
        def __reduce__(self):
            return (print, ("this must never run",))

    (folder / WEIGHTS_FILE).write_bytes(pickle.dumps({"weights": Exploit()}))  # a pickle where tensors belong
    with pytest.raises(ValueError, match="unreadable weights"):
        load_student(folder)
    meta = json.loads((folder / META_FILE).read_text())
    (folder / META_FILE).write_text(json.dumps({**meta, "kind": "teacher"}))
    with pytest.raises(ValueError, match="known format and kind"):
        load_student(folder)
    (folder / META_FILE).write_text(json.dumps({**meta, "config": {**meta["config"], "epochs": 0}}))
    with pytest.raises(ValueError, match="students.compact.epochs must be a positive integer"):
        load_student(folder)


def test_weights_that_do_not_fit_the_configuration_are_refused(trained, tmp_path):
    folder = tmp_path / "student"
    trained.save(folder)
    meta = json.loads((folder / META_FILE).read_text())
    meta["config"]["width"] = 8
    (folder / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="do not fit"):
        load_student(folder)


def test_a_configuration_round_trips_through_plain_data():
    config = tiny_config(epochs=3, extra={"note": "x"})
    data = student_config_to_dict(config)
    assert json.loads(json.dumps(data)) == data
    assert student_config_from_dict(data) == config
    assert student_config_from_dict({}) == CompactConfig()
    assert isinstance(build_student(student_config_from_dict({"input_size": 64})), CompactStudent)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"epochs": 0}, "students.fast.epochs must be a positive integer, got 0"),
        ({"epochs": 2.5}, "students.fast.epochs must be an integer"),
        ({"learning_rate": "high"}, "students.fast.learning_rate must be a number, got 'high'"),
        ({"learning_rate": 0}, "students.fast.learning_rate must be a number > 0"),
        ({"threshold": 1.5}, "students.fast.threshold must be a number between 0 and 1"),
        ({"pseudo_low": 0.8, "pseudo_high": 0.6}, "students.fast.pseudo_low must be below students.fast.pseudo_high"),
        ({"device": "tpu"}, "students.fast.device must be 'auto', 'cpu' or 'cuda[:N]'"),
        ({"kind": "yolo"}, "students.fast.kind must be one of compact, av2t_sam, got 'yolo'"),
        ({"epoch": 3}, "students.fast.epoch is not a setting of the compact student"),
        ({"augment": "yes"}, "students.fast.augment must be true or false"),
        ({"visual": "vit"}, "students.fast.visual must be 'cnn' or 'sam'"),
        ({"input_size": 100}, "students.fast.input_size must be divisible by 2**depth (16)"),
        ({"film_scales": 5}, "students.fast.film_scales must be at most depth (4)"),
        ({"seed": -1}, "students.fast.seed must be an integer >= 0"),
        ({"extra": []}, "students.fast.extra must be a JSON object"),
    ],
)
def test_a_bad_setting_is_named_in_the_error(entry, message):
    with pytest.raises(ConfigError) as error:
        student_config_from_dict(entry, name="fast")
    assert message in str(error.value)


def test_a_student_that_needs_a_foundation_model_says_so():
    with pytest.raises(ValueError, match="visual = 'sam' needs a SAM model"):
        build_student(tiny_config(visual="sam"))
    with pytest.raises(ValueError, match="audio = 'clap' needs a CLAP model"):
        build_student(tiny_config(audio="clap"))
