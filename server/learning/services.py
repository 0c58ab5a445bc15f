"""Model versions (a proposer or student is identified by the SHA-256 of its canonical JSON config) and
per-clip acquisition scores."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from django.db import transaction

from server.core.errors import ApplicationError, ConflictError
from server.learning.models import AcquisitionScore, ModelVersion
from server.media.models import Clip, Project


def model_version_config_hash(*, config: dict[str, Any]) -> str:
    """SHA-256 hex of `json.dumps(config, sort_keys=True, separators=(",", ":"))` (ASCII-escaped)."""
    try:
        canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ApplicationError(f"config must be plain JSON: {exc}.", {"field": "config"}) from exc
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@transaction.atomic
def model_version_get_or_create(
    *, project: Project, kind: str, name: str, config: dict[str, Any], checkpoint_path: str = ""
) -> tuple[ModelVersion, bool]:
    """The project's model version with this config, created if new; returns `(version, created)`.

    The same config again returns the existing version unchanged (its name is kept). The same
    config with another kind or checkpoint would be a different model under one identity: that is
    refused (409) — put what distinguishes them (e.g. the training round) into the config.
    """
    if kind not in ModelVersion.Kind.values:
        allowed = ", ".join(ModelVersion.Kind.values)
        raise ApplicationError(f"kind must be one of {allowed}, not {kind}.", {"field": "kind"})
    if not isinstance(config, dict):
        raise ApplicationError("config must be a JSON object.", {"field": "config"})
    name = name.strip()
    if not name:
        raise ApplicationError("name must not be empty.", {"field": "name"})
    config_hash = model_version_config_hash(config=config)
    version, created = ModelVersion.objects.get_or_create(
        project=project,
        config_hash=config_hash,
        defaults={"kind": kind, "name": name, "config": config, "checkpoint_path": checkpoint_path},
    )
    if not created and (version.kind, version.checkpoint_path) != (kind, checkpoint_path):
        raise ConflictError(
            f"Model version {version.pk} ({version}) already has this config with "
            f"kind {version.kind} and checkpoint '{version.checkpoint_path}'; "
            "a different model needs a different config.",
            {"model_version": version.pk, "config_hash": config_hash},
        )
    return version, created


def acquisition_score_record(
    *, clip: Clip, score: float, model_version: ModelVersion | None = None
) -> AcquisitionScore:
    """Record a clip's acquisition score (higher: more informative to label; the latest one counts).

    `model_version`, when given, must belong to the clip's project. Raises ApplicationError for a score that
    is not a finite number or a model version of another project.
    """
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        raise ApplicationError(f"score must be a finite number, not {score!r}.", {"field": "score"})
    if model_version is not None and model_version.project_id != clip.project_id:
        raise ApplicationError(
            f"Model version {model_version.pk} belongs to another project than clip {clip.pk}.",
            {"field": "model_version"},
        )
    return AcquisitionScore.objects.create(clip=clip, model_version=model_version, score=float(score))
