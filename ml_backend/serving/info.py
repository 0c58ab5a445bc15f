"""Which proposer a configuration means, without loading a model or importing torch.

`model_info(config_path)` is what the server's web process calls (e.g. to tell a project which proposer its
pre-annotation will run); `ml_backend.serving.proposals` uses the same functions to name what it loaded, so
the two always agree.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ml_backend.foundation.config import HUB_ID, BackendConfig, config_from_dict, config_hash, load_config, model_name
from ml_backend.foundation.policy import ModelPolicy, current_policy
from ml_backend.pipelines.names import openavs_name, segmenter_name

NO_MODELS = "no models are configured (no configuration file given)"


def openavs_models(config: BackendConfig) -> dict[str, str | None]:
    """Stage -> model name for a configuration (the names the loaders give their components): Grounding DINO + SAM,
    or, with `models.segmenter`, SAM 3 ("segmenter": its name, with ":video" in mode "video")."""
    models, pipeline = config.models, config.pipeline
    names: dict[str, str | None] = {
        "audio_tagging": model_name(models.clap.path),
        "llm": model_name(models.llm.path) if models.llm is not None else None,
    }
    if models.segmenter is not None:
        names["segmenter"] = segmenter_name(model_name(models.segmenter.path), models.segmenter.mode)
    else:
        assert models.grounding is not None and models.sam is not None  # the configuration loader checks it
        names["grounding"] = model_name(models.grounding.path)
        names["sam"] = Path(models.sam.checkpoint).stem
    names["clip"] = model_name(models.clip.path) if models.clip is not None and pipeline.clip_labels else None
    return names


def baseline_config() -> dict[str, Any]:
    """The weight-free synchrony baseline's parameters (their SHA-256 is its `config_hash`)."""
    from ml_backend.pipelines.synchrony import SynchronyConfig

    return asdict(SynchronyConfig())


def baseline_info(reason: str) -> dict[str, Any]:
    """`{"kind": "baseline", "name", "config_hash", "reason", "models": {}, "config"}` of the synchrony baseline."""
    from ml_backend.pipelines.synchrony import METHOD

    config = baseline_config()
    return {
        "kind": "baseline",
        "name": METHOD,
        "config_hash": config_hash(config),
        "reason": reason,
        "models": {},
        "config": config,
    }


def _hub_allowed(path: str, config: BackendConfig) -> bool:
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    return bool(HUB_ID.match(path)) and config.allow_network and not offline


def missing_models(config: BackendConfig) -> list[str]:
    """`"<setting> = '<path>': <problem>"` for every configured model that is not on this machine's disk.

    Only existence is checked (a directory for transformers models, a file for the SAM checkpoint); a model that
    is there but damaged shows when it is loaded. Hub ids count as present when the network is allowed.
    """
    models, problems = config.models, []
    directories = [("models.clap.path", models.clap.path)]
    if models.segmenter is not None:  # SAM 3 replaces Grounding DINO + SAM: only it is loaded
        directories.append(("models.segmenter.path", models.segmenter.path))
    else:
        assert models.grounding is not None and models.sam is not None  # the configuration loader checks it
        directories.append(("models.grounding.path", models.grounding.path))
    if models.llm is not None:
        directories.append(("models.llm.path", models.llm.path))
    if models.clip is not None and config.pipeline.clip_labels:
        directories.append(("models.clip.path", models.clip.path))
    for setting, path in directories:
        if not Path(path).is_dir() and not _hub_allowed(path, config):
            problems.append(f"{setting} = '{path}': no such model directory")
    if models.segmenter is None and models.sam is not None and not Path(models.sam.checkpoint).is_file():
        problems.append(f"models.sam.checkpoint = '{models.sam.checkpoint}': no such checkpoint file")
    return problems


def model_info(
    config_path: str | os.PathLike[str] | None = None, *, policy: ModelPolicy | None = None
) -> dict[str, Any]:
    """`{"kind", "name", "config_hash", "reason", "models", "config"}` of the proposer a configuration means.

    Loads no model and imports no torch. "openavs" for a valid configuration whose model files are all on disk;
    "baseline" (the weight-free synchrony baseline, `reason` saying why) without a configuration or when a
    configured model file is missing — exactly what `propose_clip` would then run. A model that is on disk but
    fails to load shows only in `propose_clip`'s `model`. `config` is the plain configuration (model paths
    resolved) and `config_hash` the SHA-256 of its canonical JSON. Raises `ConfigError` for an invalid file, and
    `ConfigPolicyError` for one naming what `policy` (default: the process's `current_policy()`) refuses.
    """
    if config_path is None:
        return baseline_info(NO_MODELS)
    config = load_config(config_path, policy=current_policy() if policy is None else policy)
    missing = missing_models(config)
    if missing:
        return baseline_info(f"the OpenAVS models cannot be loaded: {'; '.join(missing)}")
    models = openavs_models(config)
    return {
        "kind": "openavs",
        "name": openavs_name(models),
        "config_hash": config.sha256(),
        "reason": None,
        "models": models,
        "config": config.to_dict(),
    }


def tracker_info(config_path: str | os.PathLike[str] | None, *, policy: ModelPolicy | None = None) -> dict[str, Any]:
    """`{"available": bool, "kind", "name", "min_confidence", "reason"}` of the configuration's video mask tracker
    (`models.tracker`, mask propagation in the annotator), without loading it or importing torch (the web process
    asks before it queues a propagation).

    Not available, `reason` saying why, without a configuration, when it names no tracker, or when the tracker's
    folder is not on disk (a folder that is there but damaged shows when the tracker loads). Raises `ConfigError`
    for an invalid file and `ConfigPolicyError` for one naming what `policy` (default: `current_policy()`) refuses.
    """
    out: dict[str, Any] = {"available": False, "kind": None, "name": None, "min_confidence": None, "reason": None}
    if config_path is None:
        return {**out, "reason": NO_MODELS}
    config = load_config(config_path, policy=current_policy() if policy is None else policy)
    tracker = config.models.tracker
    if tracker is None:
        return {**out, "reason": f"{config.source}: the model configuration has no models.tracker"}
    out.update(kind=tracker.kind, name=model_name(tracker.path), min_confidence=tracker.min_confidence)
    if not Path(tracker.path).is_dir() and not _hub_allowed(tracker.path, config):
        return {**out, "reason": f"models.tracker.path = '{tracker.path}': no such model directory"}
    return {**out, "available": True}


def check_config(data: Any, *, policy: ModelPolicy | None = None, source: str = "the configuration") -> dict[str, Any]:
    """Validate a configuration given as data (not a file), e.g. one sent to the server's API; returns its plain
    form (`BackendConfig.to_dict()`, paths resolved). Nothing is read, imported or loaded.

    Every model path must be absolute (there is no file for relative paths to be relative to). Raises
    `ConfigError` for an invalid configuration and `ConfigPolicyError` for one naming what `policy` (default: the
    process's `current_policy()`) refuses; messages start with `source`.
    """
    policy = current_policy() if policy is None else policy
    return config_from_dict(data, base_dir=None, source=source, policy=policy).to_dict()
