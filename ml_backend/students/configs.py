"""Student configurations and their validation, without torch (the web process checks settings when they are saved).

Entry points:
- `student_config_from_dict(data, *, name=None, prefix=None) -> StudentConfig`: a `students` entry of the model
  config JSON, validated; raises `ConfigError` naming the setting ("students.compact.epochs must be a positive
  integer, got 0").
- `student_config_to_dict(config) -> dict`: plain JSON-safe data that reads back into an equal configuration.
- `students_from_dict(data) -> {name: StudentConfig}`: the `students` section of the model config.

Kinds: `KINDS`; each kind's settings are `CONFIG_CLASSES[kind]` (`CompactConfig`, `Av2tSamConfig`), the
`config_class` of its student (`ml_backend.students.compact`, `ml_backend.students.av2t_sam`, which import torch;
this module does not).
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ml_backend.foundation.config import ConfigError
from ml_backend.students.base import StudentConfig

KINDS: tuple[str, ...] = ("compact", "av2t_sam")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

# Settings with a range narrower than their type's ("positive integer", "number >= 0").
_UNIT_INTERVAL = {"pseudo_low", "pseudo_high", "threshold"}
_POSITIVE_FLOATS = {"learning_rate", "human_weight", "audio_seconds"}
_NON_NEGATIVE_INTS = {"seed"}


# ---------------------------------------------------------------- the kinds' settings


@dataclass
class CompactConfig(StudentConfig):
    """The compact student's settings (a `students` entry with `"kind": "compact"`); see `ml_backend.students.compact`."""

    kind: str = "compact"
    width: int = 16  # channels of the first visual stage (doubled at each stage)
    depth: int = 4  # visual stages (each halves the resolution); input_size must be divisible by 2**depth
    film_scales: int = 3  # FiLM at this many of the deepest stages (1..depth)
    sample_rate: int = 16000  # audio windows are resampled to this rate (Hz)
    audio_seconds: float = 1.0  # audio window length fed to the audio CNN (cut or zero-padded)
    n_mels: int = 64
    n_fft: int = 512
    hop_length: int = 160
    audio_width: int = 16  # channels of the first audio conv (doubled twice)
    audio_dim: int = 64  # the audio vector's size
    visual: str = "cnn"  # "cnn" | "sam": add frozen SAM image embeddings (needs models.sam)
    audio: str = "logmel"  # "logmel" | "clap": frozen CLAP audio embeddings instead of the log-mel CNN
    predict_batch: int = 16  # frames per forward pass in predict

    def problems(self) -> list[tuple[str, str]]:
        """(setting, what is wrong) pairs; empty when the settings work together (`student_config_from_dict`)."""
        found: list[tuple[str, str]] = []
        if self.visual not in ("cnn", "sam"):
            found.append(("visual", f"must be 'cnn' or 'sam', got {self.visual!r}"))
        if self.audio not in ("logmel", "clap"):
            found.append(("audio", f"must be 'logmel' or 'clap', got {self.audio!r}"))
        if self.depth > 6:
            found.append(("depth", f"must be at most 6, got {self.depth}"))
        if self.film_scales > self.depth:
            found.append(("film_scales", f"must be at most depth ({self.depth}), got {self.film_scales}"))
        if self.input_size % 2**self.depth:
            found.append(("input_size", f"must be divisible by 2**depth ({2**self.depth}), got {self.input_size}"))
        if self.n_mels > self.n_fft // 2 + 1:
            found.append(("n_mels", f"must be at most n_fft / 2 + 1 ({self.n_fft // 2 + 1}), got {self.n_mels}"))
        if self.n_fft > self.sample_rate * self.audio_seconds:
            found.append(("n_fft", f"must not exceed the audio window's samples, got {self.n_fft}"))
        return found


@dataclass
class Av2tSamConfig(StudentConfig):
    """AV2T-SAM training settings (the `students.av2t_sam` entry of the model config JSON); see
    `ml_backend.students.av2t_sam`.

    Shared settings (epochs, batch_size, learning_rate, weight_decay, input_size, pseudo_low/high, human_weight,
    threshold, seed, device) are `StudentConfig`'s; `input_size` is the side of the square at which the loss is
    computed. `device` "auto" puts the student where SAM is.
    """

    kind: str = "av2t_sam"
    epochs: int = 40  # the paper's schedule; a few hundred cached frames train in minutes on a GPU
    batch_size: int = 8
    learning_rate: float = 2e-4  # AdamW, cosine decay (the paper's)
    width: int = 256  # common width of the projected CLIP and CLAP embeddings (f_CLIP ⊙ f_CLAP)
    prompt_tokens: int = 4  # sparse prompt tokens the MLP makes from the feature
    mlp_hidden: int = 512  # hidden width of that MLP (one hidden layer, GELU)
    dense_adapter: bool = True  # also add a linear map of the feature to SAM's dense prompt embedding
    train_decoder: bool = True  # fine-tune (a copy of) SAM's mask decoder; false: only projections, MLP, adapter
    cache_dtype: str = "float16"  # SAM image embeddings are cached per item in this dtype ("float16" | "float32")
    feature_batch: int = 16  # frames whose frozen features are computed at once (memory bound of fit and predict)
    augment: bool = False  # horizontal flips: each flipped frame's frozen features are computed and cached too

    def problems(self) -> list[tuple[str, str]]:
        """[(setting, message)] of this student's own settings that are out of range (`student_config_from_dict`
        raises the first as `ConfigError` "students.av2t_sam.<setting> <message>")."""
        found = []
        for name in ("width", "prompt_tokens", "mlp_hidden", "feature_batch", "epochs", "batch_size", "input_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                found.append((name, f"must be a positive integer, got {value!r}"))
        for name in ("dense_adapter", "train_decoder", "augment"):
            if not isinstance(getattr(self, name), bool):
                found.append((name, f"must be true or false, got {getattr(self, name)!r}"))
        if self.cache_dtype not in ("float16", "float32"):
            found.append(("cache_dtype", f"must be 'float16' or 'float32', got {self.cache_dtype!r}"))
        return found

    def validate(self, prefix: str = "students.av2t_sam") -> None:
        """Raise `ConfigError` naming the first bad setting of `problems()`."""
        for setting, message in self.problems():
            raise ConfigError(f"{prefix}.{setting} {message}")


CONFIG_CLASSES: dict[str, type[StudentConfig]] = {"compact": CompactConfig, "av2t_sam": Av2tSamConfig}


# ---------------------------------------------------------------- validation


def student_config_from_dict(data: Any, *, name: str | None = None, prefix: str | None = None) -> StudentConfig:
    """A validated student configuration from a `students` entry (`data`, a JSON object) of the model config.

    `name`: the entry's name in the `students` section (default: its kind); messages name settings
    `students.<name>.<setting>`, or `<prefix>.<setting>` when `prefix` is given. `kind` defaults to `name` when
    that is a kind, else to "compact". Unknown settings, wrong types and out-of-range values raise `ConfigError`."""
    if not isinstance(data, Mapping):
        where = prefix or f"students.{name or '?'}"
        raise ConfigError(f"{where} must be a JSON object, got {type(data).__name__}")
    kind = data.get("kind", name if name in KINDS else "compact")
    prefix = prefix or f"students.{name or kind}"
    if not isinstance(kind, str) or kind not in KINDS:
        raise ConfigError(f"{prefix}.kind must be one of {', '.join(KINDS)}, got {kind!r}")
    cls = CONFIG_CLASSES[kind]
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
