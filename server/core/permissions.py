"""Access checks for objects that belong to a project (clips, frames, labels, members...).

Rule (see `server.accounts.selectors.project_access`): an outsider gets the same 404 as for an
object that does not exist, worded after the object ("Clip not found."), so that guessing ids of
another project's objects tells nothing; a member lacking the role gets 403.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from server.accounts.selectors import project_access
from server.core.errors import NotFoundError


def project_object_access(
    *,
    user: AbstractBaseUser | AnonymousUser,
    project_id: int | None,
    entity: str,
    roles: Iterable[str] | None = None,
) -> str:
    """The user's role in the object's project, or raise `NotFoundError("<entity> not found.")`.

    `project_id=None` means the object was not found. `roles=None` admits any member.
    """
    if project_id is None:
        raise NotFoundError(f"{entity} not found.")
    try:
        return project_access(user=user, project_id=project_id, roles=roles)
    except NotFoundError:
        raise NotFoundError(f"{entity} not found.") from None
