"""Student kinds, their validated configurations, and the saved-student folder.

Entry points:
- `student_config_from_dict(data, *, name=None) -> StudentConfig`: a `students` entry of the model config JSON,
  validated; raises `ConfigError` naming the setting ("students.compact.epochs must be a positive integer, got 0").
  It, `student_config_to_dict`, `students_from_dict` and the configuration classes live in the torch-free
  `ml_backend.students.configs` (re-exported here).
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

import importlib
import inspect
import json
import os
import tempfile
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ml_backend.foundation.config import ConfigError
from ml_backend.students.base import FoundationModels, Student, StudentConfig
from ml_backend.students.configs import (  # validation lives there, without torch; re-exported here
    CONFIG_CLASSES,
    KINDS,
    NAME,
    student_config_from_dict,
    student_config_to_dict,
    students_from_dict,
)

__all__ = [
    "CONFIG_CLASSES",
    "FOLDER_FORMAT",
    "KINDS",
    "META_FILE",
    "NAME",
    "WEIGHTS_FILE",
    "build_student",
    "config_class",
    "load_student",
    "read_student_folder",
    "read_student_meta",
    "student_class",
    "student_config_from_dict",
    "student_config_to_dict",
    "students_from_dict",
    "write_student_folder",
]

FOLDER_FORMAT = 1
META_FILE = "student.json"
WEIGHTS_FILE = "weights.safetensors"


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
