"""Model versions (a proposer or student is identified by the SHA-256 of its canonical JSON config) and
per-clip acquisition scores."""

from __future__ import annotations

import hashlib
import json
import logging
import math
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from server.core.errors import ApplicationError, ConflictError, PermissionDeniedError

# Acquisition (scoring clips, rescoring the pool after a round, the strategy): `server.learning.acquisition`.
from server.learning.acquisition import acquisition_score_store
from server.learning.acquisition import acquisition_strategy_update as acquisition_strategy_update
from server.learning.acquisition import clip_acquisition_refresh as clip_acquisition_refresh
from server.learning.acquisition import clip_score_acquisition as clip_score_acquisition
from server.learning.acquisition import project_rescore_pool as project_rescore_pool
from server.learning.model_policy import config_names_code_or_files, model_config_check
from server.learning.models import AcquisitionScore, LearningSettings, ModelVersion, ProposerChange, TrainingRound
from server.media.models import Clip, Project

logger = logging.getLogger(__name__)


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


def model_version_register(
    *,
    project: Project,
    user: AbstractBaseUser,
    kind: str,
    name: str,
    config: dict[str, Any],
    checkpoint_path: str = "",
) -> tuple[ModelVersion, bool]:
    """`model_version_get_or_create` for a person (the API): a config that names code or files (every OpenAVS
    configuration, paths, builders, a checkpoint; see `server.learning.model_policy`) takes an administrator
    (PermissionDeniedError, 403, naming where), and an OpenAVS configuration must pass the model policy
    (AVS_MODEL_ROOT, AVS_MODEL_ALLOW_NETWORK, AVS_MODEL_ALLOW_CUSTOM_BUILDERS; ApplicationError, 400). Nothing the
    config names is read, imported or loaded here."""
    names = config_names_code_or_files(kind=kind, config=config, checkpoint_path=checkpoint_path)
    if names and not user.is_superuser:
        raise PermissionDeniedError(
            "Only administrators can register a model version whose config names code or files on the servers "
            f"({', '.join(names[:5])}).",
            {"field": "config", "names": names},
        )
    if kind == ModelVersion.Kind.OPENAVS:
        if not isinstance(config, dict):
            raise ApplicationError("config must be a JSON object.", {"field": "config"})
        model_config_check(config=config)
    return model_version_get_or_create(
        project=project, kind=kind, name=name, config=config, checkpoint_path=checkpoint_path
    )


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
    return acquisition_score_store(clip=clip, model_version=model_version, score=float(score))


# --- self-training: settings, the proposer, the automatic trigger -------------------------------------------

SPLIT_FIELDS = ("heldout_fraction", "split_seed")
HELDOUT_FRACTION_MAX = 0.9


def learning_settings_update(*, project: Project, data: dict[str, Any]) -> LearningSettings:
    """Change a project's learning settings (the keys of `data` among heldout_fraction, split_seed, student_kind,
    student_config, auto_round_after).

    `student_config` (with `student_kind`) is checked as the ML backend checks a round's settings: ApplicationError
    naming the setting ("student_config.epochs must be a positive integer, got 0."), nothing saved.
    Raises ApplicationError (400) for a value out of range, ConflictError (409) for a change of the split
    (heldout_fraction, split_seed) once a training round has started: later rounds would be judged on other clips
    than earlier ones, and clips they held out could have been trained on.
    """
    from server.learning.selectors import project_rounds_ran
    from server.learning.training import _plain_config, student_settings_check

    allowed = {"heldout_fraction", "split_seed", "student_kind", "student_config", "auto_round_after"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ApplicationError(f"Unknown setting: {unknown[0]}.", {"field": unknown[0]})
    with transaction.atomic():
        LearningSettings.objects.get_or_create(project=project)
        current = LearningSettings.objects.select_for_update().get(project=project)
        changed = [key for key in data if getattr(current, key) != data[key]]
        split_changes = [key for key in changed if key in SPLIT_FIELDS]
        if split_changes and project_rounds_ran(project_id=project.pk):
            raise ConflictError(
                f"The split cannot change any more ({', '.join(split_changes)}): training rounds of this project were "
                "trained and judged on it, and a new split would train on clips they held out. Create a new project "
                "to use another split.",
                {"field": split_changes[0]},
            )
        if "heldout_fraction" in data:
            fraction = data["heldout_fraction"]
            if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not math.isfinite(fraction):
                raise ApplicationError("heldout_fraction must be a number.", {"field": "heldout_fraction"})
            if not 0.0 <= fraction <= HELDOUT_FRACTION_MAX:
                raise ApplicationError(
                    f"heldout_fraction must be between 0 and {HELDOUT_FRACTION_MAX}, not {fraction}.",
                    {"field": "heldout_fraction"},
                )
        if "student_kind" in data and data["student_kind"] not in LearningSettings.StudentKind.values:
            kinds = ", ".join(LearningSettings.StudentKind.values)
            raise ApplicationError(f"student_kind must be one of {kinds}.", {"field": "student_kind"})
        if "student_config" in data:
            data = {**data, "student_config": _plain_config(data["student_config"], field="student_config")}
            _check_thresholds(data["student_config"])
        if "student_kind" in data or "student_config" in data:
            # Every setting, merged over the student's defaults as a round builds them, so a round cannot fail on it.
            student_settings_check(
                kind=data.get("student_kind", current.student_kind),
                settings=data.get("student_config", current.student_config),
                field="student_config" if "student_config" in data else "student_kind",
                prefix="student_config",
            )
        for key in changed:
            setattr(current, key, data[key])
        if changed:
            current.save()
    return current


def _check_thresholds(config: dict[str, Any]) -> None:
    """The pseudo-label band and the mask threshold, with messages that say why (checked before every other setting,
    `student_settings_check`)."""
    for key in ("pseudo_low", "pseudo_high", "threshold"):
        if key in config:
            value = config[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ApplicationError(
                    f"student_config.{key} must be a number between 0 and 1, not {value!r}.",
                    {"field": "student_config"},
                )
    low, high = config.get("pseudo_low"), config.get("pseudo_high")
    if low is not None and high is not None and not low < high:
        raise ApplicationError(
            f"student_config.pseudo_low ({low}) must be below student_config.pseudo_high ({high}): pixels whose "
            "probability lies between them are left out of the loss.",
            {"field": "student_config"},
        )


def project_proposer_set(
    *,
    project: Project,
    model_version: ModelVersion | None,
    user: AbstractBaseUser | None,
    action: str,
    reason: str = "",
) -> ProposerChange:
    """Make `model_version` (None: the configured proposer) the project's proposer and record the change.

    A version must belong to the project; a student must have its saved model in media storage, an OpenAVS
    version must pass the server's model policy (ApplicationError, 400, naming why it cannot run)."""
    if model_version is not None:
        if model_version.project_id != project.pk:
            raise ApplicationError(
                f"Model version {model_version.pk} is not a model version of this project.", {"field": "model_version"}
            )
        from server.annotations.preannotation import proposer_spec

        spec = proposer_spec(project=project, model_version=model_version)  # raises when it cannot run
        spec.cleanup()
    with transaction.atomic():
        LearningSettings.objects.get_or_create(project=project)
        current = LearningSettings.objects.select_for_update().get(project=project)
        previous = current.proposer
        current.proposer = model_version
        current.save(update_fields=["proposer", "updated_at"])
        return ProposerChange.objects.create(
            project=project,
            action=action,
            model_version=model_version,
            previous=previous,
            changed_by=user,
            reason=reason,
        )


def model_version_promote(*, model_version: ModelVersion, user: AbstractBaseUser) -> ProposerChange:
    """A manager makes one of the project's model versions its proposer (see `project_proposer_set`)."""
    return project_proposer_set(
        project=model_version.project,
        model_version=model_version,
        user=user,
        action=ProposerChange.Action.PROMOTE,
        reason=f"Promoted by {user.get_username()}.",
    )


def project_proposer_rollback(
    *, project: Project, user: AbstractBaseUser, model_version_id: int | None = None, to_configured: bool = False
) -> ProposerChange:
    """Put back an earlier proposer: `model_version_id`, or the configured proposer with `to_configured`, or by
    default the one the current proposer replaced. Raises ApplicationError (400) when the project's proposer never
    changed, or for a version that was never its proposer."""
    from server.learning.selectors import learning_settings_of

    current = learning_settings_of(project_id=project.pk).proposer
    history = ProposerChange.objects.filter(project=project)
    if to_configured:
        target = None
    elif model_version_id is not None:
        target = ModelVersion.objects.filter(pk=model_version_id, project=project).first()
        was_proposer = (
            history.filter(model_version_id=model_version_id).exists()
            or history.filter(previous_id=model_version_id).exists()
        )
        if target is None or not was_proposer:
            raise ApplicationError(
                f"Model version {model_version_id} was never this project's proposer: promote it instead.",
                {"field": "model_version"},
            )
    else:
        last = history.filter(model_version=current).order_by("-created_at", "-id").first() if current else None
        if last is None:
            raise ApplicationError(
                "The project's proposer was never changed: nothing to roll back to.", {"field": "model_version"}
            )
        target = last.previous
    if target is not None and current is not None and target.pk == current.pk:
        raise ApplicationError(f"Model version {target.pk} is the proposer already.", {"field": "model_version"})
    what = f"model version {target.pk} ({target.name})" if target else "the configured proposer"
    return project_proposer_set(
        project=project,
        model_version=target,
        user=user,
        action=ProposerChange.Action.ROLLBACK,
        reason=f"Rolled back to {what} by {user.get_username()}.",
    )


def training_round_auto_check(*, project_id: int) -> TrainingRound | None:
    """The automatic trigger, called once an annotation is accepted: start a round when the project's
    `auto_round_after` is set, at least that many annotations were accepted since its latest round, and no round is
    queued or running. Returns the round started, if any; never raises (an annotation's review must not fail
    because of it: problems are logged)."""
    from server.learning.selectors import accepted_since_last_round, learning_settings_of
    from server.learning.training import training_round_start

    try:
        threshold = learning_settings_of(project_id=project_id).auto_round_after
        if not threshold:
            return None
        if TrainingRound.objects.filter(project_id=project_id, status__in=TrainingRound.ACTIVE).exists():
            return None
        if accepted_since_last_round(project_id=project_id) < threshold:
            return None
        return training_round_start(
            project=Project.objects.get(pk=project_id), trigger=TrainingRound.Trigger.AUTO, user=None
        )
    except ConflictError:  # a round started meanwhile
        return None
    except Exception:
        logger.exception("the automatic training trigger of project %s failed", project_id)
        return None


# --- counters -------------------------------------------------------------------------------------------


def counters_rebuild(*, project_id: int | None = None) -> dict[str, int]:
    """Recompute every stored counter from the rows, for one project or all: the clips' (`num_frames`, proposal and
    annotation counts, latest acquisition score; see `server.media.models.Clip`), the projects' (clips per status,
    clips done, annotations per status) and the model versions' edit statistics. Writes keep them in step by
    themselves; this fills them after a bulk load or repairs them after rows were changed behind the services' back.
    One transaction; returns what was refreshed."""
    from server.annotations.services import (
        clip_annotation_counts_refresh,
        model_version_edit_stats_refresh,
        project_annotation_counts_refresh,
    )
    from server.media.services import clip_num_frames_refresh, project_clip_counts_refresh

    clips = Clip.objects.all() if project_id is None else Clip.objects.filter(project_id=project_id)
    versions = ModelVersion.objects.all() if project_id is None else ModelVersion.objects.filter(project_id=project_id)
    projects = Project.objects.all() if project_id is None else Project.objects.filter(pk=project_id)
    with transaction.atomic():
        clip_num_frames_refresh(clips=clips)
        clip_annotation_counts_refresh(clips=clips)
        done = clip_acquisition_refresh(clips=clips)
        model_versions = model_version_edit_stats_refresh(versions=versions)
        project_annotation_counts_refresh(projects=projects)
        project_ids = list(projects.values_list("pk", flat=True))
        for pk in project_ids:
            project_clip_counts_refresh(project_id=pk)
    return {"clips": done, "model_versions": model_versions, "projects": len(project_ids)}
