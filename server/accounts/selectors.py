"""Who may do what in which project. Non-members get 404 (a project's existence is not leaked);
members lacking the role get 403."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from server.accounts.models import Membership, Role
from server.core.errors import ApplicationError, NotFoundError, PermissionDeniedError
from server.media.models import Project

ADMIN = "admin"  # the effective role of superusers


def membership_role(*, user: AbstractBaseUser | AnonymousUser, project_id: int) -> str | None:
    """The user's role in the project: a `Role` value, "admin" for superusers, None for outsiders."""
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return ADMIN
    return Membership.objects.filter(project_id=project_id, user_id=user.pk).values_list("role", flat=True).first()


def project_create_allowed(*, user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whether the user may create projects (AVS_PROJECT_CREATORS).

    "staff" (the default): active staff users, superusers, and users granted the `media.add_project`
    permission ("Can add project"), directly or through a group, in the admin. "anyone": every signed-in user.
    """
    if not (user.is_authenticated and user.is_active):
        return False
    if settings.AVS_PROJECT_CREATORS == "anyone":
        return True
    return bool(user.is_staff or user.is_superuser or user.has_perm("media.add_project"))


def user_personal_data_visible(*, viewer: AbstractBaseUser | AnonymousUser | None, user: AbstractBaseUser) -> bool:
    """Whether `viewer` may see `user`'s email and full name: only the user themself and staff.

    Project managers add members by username or id and see members' usernames and roles only, so that
    neither adding an account nor listing members reveals anything the account holder did not choose to show.
    """
    if viewer is None or not viewer.is_authenticated:
        return False
    return bool(viewer.pk == user.pk or viewer.is_staff or viewer.is_superuser)


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


def worker_health_visible(*, user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whether the user may see the workers and queues (GET /api/workers/): admins (superusers, staff) and users who
    manage at least one project; the workers are shared by every project, so no project role is narrower."""
    if not (user.is_authenticated and user.is_active):
        return False
    if user.is_superuser or user.is_staff:
        return True
    return Membership.objects.filter(user_id=user.pk, role=Role.MANAGER).exists()


def membership_list(*, project_id: int) -> QuerySet[Membership]:
    """A project's members (with their users), in the order they joined."""
    return Membership.objects.filter(project_id=project_id).select_related("user").order_by("id")


def membership_get(*, project_id: int, user_id: int) -> Membership:
    membership = Membership.objects.select_related("user").filter(project_id=project_id, user_id=user_id).first()
    if membership is None:
        raise NotFoundError("This user is not a member of the project.", {"user_id": user_id})
    return membership


def user_membership_list(*, user: AbstractBaseUser) -> QuerySet[Membership]:
    """The user's memberships with their projects, by project name."""
    return Membership.objects.filter(user_id=user.pk).select_related("project").order_by("project__name")


def user_find(*, username: str | None = None, user_id: int | None = None) -> AbstractBaseUser:
    """The active user named `username` or with id `user_id`; a readable 400 when there is none.

    Only project managers reach this (adding a member), and what it tells them is whether the name exists,
    which a manager needs to correct a typo; nothing personal comes back (`user_personal_data_visible`).
    """
    User = get_user_model()
    if username:
        user = User.objects.filter(username=username, is_active=True).first()
        missing = f"There is no user named '{username}'."
    else:
        user = User.objects.filter(pk=user_id, is_active=True).first()
        missing = f"There is no user with id {user_id}."
    if user is None:
        raise ApplicationError(missing, {"field": "username" if username else "user_id"})
    return user
