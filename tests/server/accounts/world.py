"""A small world for API tests: one project with a member of each role, an outsider, a superuser,
a label, a clip with a real frame image, audio and source file, and a second project with the same
kinds of objects (for guessing other projects' ids)."""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile

from server.accounts.models import Role
from server.media.models import AudioTrack, Clip, Frame, Label, Project
from tests.factories import ClipFactory, FrameFactory, LabelFactory, MembershipFactory, ProjectFactory, UserFactory

PASSWORD = "pass-word-123"  # UserFactory's


def wav_bytes(*, seconds: float = 0.5, sample_rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(b"\x00\x01" * int(seconds * sample_rate))
    return buffer.getvalue()


def clip_with_media(*, project: Project, **kwargs: Any) -> Clip:
    """A ready clip with one real JPEG frame, a WAV audio track and a (fake) source file."""
    clip = ClipFactory(project=project, **kwargs)
    clip.source.save("video.mp4", ContentFile(b"not really a video"), save=True)
    FrameFactory(clip=clip, index=0)
    audio = AudioTrack(clip=clip, sample_rate=16000, duration=0.5, num_samples=8000)
    audio.file.save(f"audio-{clip.pk}.wav", ContentFile(wav_bytes()), save=True)
    return clip


@dataclass
class World:
    project: Project
    users: dict[str, Any]  # role name -> user (None for anonymous)
    extra_member: Any
    newcomer: Any
    label: Label
    clip: Clip
    frame: Frame
    other_project: Project
    other_label: Label
    other_clip: Clip
    other_frame: Frame


def project_creator(**kwargs: Any) -> Any:
    """A plain (non-staff) user granted the `media.add_project` permission: may create projects."""
    user = UserFactory(**kwargs)
    user.user_permissions.add(Permission.objects.get(content_type__app_label="media", codename="add_project"))
    return user


def build_world() -> World:
    project = ProjectFactory()
    users: dict[str, Any] = {"anonymous": None, "outsider": UserFactory()}
    for role in (Role.REVIEWER, Role.ANNOTATOR, Role.MANAGER):
        users[str(role)] = MembershipFactory(project=project, role=role).user
    users["superuser"] = UserFactory(is_superuser=True, is_staff=True)
    extra_member = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    clip = clip_with_media(project=project)
    other_project = ProjectFactory()
    MembershipFactory(project=other_project, user=users["outsider"], role=Role.MANAGER)
    other_clip = clip_with_media(project=other_project)
    return World(
        project=project,
        users=users,
        extra_member=extra_member,
        newcomer=UserFactory(),
        label=LabelFactory(project=project, name="dog"),
        clip=clip,
        frame=clip.frames.get(),
        other_project=other_project,
        other_label=LabelFactory(project=other_project, name="cat"),
        other_clip=other_clip,
        other_frame=other_clip.frames.get(),
    )


ROLES = ("anonymous", "outsider", "reviewer", "annotator", "manager", "superuser")


def expect(anonymous: int, outsider: int, reviewer: int, annotator: int, manager: int, superuser: int) -> dict:
    return dict(zip(ROLES, (anonymous, outsider, reviewer, annotator, manager, superuser), strict=True))


READ = expect(401, 404, 200, 200, 200, 200)  # any member
MANAGE = expect(401, 404, 403, 403, 200, 200)  # managers (and superusers)
