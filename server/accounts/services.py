"""Writes for API tokens, projects, memberships and label vocabularies.

Who may create a project is decided by the API (`server.accounts.selectors.project_create_allowed`);
`project_create` itself serves administrators' tools (seed_demo, benchmarks) too.

A project always keeps at least one manager: the last manager can be neither demoted nor removed.
Label names are unique per project case-insensitively ("Dog" and "dog" are one label).
"""

from __future__ import annotations

import os
import re
from typing import Any, TypedDict

from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from rest_framework.authtoken.models import Token

from server.accounts.authentication import token_expired
from server.accounts.login_guard import login_lockout_check, login_success_record
from server.accounts.models import Membership, Role
from server.annotations.services import LABEL_PALETTE
from server.core.errors import ApplicationError
from server.media.models import Label, Project
from server.media.services import clip_delete

PROJECT_SETTINGS = ("name", "description", "fps", "frame_max_side", "audio_sample_rate", "model_config")
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


class LabelSpec(TypedDict, total=False):
    name: str
    color: str | None


# --- tokens ------------------------------------------------------------------------------------


def _user_authenticate(*, username: str, password: str, request: HttpRequest | None) -> AbstractBaseUser:
    """The active user with these credentials; TooManyRequestsError (429) while the username or the client
    is locked out after failed attempts (checked first: see `server.accounts.login_guard`), else
    ApplicationError (400) for wrong credentials. Failures are counted by the `user_login_failed` signal."""
    login_lockout_check(request=request, username=username)
    user = authenticate(request, username=username, password=password)
    if user is None:
        raise ApplicationError("Unable to log in with this username and password.")
    return user


@transaction.atomic
def auth_token_obtain(*, username: str, password: str, request: HttpRequest | None = None) -> Token:
    """The user's API token for valid credentials of an active user: the one they have, or a new key when
    they have none yet or theirs has expired (AVS_TOKEN_TTL_SECONDS)."""
    user = _user_authenticate(username=username, password=password, request=request)
    login_success_record(username=user.get_username())
    token = Token.objects.select_for_update().filter(user=user).first()
    if token is not None and token_expired(token=token):
        token.delete()
        token = None
    if token is None:
        token, _ = Token.objects.get_or_create(user=user)
    return token


def auth_token_revoke(*, user: AbstractBaseUser) -> bool:
    """Delete the user's API token (each user has one): every client using it gets 401 from now on, and
    the next POST /api/auth/token/ issues a new key. Sessions are not touched. False if there was none."""
    deleted, _ = Token.objects.filter(user_id=user.pk).delete()
    return deleted > 0


def auth_session_login(*, request: HttpRequest, username: str, password: str) -> AbstractBaseUser:
    """Sign an active user in with a session cookie (the web app's auth); returns the user.

    Django rotates the session key and the CSRF token on login. Raises ApplicationError (400) for wrong
    credentials or an inactive user, with the same message as the token endpoint, and TooManyRequestsError
    (429) during a lockout after failed attempts.
    """
    user = _user_authenticate(username=username, password=password, request=request)
    login(request, user)
    return user


def auth_session_logout(*, request: HttpRequest) -> None:
    """End the request's session (a no-op without one). API tokens stay valid."""
    logout(request)


# --- projects ----------------------------------------------------------------------------------


def _project_name_clean(*, name: str, exclude_id: int | None = None) -> str:
    name = name.strip()
    if not name:
        raise ApplicationError("The project needs a name.", {"field": "name"})
    clash = Project.objects.filter(name__iexact=name).exclude(pk=exclude_id).first()
    if clash is not None:
        raise ApplicationError(f"A project named '{clash.name}' already exists.", {"field": "name"})
    return name


def _project_save(*, project: Project, update_fields: list[str] | None = None) -> None:
    project.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            project.save(update_fields=update_fields)
    except IntegrityError:  # lost a race for the name
        raise ApplicationError(f"A project named '{project.name}' already exists.", {"field": "name"}) from None


@transaction.atomic
def project_create(
    *,
    user: AbstractBaseUser,
    name: str,
    description: str = "",
    fps: float | None = None,
    frame_max_side: int | None = None,
    audio_sample_rate: int | None = None,
    labels: list[LabelSpec] | None = None,
) -> Project:
    """Create a project; its creator becomes its manager. `labels` seed the vocabulary ({name, color?})."""
    project = Project(name=_project_name_clean(name=name), description=description, created_by=user)
    for field, value in (("fps", fps), ("frame_max_side", frame_max_side), ("audio_sample_rate", audio_sample_rate)):
        if value is not None:
            setattr(project, field, value)
    _project_save(project=project)
    Membership.objects.create(project=project, user=user, role=Role.MANAGER)
    for spec in labels or []:
        label_create(project=project, name=spec["name"], color=spec.get("color"))
    return project


def project_update(*, project: Project, data: dict[str, Any]) -> Project:
    """Change the project's settings (any of `PROJECT_SETTINGS`).

    A new fps, frame size or sample rate applies to clips ingested from now on; each clip keeps
    the rate it was decoded at (`Clip.fps`).
    """
    unknown = set(data) - set(PROJECT_SETTINGS)
    if unknown:
        raise ApplicationError(f"These project settings cannot be changed: {', '.join(sorted(unknown))}.")
    if "name" in data:
        data = {**data, "name": _project_name_clean(name=data["name"], exclude_id=project.pk)}
    if "model_config" in data:
        path = data["model_config"].strip()
        if path and not os.path.isabs(path):
            raise ApplicationError(
                "model_config must be an absolute path (the workers and the web server resolve it alike).",
                {"field": "model_config"},
            )
        if path:
            from server.learning.model_policy import model_config_path_check

            model_config_path_check(path=path)  # inside AVS_MODEL_ROOT, symlinks followed
        data = {**data, "model_config": path}
    for field, value in data.items():
        setattr(project, field, value)
    if data:
        _project_save(project=project, update_fields=[*data, "updated_at"])
    return project


@transaction.atomic
def project_delete(*, project: Project) -> None:
    """Delete the project with every row that belongs to it; its clips' files go once this commits."""
    for clip in project.clips.all():
        clip_delete(clip=clip)
    project.delete()


# --- memberships -------------------------------------------------------------------------------


def membership_add(*, project: Project, user: AbstractBaseUser, role: str) -> Membership:
    if role not in Role.values:
        raise ApplicationError(f"Unknown role '{role}': use one of {', '.join(Role.values)}.", {"field": "role"})
    existing = Membership.objects.filter(project=project, user_id=user.pk).first()
    if existing is not None:
        raise ApplicationError(
            f"{user.get_username()} is already a member of this project (as {existing.role}).",
            {"user_id": user.pk, "role": existing.role},
        )
    try:
        with transaction.atomic():
            return Membership.objects.create(project=project, user=user, role=role)
    except IntegrityError:
        raise ApplicationError(f"{user.get_username()} is already a member of this project.") from None


def _managers_locked(*, project_id: int) -> list[int]:
    """Ids of the project's manager memberships, locked until the transaction ends (PostgreSQL)."""
    return list(
        Membership.objects.select_for_update()
        .filter(project_id=project_id, role=Role.MANAGER)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _last_manager_guard(*, membership: Membership, action: str) -> None:
    managers = _managers_locked(project_id=membership.project_id)
    if managers == [membership.pk]:
        raise ApplicationError(
            f"Cannot {action} the project's last manager: make another member a manager first.",
            {"user_id": membership.user_id},
        )


@transaction.atomic
def membership_role_update(*, membership: Membership, role: str) -> Membership:
    if role not in Role.values:
        raise ApplicationError(f"Unknown role '{role}': use one of {', '.join(Role.values)}.", {"field": "role"})
    if role != Role.MANAGER:
        _last_manager_guard(membership=membership, action="demote")
    membership.role = role
    membership.save(update_fields=["role", "updated_at"])
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    _last_manager_guard(membership=membership, action="remove")
    membership.delete()


# --- labels ------------------------------------------------------------------------------------


def _label_name_clean(*, project_id: int, name: str, exclude_id: int | None = None) -> str:
    name = name.strip()
    if not name:
        raise ApplicationError("A label needs a name.", {"field": "name"})
    max_length = Label._meta.get_field("name").max_length
    if max_length is not None and len(name) > max_length:
        raise ApplicationError(f"A label name has at most {max_length} characters.", {"field": "name"})
    clash = Label.objects.filter(project_id=project_id, name__iexact=name).exclude(pk=exclude_id).first()
    if clash is not None:
        raise ApplicationError(
            f"A label named '{clash.name}' already exists in this project.", {"field": "name", "label_id": clash.pk}
        )
    return name


def _label_color_clean(color: str) -> str:
    if not COLOR_RE.match(color):
        raise ApplicationError(f"Colour must look like #RRGGBB, got '{color}'.", {"field": "color"})
    return color.lower()


def label_color_next(*, project_id: int) -> str:
    """The first palette colour the project's labels do not use yet (cycling once all are taken)."""
    colors = list(Label.objects.filter(project_id=project_id).values_list("color", flat=True))
    used = {color.lower() for color in colors}
    for color in LABEL_PALETTE:
        if color not in used:
            return color
    return LABEL_PALETTE[len(colors) % len(LABEL_PALETTE)]


def _label_save(*, label: Label) -> None:
    try:
        with transaction.atomic():
            label.save()
    except IntegrityError:
        raise ApplicationError(f"A label named '{label.name}' already exists in this project.") from None


def label_create(*, project: Project, name: str, color: str | None = None) -> Label:
    """Add a label to the project's vocabulary; without `color`, the next unused palette colour."""
    name = _label_name_clean(project_id=project.pk, name=name)
    color = _label_color_clean(color) if color else label_color_next(project_id=project.pk)
    label = Label(project=project, name=name, color=color)
    _label_save(label=label)
    return label


def label_update(*, label: Label, name: str | None = None, color: str | None = None) -> Label:
    """Rename or recolour a label. Stored annotations keep the label names they were saved with."""
    if name is not None:
        label.name = _label_name_clean(project_id=label.project_id, name=name, exclude_id=label.pk)
    if color is not None:
        label.color = _label_color_clean(color)
    _label_save(label=label)
    return label


def label_delete(*, label: Label) -> None:
    label.delete()
