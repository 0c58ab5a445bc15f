"""Shared loading rules for foundation models: one error class, device placement, local-only sources.

Rules (ARCHITECTURE.md, "Models without network"):
- a model comes from a configured local directory or checkpoint; a hub id is used only when the
  configuration allows the network and `HF_HUB_OFFLINE` is not set, so nothing ever waits on a network;
- anything that goes wrong raises `ModelLoadError` naming the setting (`models.clap.path`) and the path;
- a tokenizer that comes back (nearly) empty is an error, never a silent blank tokenizer: transformers 5
  builds a 5-token tokenizer when its vocabulary files are missing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ml_backend.foundation.config import HUB_ID
from ml_backend.foundation.config import model_name as model_name  # re-exported: loaders import it from here

logger = logging.getLogger(__name__)

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
_HUB_ID = HUB_ID


class ModelLoadError(RuntimeError):
    """A configured model cannot be loaded. `setting` is the dotted configuration key, `path` its value."""

    def __init__(self, setting: str, path: str, problem: str) -> None:
        self.setting = setting
        self.path = path
        self.problem = problem
        super().__init__(f"{setting} = '{path}': {problem}")


@dataclass(frozen=True)
class Placement:
    """Where a model runs: `device` ("cpu", "cuda", "cuda:1") and its weights' `dtype` ("float32", "float16")."""

    device: str = "cpu"
    dtype: str = "float32"

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.device)

    @property
    def torch_dtype(self) -> torch.dtype:
        return getattr(torch, self.dtype)

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    @property
    def uses_autocast(self) -> bool:
        """True for half precision on CUDA, where `autocast()` casts float32 inputs; elsewhere inputs must be cast
        to `torch_dtype` by the caller."""
        return self.is_cuda and self.dtype == "float16"

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """Mixed precision on CUDA (half-precision weights meet float32 inputs safely); a no-op on CPU."""
        if self.uses_autocast:
            return torch.autocast(device_type="cuda", dtype=torch.float16)
        return contextlib.nullcontext()


def placement_of(model: Any) -> Placement:
    """Where `model` (a torch module) is now: its parameters' device and their most common floating dtype
    (counted in elements). CPU/float32 for an object without parameters (e.g. None)."""
    parameters = getattr(model, "parameters", None)
    if not callable(parameters):
        return Placement()
    device: torch.device | None = None
    counts: dict[torch.dtype, int] = {}
    for parameter in parameters():
        if device is None:
            device = parameter.device
        if parameter.is_floating_point():
            counts[parameter.dtype] = counts.get(parameter.dtype, 0) + parameter.nelement()
    if device is None:
        return Placement()
    dtype = max(counts, key=counts.__getitem__) if counts else torch.float32
    return Placement(str(device), str(dtype).removeprefix("torch."))


class FollowsModel:
    """Mixin of the stage facades: `placement` is the one given at construction, else wherever `self.model` is
    at the moment it is asked (so a facade built around a model on CUDA, or moved there later, sends its inputs
    there). Subclasses set `self.model` and `self.placement = placement` (None: follow the model)."""

    model: Any
    _placement: Placement | None = None
    _followed: tuple[Any, Placement] | None = None  # (first parameter's device and dtype, placement_of(model))

    @property
    def placement(self) -> Placement:
        if self._placement is not None:
            return self._placement
        parameters = getattr(self.model, "parameters", None)
        first = next(iter(parameters()), None) if callable(parameters) else None
        key = (first.device, first.dtype) if first is not None else None
        if self._followed is None or self._followed[0] != key:  # counted again only when the model moved
            self._followed = (key, placement_of(self.model))
        return self._followed[1]

    @placement.setter
    def placement(self, value: Placement | None) -> None:
        self._placement = value


def select_placement(preference: str = "auto") -> Placement:
    """ "auto": CUDA with float16 when a GPU is present, else CPU with float32; "cpu"; "cuda[:N]" (float16)."""
    if preference == "auto":
        return Placement("cuda", "float16") if torch.cuda.is_available() else Placement("cpu", "float32")
    if preference == "cpu":
        return Placement("cpu", "float32")
    if preference.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelLoadError("device", preference, "CUDA was asked for but no GPU is available to torch")
        return Placement(preference, "float16")
    raise ValueError(f"unknown device preference {preference!r}")


@dataclass(frozen=True)
class LoadContext:
    """What every loader needs besides its own settings. Part of the process cache's key."""

    placement: Placement = Placement()
    allow_network: bool = False
    allow_custom_builders: bool = False  # models.sam.builder may name code outside ml_backend (ModelPolicy)


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def pretrained_source(path: str, *, setting: str, context: LoadContext) -> tuple[str, bool]:
    """(what to pass to `from_pretrained`, local_files_only) for a configured model directory.

    A local directory must hold `config.json` and weights. A value that is not on disk is taken as a hub id
    only when `context.allow_network` is true and `HF_HUB_OFFLINE` is not set; otherwise `ModelLoadError`.
    """
    directory = Path(path)
    if directory.is_dir():
        if not (directory / "config.json").is_file():
            raise ModelLoadError(
                setting, path, "the directory has no config.json: expected a model saved with save_pretrained()"
            )
        if not any((directory / name).is_file() for name in WEIGHT_FILES):
            raise ModelLoadError(setting, path, f"the directory has no weights (none of {', '.join(WEIGHT_FILES)})")
        return str(directory), True
    if directory.exists():
        raise ModelLoadError(setting, path, "this is a file: expected a directory written by save_pretrained()")
    if _HUB_ID.match(path) and context.allow_network and not hub_offline():
        return path, False
    hint = (
        "set it to a local directory holding the model (save_pretrained() layout)"
        if not _HUB_ID.match(path)
        else "hub ids are used only with allow_network: true and HF_HUB_OFFLINE unset; "
        "download the model once and point the setting at its directory"
    )
    raise ModelLoadError(setting, path, f"no such model directory: {hint}")


def local_model_type(path: str) -> str | None:
    """model_type of a local directory's config.json (None when unreadable or not local)."""
    try:
        return json.loads((Path(path) / "config.json").read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None


def require_file(path: str, *, setting: str) -> Path:
    file = Path(path)
    if not file.is_file():
        problem = "this is a directory: expected a checkpoint file" if file.is_dir() else "no such checkpoint file"
        raise ModelLoadError(setting, path, problem)
    return file


@contextlib.contextmanager
def load_errors(setting: str, path: str) -> Iterator[None]:
    """Turn whatever a library raises while loading into one `ModelLoadError` naming the setting and path."""
    try:
        yield
    except ModelLoadError:
        raise
    except Exception as exc:  # transformers, safetensors and torch raise many kinds for a bad file
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(
            setting,
            path,
            f"the model could not be loaded: it is missing files or corrupt ({type(exc).__name__}: {reason})",
        ) from exc


def check_vocabulary(tokenizer: Any, *, expected: int, setting: str, path: str) -> None:
    """Refuse a tokenizer with far fewer tokens than the model's embedding table (a blank tokenizer).

    transformers 5 returns a 5-token tokenizer, without raising, when the vocabulary files are missing.
    """
    size = len(tokenizer)
    if size < max(16, expected // 2):
        raise ModelLoadError(
            setting,
            path,
            f"its tokenizer has {size} tokens but the model expects about {expected}: the tokenizer files "
            "(tokenizer.json, vocab.txt / vocab.json + merges.txt) are missing or unreadable",
        )


def check_loading_info(info: dict[str, Any], *, total: int, setting: str, path: str) -> None:
    """Refuse weights that leave most of the model uninitialised (the wrong model or a damaged file)."""
    missing = list(info.get("missing_keys") or [])
    mismatched = list(info.get("mismatched_keys") or [])
    if mismatched or len(missing) > total // 2:
        what = (
            f"{len(missing)} of {total} weights missing"
            if not mismatched
            else f"{len(mismatched)} weights of the wrong shape"
        )
        raise ModelLoadError(setting, path, f"the weights do not fit the model ({what}): a different or damaged model")
    if missing:
        logger.warning(
            "%s = %s: %d weights not in the checkpoint, left initialised: %s", setting, path, len(missing), missing[:5]
        )


def load_pretrained(
    path: str,
    *,
    setting: str,
    context: LoadContext,
    model_class: str,
    processor_class: str,
    vocab_size: Callable[[Any], int] | None,
) -> tuple[Any, Any]:
    """(model, processor) of transformers classes named `model_class`/`processor_class` from `path`.

    config -> model (in the placement's dtype, eval, on its device) -> processor (or tokenizer). Checks that
    the weights fit the model and that the tokenizer is not blank (`vocab_size(model.config)` tokens expected;
    None: a model without text input, whose processor has no tokenizer).
    Raises `ModelLoadError` naming `setting` and `path`.
    """
    source, local_only = pretrained_source(path, setting=setting, context=context)
    with load_errors(setting, path):
        import transformers

        quiet_transformers()
        model, info = getattr(transformers, model_class).from_pretrained(
            source, local_files_only=local_only, dtype=context.placement.torch_dtype, output_loading_info=True
        )
        processor = getattr(transformers, processor_class).from_pretrained(source, local_files_only=local_only)
    check_loading_info(info, total=len(model.state_dict()), setting=setting, path=path)
    if vocab_size is not None:
        tokenizer = getattr(processor, "tokenizer", processor)
        check_vocabulary(tokenizer, expected=vocab_size(model.config), setting=setting, path=path)
    return model.to(context.placement.torch_device).eval(), processor


def quiet_transformers() -> None:
    """Silence transformers' progress bars (loading/saving weights) in logs and CLI output."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
