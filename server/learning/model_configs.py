"""The model configurations an administrator may choose for a project: JSON files in the model folder.

Which files count (`model_config_list`): `*.json` directly in AVS_MODEL_ROOT or one folder down
(`ROOT/tiny.json`, `ROOT/openavs/config.json`, the layout `python -m ml_backend models fetch --out ROOT/openavs`
writes), holding a JSON object with a "models" section (other JSON files there, such as a fetch's
`downloads.json`, are not configurations), at most CONFIG_MAX_BYTES each and MAX_CONFIGS in all. Hidden entries are
skipped and symlinked folders are not entered. Each is read by the ML backend's loader under the server's model
policy (`server.learning.model_policy`: model files inside AVS_MODEL_ROOT, no hub downloads, no custom SAM
builders unless allowed), torch-free, and shown with what it would run (`kind`, `name`, `reason`, as the project's
`proposer`) or why it cannot be used.

A choice (`model_config_choose`, administrators) names a configuration by its path relative to the folder, as
listed: absolute paths, `..`, backslashes, deeper files, links that resolve outside the folder and configurations
the loader or the policy refuses get 400 with the reason, and the project keeps its configuration. `""` goes back
to the server's default (AVS_MODEL_CONFIG). The project's `model_config` then holds the file's absolute path, as
when an administrator sets it with `PATCH /api/projects/{id}/`.

Torch-free: the web process imports this module.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from server.core.errors import ApplicationError
from server.media.models import Project

CONFIG_MAX_BYTES = 1024 * 1024  # a configuration is a few hundred bytes; larger JSON files are model files
MAX_CONFIGS = 200
MAX_SCANNED = 2000  # folder entries looked at, at most (a model folder holds a few sets, each a few files)
FIELD = "config"


@dataclass(frozen=True)
class ModelConfigEntry:
    """One configuration file in the model folder: `config` its path relative to the folder ("/"-separated),
    `path` its absolute path, `proposer` what it would run (`{kind, name, reason}`), or `error` why it cannot."""

    config: str
    path: str
    proposer: dict[str, Any] | None
    error: str | None


def model_root() -> str | None:
    """AVS_MODEL_ROOT with symlinks resolved; None when it is not set."""
    root = (settings.AVS_MODEL_ROOT or "").strip()
    return os.path.realpath(root) if root else None


def _inside(root: str, path: str) -> bool:
    return os.path.commonpath([root, os.path.realpath(path)]) == root


def _read_configuration(path: str) -> tuple[bool, str | None]:
    """(is a configuration, problem): whether the file holds a JSON object with a "models" section; a file that
    is not valid JSON counts as a (broken) configuration, with the problem."""
    try:
        if os.path.getsize(path) > CONFIG_MAX_BYTES:
            return False, None
        with open(path, encoding="utf-8") as handle:
            text = handle.read(CONFIG_MAX_BYTES + 1)
    except (OSError, UnicodeDecodeError) as exc:
        return True, f"{path}: the configuration file cannot be read ({getattr(exc, 'strerror', None) or exc})"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return True, f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
    return isinstance(data, dict) and "models" in data, None


def _proposer_of(path: str) -> tuple[dict[str, Any] | None, str | None]:
    """What the configuration file at `path` would run, or the loader's or the policy's reason it cannot."""
    from ml_backend.serving import ConfigError
    from server.annotations.preannotation import _model_info

    try:
        info = _model_info(path)
    except ConfigError as exc:
        return None, str(exc)
    return {"kind": info["kind"], "name": info["name"], "reason": info["reason"]}, None


def _candidates(root: str) -> tuple[list[str], bool]:
    """Relative paths of the `*.json` files in `root` and its (non-link) subfolders, sorted; True when cut short."""
    found: list[str] = []
    scanned = 0
    truncated = False

    def entries(folder: str) -> list[os.DirEntry[str]]:
        nonlocal scanned, truncated
        try:
            with os.scandir(folder) as listing:
                items = []
                for entry in listing:
                    scanned += 1
                    if scanned > MAX_SCANNED:
                        truncated = True
                        break
                    if not entry.name.startswith("."):
                        items.append(entry)
        except OSError:
            return []
        return sorted(items, key=lambda e: e.name)

    top = entries(root)
    for entry in top:
        if entry.name.endswith(".json") and entry.is_file():
            found.append(entry.name)
    for entry in top:
        if entry.is_dir(follow_symlinks=False):
            found.extend(
                f"{entry.name}/{inner.name}"
                for inner in entries(entry.path)
                if inner.name.endswith(".json") and inner.is_file()
            )
    return found, truncated


def model_config_list() -> tuple[list[ModelConfigEntry], bool]:
    """The configurations in the model folder (see the module docstring) and whether the list was cut short."""
    root = model_root()
    if root is None:
        return [], False
    entries: list[ModelConfigEntry] = []
    names, truncated = _candidates(root)
    for name in names:
        path = os.path.join(root, name)
        if not _inside(root, path):
            entries.append(
                ModelConfigEntry(
                    config=name,
                    path=path,
                    proposer=None,
                    error=f"{path} resolves to {os.path.realpath(path)}, outside AVS_MODEL_ROOT ({root}): it "
                    "cannot be chosen.",
                )
            )
        else:
            is_config, problem = _read_configuration(path)
            if not is_config:
                continue
            proposer, error = (None, problem) if problem else _proposer_of(path)
            entries.append(ModelConfigEntry(config=name, path=path, proposer=proposer, error=error))
        if len(entries) >= MAX_CONFIGS:
            truncated = True
            break
    return entries, truncated


def model_config_resolve(*, config: str) -> str:
    """The absolute path of the configuration `config` names (a path relative to the model folder, as listed);
    "" for the server's default. ApplicationError (400, naming the problem) for anything that is not a usable
    configuration inside the folder: nothing outside it is ever read."""
    config = config.strip()
    if not config:
        return ""
    root = model_root()
    if root is None:
        raise ApplicationError(
            "AVS_MODEL_ROOT is not set: there is no model folder to choose a configuration from. It must name the "
            "folder that holds the model files and configurations on the servers.",
            {"field": FIELD},
        )
    parts = config.split("/")
    if (
        "\x00" in config
        or "\\" in config
        or os.path.isabs(config)
        or any(part in ("", ".", "..") for part in parts)
        or len(parts) > 2
        or not config.endswith(".json")
    ):
        raise ApplicationError(
            f"'{config}' is not a configuration of the model folder: give its name as listed (a .json file in "
            "AVS_MODEL_ROOT or one folder down, relative to it, without '..').",
            {"field": FIELD},
        )
    path = os.path.join(root, *parts)
    if not _inside(root, path):
        raise ApplicationError(
            f"'{config}' resolves to {os.path.realpath(path)}, outside AVS_MODEL_ROOT ({root}): it cannot be chosen.",
            {"field": FIELD, "model_root": root},
        )
    if len(parts) == 2 and os.path.islink(os.path.join(root, parts[0])):
        raise ApplicationError(
            f"'{config}' lies in a linked folder, which the model folder's list does not enter: choose it by its "
            "real place.",
            {"field": FIELD},
        )
    if not os.path.isfile(path):
        raise ApplicationError(f"There is no configuration '{config}' in the model folder.", {"field": FIELD})
    is_config, problem = _read_configuration(path)
    if problem:
        raise ApplicationError(f"'{config}' cannot be used: {problem}", {"field": FIELD})
    if not is_config:
        raise ApplicationError(
            f"'{config}' is not a model configuration (a JSON object with a \"models\" section, at most "
            f"{CONFIG_MAX_BYTES} bytes).",
            {"field": FIELD},
        )
    _, error = _proposer_of(path)
    if error:
        raise ApplicationError(f"'{config}' cannot be used: {error}", {"field": FIELD})
    return path


def model_config_name(*, path: str) -> str | None:
    """The listed name (relative path) of a project's `model_config`; None when it is not in the model folder's
    list (unset, elsewhere, or deeper)."""
    root = model_root()
    if not path or root is None:
        return None
    relative = os.path.relpath(os.path.normpath(path), root)
    parts = relative.split(os.sep)
    if relative.startswith("..") or len(parts) > 2 or not relative.endswith(".json"):
        return None
    return "/".join(parts)


def model_config_default_proposer() -> dict[str, Any]:
    """What the server's default configuration (AVS_MODEL_CONFIG) would run, for a project without its own."""
    from server.annotations.preannotation import NOT_CONFIGURED, SETTING, _baseline

    path = (settings.AVS_MODEL_CONFIG or "").strip()
    if not path:
        info = _baseline(NOT_CONFIGURED)
        return {"kind": info["kind"], "name": info["name"], "reason": info["reason"]}
    proposer, error = _proposer_of(path)
    if proposer is not None:
        return proposer
    info = _baseline(f"the model configuration cannot be used: {error} (fix the file or {SETTING})")
    return {"kind": info["kind"], "name": info["name"], "reason": info["reason"]}


def model_config_preview(*, project: Project, config: str) -> dict[str, Any]:
    """What pre-annotating `project` would run with `config` chosen (nothing is saved): `{config, model_config,
    proposer: {kind, name, reason}, note}`. `note` says when the proposer chosen in the project's learning
    settings runs first. Raises ApplicationError (400) as `model_config_resolve`."""
    from server.annotations.preannotation import project_proposer
    from server.learning.selectors import learning_settings_of

    path = model_config_resolve(config=config)
    trial = copy.copy(project)  # never saved: project_proposer reads model_config from it
    trial.model_config = path
    proposer = project_proposer(project=trial)
    chosen = learning_settings_of(project_id=project.pk).proposer
    note = None
    if chosen is not None:
        note = (
            f"The proposer chosen in the learning settings ({chosen.name}) runs first while it can; this "
            "configuration is used when it cannot, or once that choice is rolled back."
        )
    return {"config": config.strip(), "model_config": path, "proposer": proposer, "note": note}


def model_config_choose(*, project: Project, config: str) -> Project:
    """Set the project's model configuration to `config` (see `model_config_resolve`; "" for the server's
    default). Administrators only: the API checks the role."""
    from server.accounts.services import project_update

    path = model_config_resolve(config=config)
    return project_update(project=project, data={"model_config": path})
