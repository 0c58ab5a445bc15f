"""Who may name code and files in model configurations, and the rules every configuration obeys on this server.

A model configuration names files the workers read (model folders, checkpoints), may ask for hub downloads
(`allow_network`) and may name code they import and call (`models.sam.builder`). That is an administrator's
decision, like a project's `model_config`:

- registering a model version whose config names code or files (`config_names_code_or_files`: every OpenAVS
  configuration, any config with a path-like key or value, a `checkpoint_path`) takes an administrator
  (a superuser); managers get 403;
- every configuration, whoever registered it, obeys `model_policy()`, built from the settings: model files
  inside AVS_MODEL_ROOT (required unless AVS_MODEL_ROOT_REQUIRED is off, as in the local settings), hub
  downloads only with AVS_MODEL_ALLOW_NETWORK, SAM builders outside ml_backend only with
  AVS_MODEL_ALLOW_CUSTOM_BUILDERS. It is installed as the ML backend's process policy when the app loads
  (`LearningConfig.ready`), so `ml_backend.serving` applies it again at every use (web process: model_info, SAM
  clicks; workers: pre-annotation): a configuration stored before a rule tightened, or written straight into the
  database, cannot get around it.

Torch-free: the web process imports this module.
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings

from ml_backend.serving import ConfigError, ModelPolicy, check_config, set_policy_provider
from server.core.errors import ApplicationError

PATH_KEYS = frozenset({"path", "checkpoint", "builder", "allow_network", "checkpoint_path"})
PATH_KEY_SUFFIXES = ("_path", "_dir", "_file", "_checkpoint", "_builder")
OPENAVS = "openavs"


def model_policy() -> ModelPolicy:
    """The ML backend's policy from the settings (read at each call: it follows changed settings)."""
    root = (settings.AVS_MODEL_ROOT or "").strip()
    return ModelPolicy(
        model_root=root or None,
        root_required=settings.AVS_MODEL_ROOT_REQUIRED,
        allow_network=settings.AVS_MODEL_ALLOW_NETWORK,
        allow_custom_builders=settings.AVS_MODEL_ALLOW_CUSTOM_BUILDERS,
        model_cache_bytes=settings.AVS_MODEL_CACHE_BYTES,
    )


def model_policy_install() -> None:
    """Make `model_policy()` the policy of every `ml_backend.serving` call in this process."""
    set_policy_provider(model_policy)


def config_names_code_or_files(*, kind: str, config: Any, checkpoint_path: str = "") -> list[str]:
    """Where a model version's config names code or files (dotted keys; "config" for an OpenAVS configuration,
    which always names model files), empty when it names none: then any manager may register it."""
    found: list[str] = ["config (an OpenAVS configuration names model files)"] if kind == OPENAVS else []
    if checkpoint_path.strip():
        found.append("checkpoint_path")

    def visit(value: Any, where: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                name = f"{where}.{key}"
                lowered = str(key).lower()
                if lowered in PATH_KEYS or lowered.endswith(PATH_KEY_SUFFIXES):
                    found.append(name)
                visit(item, name)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                visit(item, f"{where}[{index}]")
        elif isinstance(value, str) and value.strip().startswith(("/", "~", "file:", "\\")):
            found.append(where)

    visit(config, "config")
    return list(dict.fromkeys(found))


def model_config_check(*, config: dict[str, Any]) -> None:
    """Refuse (400, message naming the setting) an OpenAVS configuration the ML backend cannot read or that the
    policy refuses (files outside AVS_MODEL_ROOT, a custom builder, the network). Model paths must be absolute."""
    try:
        check_config(config, policy=model_policy(), source="config")
    except ConfigError as exc:
        raise ApplicationError(str(exc), {"field": "config"}) from exc


def model_config_path_check(*, path: str, field: str = "model_config") -> None:
    """Refuse (400) a configuration file (a project's `model_config`) outside AVS_MODEL_ROOT (symlinks followed),
    or any file while AVS_MODEL_ROOT is required but not set."""
    policy = model_policy()
    if policy.model_root is None:
        if policy.root_required:
            raise ApplicationError(
                f"{field} cannot be set: AVS_MODEL_ROOT is not set. It must name the folder that holds the "
                "model files and configurations on the servers.",
                {"field": field},
            )
        return
    root = os.path.realpath(policy.model_root)
    resolved = os.path.realpath(path)
    if os.path.commonpath([root, resolved]) != root:
        shown = "" if resolved == os.path.normpath(path) else f" (it resolves to {resolved})"
        raise ApplicationError(
            f"{field} must lie inside AVS_MODEL_ROOT ({root}): {path} does not{shown}.",
            {"field": field, "model_root": root},
        )
