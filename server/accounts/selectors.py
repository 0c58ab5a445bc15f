"""Who may do what in which project. Non-members get 404 (a project's existence is not leaked);
members lacking the role get 403."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from server.accounts.models import Membership, Role
from server.core.errors import NotFoundError, PermissionDeniedError
from server.media.models import Project

ADMIN = "admin"  # the effective role of superusers


def membership_role(*, user: AbstractBaseUser | AnonymousUser, project_id: int) -> str | None:
    """The user's role in the project: a `Role` value, "admin" for superusers, None for outsiders."""
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return ADMIN
    return Membership.objects.filter(project_id=project_id, user_id=user.pk).values_list("role", flat=True).first()


def project_list_for_user(*, user: AbstractBaseUser) -> QuerySet[Project]:
    qs = Project.objects.all()
    if not user.is_superuser:
        qs = qs.filter(memberships__user_id=user.pk)
    return qs


def project_access(
    *, user: AbstractBaseUser | AnonymousUser, project_id: int, roles: Iterable[str] | None = None
) -> str:
    """Return the user's role in the project or raise.

    `roles=None` admits any member. Managers and admins pass every role check: a manager can do
    whatever annotators and reviewers can in their own project.
    """
    role = membership_role(user=user, project_id=project_id)
    if role is None or not Project.objects.filter(pk=project_id).exists():
        raise NotFoundError("Project not found.")
    if roles is None or role in (ADMIN, Role.MANAGER) or role in set(roles):
        return role
    allowed = ", ".join(sorted(set(roles) | {Role.MANAGER}))
    raise PermissionDeniedError(f"This needs one of the roles: {allowed}; you are {role}.", {"role": role})
