"""Helpers shared by the datasets app's commands."""

from __future__ import annotations

from django.core.management.base import CommandError

from server.media.models import Project


def project_named(name: str) -> Project:
    """The project named `name`, or a CommandError listing some project names."""
    project = Project.objects.filter(name=name).first()
    if project is None:
        names = list(Project.objects.order_by("name").values_list("name", flat=True)[:10])
        known = ", ".join(f'"{n}"' for n in names) if names else "none yet"
        raise CommandError(f'There is no project named "{name}" (projects: {known}).')
    return project
