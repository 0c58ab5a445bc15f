"""What a model configuration may name: files, code and the network. Decided by whoever runs the backend.

A configuration names files the process reads (`models.*.path`, `models.sam.checkpoint`), may ask for hub
downloads (`allow_network`) and, through `models.sam.builder` ("package.module:function"), names a function the
process imports and calls. So a configuration is only as trustworthy as the person who wrote it, and the process
that runs it states how far it trusts configurations with a `ModelPolicy`:

- `model_root`: every model path must resolve (`..` and symlinks followed) inside this folder; None: anywhere;
- `root_required`: refuse every configuration while `model_root` is None (the server in production);
- `allow_network`: False refuses a configuration with `allow_network: true`;
- `allow_custom_builders`: False (the default) refuses a builder outside the `ml_backend` package, before
  anything is imported; ml_backend's own builders (`ml_backend.<module>:build_*`) are always allowed;
- `model_cache_bytes`: the budget of the process model cache (`registry.ModelCache`), None: left as it is.

`ml_backend` never reads the server's settings: the server builds its policy from them (AVS_MODEL_ROOT,
AVS_MODEL_ALLOW_NETWORK, AVS_MODEL_ALLOW_CUSTOM_BUILDERS, AVS_MODEL_CACHE_BYTES; the messages below name
those settings) and installs it for its processes with `set_policy_provider`. Without one, `current_policy()`
is `ModelPolicy()`: any path and the network as the configuration says (the operator runs the CLI on their own
files), ml_backend's own builders only. Torch-free: the web process checks configurations with it.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ml_backend.foundation.config import BackendConfig, ConfigError

ROOT_SETTING = "AVS_MODEL_ROOT"
NETWORK_SETTING = "AVS_MODEL_ALLOW_NETWORK"
BUILDERS_SETTING = "AVS_MODEL_ALLOW_CUSTOM_BUILDERS"
INTERNAL_PACKAGE = "ml_backend"

_BUILDER = re.compile(r"^(?P<module>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):(?P<attr>[A-Za-z_]\w*)$")


class ConfigPolicyError(ConfigError):
    """The configuration is valid but names something this process's policy refuses (a file outside the model
    folder, a builder outside ml_backend, the network). The message names the setting and what would allow it."""


def builder_refusal(spec: str, *, allow_custom: bool) -> str | None:
    """Why `spec` ("package.module:function") may not be imported and called, or None when it may.

    Checked before anything is imported. ml_backend's own builders are public `build_*` functions of modules inside
    the `ml_backend` package (never a `__main__`); anything else needs `allow_custom`.
    """
    match = _BUILDER.match(spec)
    if match is None:
        return f"expected 'package.module:function', got {spec!r}"
    if allow_custom:
        return None
    parts = match["module"].split(".")
    internal = parts[0] == INTERNAL_PACKAGE and len(parts) > 1 and "__main__" not in parts
    if internal and match["attr"].startswith("build_"):
        return None
    return (
        "refused: a builder outside ml_backend's own build_* functions would run arbitrary code in this process; "
        f"only an administrator can allow custom builders ({BUILDERS_SETTING}=true)"
    )


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


@dataclass(frozen=True)
class ModelPolicy:
    """How far this process trusts model configurations (see the module docstring)."""

    model_root: str | None = None
    root_required: bool = False
    allow_network: bool = True
    allow_custom_builders: bool = False
    model_cache_bytes: int | None = None

    def check(self, config: BackendConfig) -> None:
        """Raise `ConfigPolicyError` (message: "<source>: <setting> = '<value>': refused: ...") when `config`
        names anything this policy refuses; the first problem found is reported."""
        problem = self.problem(config)
        if problem is not None:
            raise ConfigPolicyError(f"{config.source or 'the configuration'}: {problem}")

    def problem(self, config: BackendConfig) -> str | None:
        if config.allow_network and not self.allow_network:
            return (
                "allow_network = true: refused: downloading models from a hub is not allowed here "
                f"(an administrator can allow it with {NETWORK_SETTING}=true); point the model paths at local folders"
            )
        builder = config.models.sam.builder if config.models.sam is not None else None
        if builder is not None:
            refusal = builder_refusal(builder, allow_custom=self.allow_custom_builders)
            if refusal is not None:
                return f"models.sam.builder = '{builder}': {refusal}"
        if self.model_root is None:
            if self.root_required:
                return (
                    f"refused: {ROOT_SETTING} is not set; it must name the folder that holds the model files, and "
                    "every model path of a configuration must lie inside it"
                )
            return None
        root = os.path.realpath(self.model_root)
        for setting, value in model_paths(config):
            if not os.path.isabs(value):  # a hub id: kept as given only with allow_network (checked above)
                continue
            resolved = os.path.realpath(value)
            if not _inside(resolved, root):
                shown = "" if resolved == value else f" (it resolves to {resolved})"
                return f"{setting} = '{value}': refused: model files must lie inside {ROOT_SETTING} ({root}){shown}"
        return None


def model_paths(config: BackendConfig) -> list[tuple[str, str]]:
    """(dotted setting, value) of every model file or folder `config` names."""
    models = config.models
    found = [("models.clap.path", models.clap.path)]
    if models.grounding is not None:
        found.append(("models.grounding.path", models.grounding.path))
    if models.sam is not None:
        found.append(("models.sam.checkpoint", models.sam.checkpoint))
    if models.segmenter is not None:
        found.append(("models.segmenter.path", models.segmenter.path))
    if models.llm is not None:
        found.append(("models.llm.path", models.llm.path))
    if models.clip is not None:
        found.append(("models.clip.path", models.clip.path))
    if models.tracker is not None:
        found.append(("models.tracker.path", models.tracker.path))
    return found


# --- the process's policy ------------------------------------------------------------------------------------

PolicyProvider = Callable[[], ModelPolicy]
_provider: PolicyProvider | None = None
_provider_lock = threading.Lock()


def set_policy_provider(provider: PolicyProvider | None) -> None:
    """Install what `current_policy()` returns from now on in this process (None: `ModelPolicy()`).

    A provider is called at every use, so a server's policy follows its settings (and tests' overrides of them).
    """
    global _provider
    with _provider_lock:
        _provider = provider


def current_policy() -> ModelPolicy:
    """The policy the `ml_backend.serving` entry points apply when they are not given one."""
    provider = _provider
    return provider() if provider is not None else ModelPolicy()
