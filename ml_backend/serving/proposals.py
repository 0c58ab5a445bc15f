"""The entry points the server calls (from Celery tasks): plain data in, plain data out.

- `propose_clip(video_path=..., config_path=..., labels=...) -> dict`: decode a video, run the configured
  proposer, return JSON-safe per-frame instances (COCO RLE masks) with provenance;
- `model_info(config_path) -> dict`: which proposer a configuration means, without loading anything
  (`ml_backend.serving.info`, torch-free; re-exported here).

The proposer is OpenAVS when a configuration file is given and its models load; otherwise the weight-free
synchrony baseline runs and the result says why (`model.kind == "baseline"`, `model.reason`). Models are
loaded once per process (`ml_backend.foundation.registry.process_cache`) and reused by every later call.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ml_backend.foundation.config import load_config
from ml_backend.foundation.loading import ModelLoadError
from ml_backend.foundation.registry import ModelCache
from ml_backend.media.clip import SILENCE_RMS, ClipInputError, load_clip, require_audible
from ml_backend.media.video import MediaError
from ml_backend.pipelines import openavs
from ml_backend.pipelines.names import openavs_name
from ml_backend.serving.encoding import proposal_to_dict
from ml_backend.serving.info import NO_MODELS, baseline_info, openavs_models
from ml_backend.serving.info import model_info as model_info  # re-exported: the one entry point module
from ml_backend.types import ClipMedia, ClipProposal

logger = logging.getLogger(__name__)


class Proposer(Protocol):
    def propose(self, clip: ClipMedia, *, labels: Sequence[str] = ()) -> ClipProposal: ...


class BaselineProposer:
    """The synchrony baseline behind the `Proposer` interface (it ignores labels: its instances are unlabelled)."""

    def __init__(self) -> None:
        from ml_backend.pipelines.synchrony import build_synchrony_proposer

        self.inner = build_synchrony_proposer()

    def propose(self, clip: ClipMedia, *, labels: Sequence[str] = ()) -> ClipProposal:
        return self.inner.propose(clip)


@dataclass
class LoadedProposer:
    """A ready proposer and what it is: kind "openavs" | "baseline", a name, the SHA-256 of its configuration,
    and, for the baseline, the reason it runs."""

    proposer: Proposer
    kind: str
    name: str
    config_hash: str
    reason: str | None = None
    min_rms: float = SILENCE_RMS

    def info(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "config_hash": self.config_hash, "reason": self.reason}

    def run(self, clip: ClipMedia, *, labels: Sequence[str] = ()) -> ClipProposal:
        """The proposal for a decoded clip. Raises `ClipInputError` for a silent or audio-less clip."""
        require_audible(clip, min_rms=self.min_rms)
        return self.proposer.propose(clip, labels=labels)

    def result(self, proposal: ClipProposal, *, clip: ClipMedia, labels: Sequence[str] = ()) -> dict[str, Any]:
        """The JSON-safe result `propose_clip` returns."""
        return {"model": self.info(), "labels": list(labels), **proposal_to_dict(proposal, clip=clip)}

    def propose(self, clip: ClipMedia, *, labels: Sequence[str] = ()) -> dict[str, Any]:
        """`result(run(clip))`."""
        return self.result(self.run(clip, labels=labels), clip=clip, labels=labels)


def _baseline(reason: str) -> LoadedProposer:
    info = baseline_info(reason)
    return LoadedProposer(
        BaselineProposer(), kind="baseline", name=info["name"], config_hash=info["config_hash"], reason=reason
    )


def load_proposer(config_path: str | os.PathLike[str] | None, *, cache: ModelCache | None = None) -> LoadedProposer:
    """OpenAVS from `config_path` (models through the process cache), or the baseline with the reason.

    Raises `ConfigError` for a configuration file that is missing or invalid (a person must fix it); a model
    that fails to load makes the baseline run instead, with `reason` naming the setting and path.
    """
    if config_path is None:
        return _baseline(NO_MODELS)
    config = load_config(config_path)
    try:
        pipeline = openavs.build_openavs_pipeline(config, cache=cache)
    except ModelLoadError as exc:
        logger.warning("OpenAVS models failed to load, the synchrony baseline runs instead: %s", exc)
        return _baseline(f"the OpenAVS models failed to load: {exc}")
    return LoadedProposer(
        pipeline,
        kind="openavs",
        name=openavs_name(openavs_models(config)),
        config_hash=config.sha256(),
        min_rms=config.pipeline.min_rms,
    )


def propose_clip(
    *,
    video_path: str | os.PathLike[str],
    fps: float = 1.0,
    sample_rate: int = 16_000,
    config_path: str | os.PathLike[str] | None = None,
    labels: Sequence[str] = (),
    max_side: int | None = None,
    cache: ModelCache | None = None,
) -> dict[str, Any]:
    """Propose sounding-object masks for one video file.

    Returns `{"model": {"kind", "name", "config_hash", "reason"}, "labels": [...], "clip": {...},
    "frames": [{"frame_index", "timestamp", "instances": [{"label", "score", "mask": {"size": [H, W],
    "counts": str}, "area", "provenance"}]}], "meta": {...}}` (JSON-safe).

    Raises `MediaError` (its subclass `ClipInputError` for no audio track / silent audio) with a message naming
    the file when the video cannot be used, and `ConfigError` for an invalid configuration file.
    """
    loaded = load_proposer(config_path, cache=cache)
    try:
        clip = load_clip(video_path, fps=fps, sample_rate=sample_rate, max_side=max_side)
        return loaded.propose(clip, labels=labels)
    except ClipInputError as exc:
        raise ClipInputError(f"{os.fspath(video_path)}: {exc}") from exc
    except MediaError as exc:
        raise MediaError(f"{os.fspath(video_path)}: {exc}") from exc
