"""Student kinds, their validated configurations, and the saved-student folder.

Entry points:
- `student_config_from_dict(data, *, name=None) -> StudentConfig`: a `students` entry of the model config JSON,
  validated; raises `ConfigError` naming the setting ("students.compact.epochs must be a positive integer, got 0").
- `build_student(config, *, models=None) -> Student`: an untrained student of `config.kind`; `models` is a
  `FoundationModels` (frozen CLAP / SAM / CLIP facades) for the students and settings that use them.
- `load_student(path, *, device="auto", models=None) -> Student`: a student saved by `Student.save(path)`.
- `write_student_folder` / `read_student_folder`: the folder every student's `save`/`load` use:
  `student.json` ({"format", "kind", "label", "config", "meta"}) + `weights.safetensors` (tensors only: reading
  a saved student never executes code; no pickle).

Kinds: `KINDS`. Kind `k` lives in the module `ml_backend.students.<k>`, which defines `STUDENT_CLASS` (or one
`Student` subclass whose `name` is `k`); the class's `config_class` (or the module's one `StudentConfig`
subclass) is its configuration; it is built as `STUDENT_CLASS(config, models=models)` and loaded with
`STUDENT_CLASS.load(path, device=..., models=...)` (`models` passed only when its `load` takes it).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import os
import re
import tempfile
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ml_backend.foundation.config import ConfigError
from ml_backend.students.base import FoundationModels, Student, StudentConfig

KINDS: tuple[str, ...] = ("compact", "av2t_sam")
FOLDER_FORMAT = 1
META_FILE = "student.json"
WEIGHTS_FILE = "weights.safetensors"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

# Settings with a range narrower than their type's ("positive integer", "number >= 0").
_UNIT_INTERVAL = {"pseudo_low", "pseudo_high", "threshold"}
_POSITIVE_FLOATS = {"learning_rate", "human_weight", "audio_seconds"}
_NON_NEGATIVE_INTS = {"seed"}


# ---------------------------------------------------------------- kinds


def _module(kind: str) -> types.ModuleType:
    if kind not in KINDS:
        raise ValueError(f"unknown student kind {kind!r} (known: {', '.join(KINDS)})")
    try:
        return importlib.import_module(f"ml_backend.students.{kind}")
    except ModuleNotFoundError as exc:
        if exc.name == f"ml_backend.students.{kind}":
            raise ValueError(f"the {kind!r} student is not available in this installation") from None
        raise


def student_class(kind: str) -> type[Student]:
    """The `Student` subclass of `kind` (ValueError for an unknown or unavailable kind)."""
    module = _module(kind)
    found = getattr(module, "STUDENT_CLASS", None)
    if found is None:
        candidates = [
            value
            for value in vars(module).values()
            if inspect.isclass(value)
            and issubclass(value, Student)
            and not inspect.isabstract(value)
            and getattr(value, "name", None) == kind
        ]
        if len(candidates) != 1:
            raise ValueError(f"the {kind!r} student module defines no single student class")
        found = candidates[0]
    return found


def config_class(kind: str) -> type[StudentConfig]:
    """The `StudentConfig` subclass of `kind`."""
    found = getattr(student_class(kind), "config_class", None)
    if found is None:
        module = _module(kind)
        candidates = [
            value
            for value in vars(module).values()
            if inspect.isclass(value)
            and issubclass(value, StudentConfig)
            and value is not StudentConfig
            and value.__module__ == module.__name__
        ]
        found = candidates[0] if len(candidates) == 1 else StudentConfig
    return found


# ---------------------------------------------------------------- configuration


def student_config_from_dict(data: Any, *, name: str | None = None) -> StudentConfig:
    """A validated student configuration from a `students` entry (`data`, a JSON object) of the model config.

    `name`: the entry's name in the `students` section (default: its kind); messages name settings
    `students.<name>.<setting>`. `kind` defaults to `name` when that is a kind, else to "compact". Unknown
    settings, wrong types and out-of-range values raise `ConfigError`."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"students.{name or '?'} must be a JSON object, got {type(data).__name__}")
    kind = data.get("kind", name if name in KINDS else "compact")
    prefix = f"students.{name or kind}"
    if not isinstance(kind, str) or kind not in KINDS:
        raise ConfigError(f"{prefix}.kind must be one of {', '.join(KINDS)}, got {kind!r}")
    try:
        cls = config_class(kind)
    except ValueError as exc:
        raise ConfigError(f"{prefix}.kind: {exc}") from None
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{prefix}.{unknown[0]} is not a setting of the {kind} student (known: {', '.join(sorted(fields))})"
        )
    values: dict[str, Any] = {"kind": kind}
    for key, value in data.items():
        if key != "kind":
            values[key] = _convert(hints[key], value, key=key, setting=f"{prefix}.{key}")
    config = cls(**values)
    _check_config(config, prefix)
    return config


def _convert(hint: Any, value: Any, *, key: str, setting: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or origin is typing.Union:
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, key=key, setting=setting)
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{setting} must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{setting} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{setting} must be an integer, got {value!r}")
        if key in _NON_NEGATIVE_INTS:
            if value < 0:
                raise ConfigError(f"{setting} must be an integer >= 0, got {value!r}")
        elif value < 1:
            raise ConfigError(f"{setting} must be a positive integer, got {value!r}")
        return value
    if hint is float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or value != value
            or value
            in (
                float("inf"),
                float("-inf"),
            )
        ):
            raise ConfigError(f"{setting} must be a number, got {value!r}")
        value = float(value)
        if key in _UNIT_INTERVAL and not 0.0 <= value <= 1.0:
            raise ConfigError(f"{setting} must be a number between 0 and 1, got {value!r}")
        if key in _POSITIVE_FLOATS and value <= 0:
            raise ConfigError(f"{setting} must be a number > 0, got {value!r}")
        if value < 0:
            raise ConfigError(f"{setting} must be a number >= 0, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{setting} must be a non-empty string, got {value!r}")
        return value.strip()
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{setting} must be a JSON object, got {value!r}")
        return dict(value)
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{setting} must be a list, got {value!r}")
        inner = args[0] if args else Any
        if inner is Any:
            items = list(value)
        else:
            items = [_convert(inner, v, key=key, setting=f"{setting}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if hint is Any:
        return value
    raise ConfigError(f"{setting}: settings of type {hint!r} cannot be read from JSON")


def _check_config(config: StudentConfig, prefix: str) -> None:
    """Checks across settings, and the kind's own (`config.problems()`: [(setting, message)], when it has one)."""
    if not config.pseudo_low < config.pseudo_high:
        raise ConfigError(
            f"{prefix}.pseudo_low must be below {prefix}.pseudo_high, got {config.pseudo_low} and {config.pseudo_high}"
        )
    device = config.device
    if device not in ("auto", "cpu") and not re.fullmatch(r"cuda(:\d+)?", device):
        raise ConfigError(f"{prefix}.device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    problems = getattr(config, "problems", None)
    if callable(problems):
        for setting, message in problems():
            raise ConfigError(f"{prefix}.{setting} {message}")


def student_config_to_dict(config: StudentConfig) -> dict[str, Any]:
    """Plain JSON-safe data that `student_config_from_dict` reads back into an equal configuration."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def students_from_dict(data: Any) -> dict[str, StudentConfig]:
    """The `students` section of the model config: {name: config}, each validated (see the module doc)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"students must be a JSON object of named student configurations, got {type(data).__name__}")
    out: dict[str, StudentConfig] = {}
    for name, entry in data.items():
        if not isinstance(name, str) or not NAME.match(name):
            raise ConfigError(
                f"students: {name!r} is not a valid student name (letters, digits, '_', '.', '-'; at most 64)"
            )
        out[name] = student_config_from_dict(entry, name=name)
    return out


# ---------------------------------------------------------------- building and loading


def build_student(config: StudentConfig, *, models: FoundationModels | None = None) -> Student:
    """An untrained student of `config.kind` (ValueError for an unknown kind or a setting it cannot honour)."""
    cls = student_class(config.kind)
    expected = getattr(cls, "config_class", None)
    if expected is not None and not isinstance(config, expected):
        raise ValueError(f"the {config.kind} student needs a {expected.__name__}, got {type(config).__name__}")
    return cls(config, models=models)


def read_student_meta(path: str | Path) -> dict[str, Any]:
    """The `student.json` of a saved student folder (ValueError when it is missing or not one)."""
    file = Path(path) / META_FILE
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: not a saved student (no {META_FILE})") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{file}: unreadable ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FOLDER_FORMAT or meta.get("kind") not in KINDS:
        raise ValueError(f"{file}: not a saved student of a known format and kind")
    return meta


def load_student(path: str | Path, *, device: str = "auto", models: FoundationModels | None = None) -> Student:
    """The student saved in folder `path` (its kind read from `student.json`), on `device`."""
    meta = read_student_meta(path)
    cls = student_class(meta["kind"])
    if "models" in inspect.signature(cls.load).parameters:
        return cls.load(path, device=device, models=models)
    return cls.load(path, device=device)


def write_student_folder(
    path: str | Path,
    *,
    kind: str,
    config: StudentConfig,
    label: str,
    weights: Mapping[str, torch.Tensor],
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write `student.json` and `weights.safetensors` into folder `path` (created), each atomically."""
    from safetensors.torch import save_file

    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in weights.items()}
    document = {
        "format": FOLDER_FORMAT,
        "kind": kind,
        "label": label,
        "config": student_config_to_dict(config),
        "meta": dict(meta or {}),
    }
    fd, tmp = tempfile.mkstemp(prefix=".weights-", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={"kind": kind, "format": str(FOLDER_FORMAT)})
        os.replace(tmp, folder / WEIGHTS_FILE)
    finally:
        Path(tmp).unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".student-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2, sort_keys=True)
        os.replace(tmp, folder / META_FILE)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return folder


def read_student_folder(
    path: str | Path, *, expected_kind: str | None = None
) -> tuple[dict[str, Any], StudentConfig, dict[str, torch.Tensor]]:
    """(student.json, its validated config, the weights on CPU) of a saved student folder.

    Raises ValueError for a missing/foreign folder, another kind than `expected_kind`, or an invalid config."""
    from safetensors.torch import load_file

    meta = read_student_meta(path)
    if expected_kind is not None and meta["kind"] != expected_kind:
        raise ValueError(f"{path}: a saved {meta['kind']} student, not a {expected_kind} one")
    try:
        config = student_config_from_dict(meta.get("config", {}), name=meta["kind"])
    except ConfigError as exc:
        raise ValueError(f"{Path(path) / META_FILE}: {exc}") from None
    weights_file = Path(path) / WEIGHTS_FILE
    if not weights_file.is_file():
        raise ValueError(f"{path}: the saved student has no {WEIGHTS_FILE}")
    try:
        weights = load_file(str(weights_file), device="cpu")
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise ValueError(f"{weights_file}: unreadable weights ({exc})") from exc
    return meta, config, weights
