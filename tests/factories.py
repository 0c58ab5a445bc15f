"""factory_boy factories for the server's models."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from server.accounts.models import Membership, Role
from server.media.models import Clip, Frame, Label, Project


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("pass-word-123")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"project {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.ANNOTATOR


class LabelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Label

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"label{n}")
    color = "#ff0000"


class ClipFactory(factory.django.DjangoModelFactory):
    """A ready clip without files; use FrameFactory for frames with a real image."""

    class Meta:
        model = Clip

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"clip{n}.mp4")
    checksum = factory.Sequence(lambda n: f"{n:064x}")
    status = Clip.Status.READY
    duration = 5.0
    fps = 1.0
    width = 64
    height = 48
    has_audio = True


class FrameFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Frame

    clip = factory.SubFactory(ClipFactory)
    index = factory.Sequence(lambda n: n)
    timestamp = factory.LazyAttribute(lambda f: f.index + 0.94)
    image = factory.django.ImageField(width=64, height=48, color="blue", format="JPEG", filename="frame.jpg")
