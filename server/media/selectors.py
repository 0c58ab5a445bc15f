"""Reads for projects, labels, clips, frames and audio, with the access checks in front of them.

Lists run a constant number of queries: clip counts per project and frame counts per clip are counters
stored on the rows (`Project.clip_count`, `Clip.num_frames`, ...), the member count a correlated subquery
annotated on the one list query. Access follows
`server.accounts.selectors.project_access` (outsiders get 404 worded after the object).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import F, OuterRef, Prefetch, QuerySet, Subquery, Value

from server.accounts.models import Membership
from server.accounts.selectors import ADMIN, project_list_for_user
from server.core.permissions import project_object_access
from server.core.queries import subquery_count as _count
from server.media.models import AudioTrack, Clip, Frame, Label, Project

User = AbstractBaseUser | AnonymousUser

CLIP_ORDERINGS = ("id", "name", "created_at", "duration", "status")
# File extensions taken for videos when a folder or a bucket prefix is searched for them (`manage.py ingest`, import
# from a bucket).
VIDEO_EXTENSIONS = frozenset(
    {
        ".3gp",
        ".avi",
        ".flv",
        ".m2ts",
        ".m4v",
        ".mkv",
        ".mov",
        ".mp4",
        ".mpeg",
        ".mpg",
        ".mts",
        ".ogv",
        ".ts",
        ".webm",
        ".wmv",
    }
)


def _project_annotate(qs: QuerySet[Project], *, user: AbstractBaseUser) -> QuerySet[Project]:
    """Adds `member_count` and `role` (the user's role; "admin" for superusers). The clip counts (`clip_count`,
    `clips_<status>`) are the project's stored counters."""
    if user.is_superuser:
        role: Any = Value(ADMIN)
    else:
        role = Subquery(Membership.objects.filter(project=OuterRef("pk"), user_id=user.pk).values("role")[:1])
    return qs.annotate(member_count=_count(Membership, link="project"), role=role)


def project_list(*, user: AbstractBaseUser, search: str = "") -> QuerySet[Project]:
    """The projects the user belongs to (superusers: all), newest first, with counts and the user's role."""
    qs = project_list_for_user(user=user)
    if search:
        qs = qs.filter(name__icontains=search)
    return _project_annotate(qs, user=user)


def project_get(*, user: AbstractBaseUser, project_id: int) -> Project:
    """One project with the same annotations as `project_list`, its members and labels prefetched.

    The caller has checked access (`project_access`).
    """
    qs = _project_annotate(Project.objects.filter(pk=project_id), user=user).prefetch_related(
        Prefetch("memberships", queryset=Membership.objects.select_related("user").order_by("id")),
        Prefetch("labels", queryset=Label.objects.order_by("name")),
    )
    return qs.get()


def label_list(*, project_id: int) -> QuerySet[Label]:
    return Label.objects.filter(project_id=project_id).order_by("name", "id")


def label_get_for_user(*, user: User, label_id: int, roles: Iterable[str] | None = None) -> Label:
    label = Label.objects.filter(pk=label_id).first()
    project_object_access(user=user, project_id=label and label.project_id, entity="Label", roles=roles)
    assert label is not None
    return label


def clip_list(*, project_id: int, status: str = "", search: str = "", ordering: str = "id") -> QuerySet[Clip]:
    """A project's clips. `ordering` is one of `CLIP_ORDERINGS`, optionally prefixed by "-" (each served by an index
    of `Clip.Meta.indexes`); `search`, part of the name in any case, uses the trigram index `clip_name_trgm` on
    PostgreSQL (migration media 0005)."""
    if ordering.removeprefix("-") not in CLIP_ORDERINGS:
        raise ValueError(f"ordering must be one of {CLIP_ORDERINGS} (optionally with '-'), got {ordering!r}")
    qs = Clip.objects.filter(project_id=project_id)
    if status:
        qs = qs.filter(status=status)
    if search:
        qs = qs.filter(name__icontains=search)
    qs = qs.annotate(dataset_split=F("dataset_origin__split"))
    return qs.order_by(ordering, "id" if not ordering.startswith("-") else "-id")


def clip_list_count(*, project_id: int, status: str = "", search: str = "") -> int | None:
    """How many clips `clip_list` returns, read from the project's counters; None for a search (counted then)."""
    if search:
        return None
    field = f"clips_{status}" if status else "clip_count"
    return Project.objects.filter(pk=project_id).values_list(field, flat=True).first() or 0


def clip_get_for_user(*, user: User, clip_id: int, roles: Iterable[str] | None = None) -> Clip:
    """The clip, or 404 "Clip not found." (also for outsiders)."""
    clip = Clip.objects.filter(pk=clip_id).annotate(dataset_split=F("dataset_origin__split")).first()
    project_object_access(user=user, project_id=clip and clip.project_id, entity="Clip", roles=roles)
    assert clip is not None
    return clip


def clip_frames(*, clip: Clip) -> QuerySet[Frame]:
    return Frame.objects.filter(clip=clip).order_by("index")


def clip_audio(*, clip: Clip) -> AudioTrack | None:
    return AudioTrack.objects.filter(clip=clip).first()


def frame_get_for_user(*, user: User, frame_id: int) -> Frame:
    frame = Frame.objects.select_related("clip").filter(pk=frame_id).first()
    project_object_access(user=user, project_id=frame and frame.clip.project_id, entity="Frame")
    assert frame is not None
    return frame


def audio_get_for_user(*, user: User, clip_id: int) -> AudioTrack:
    """The clip's audio track; 404 "Audio not found." for a missing clip, an outsider or a clip without audio."""
    audio = AudioTrack.objects.select_related("clip").filter(clip_id=clip_id).first()
    project_object_access(user=user, project_id=audio and audio.clip.project_id, entity="Audio")
    assert audio is not None
    return audio
