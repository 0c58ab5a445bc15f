"""factory_boy factories for the server's models."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from server.accounts.models import Membership, Role
from server.annotations.models import Annotation, Proposal, Review
from server.jobs.models import Job
from server.learning.models import ModelVersion
from server.learning.services import model_version_config_hash
from server.media.models import Clip, Frame, Label, Project


class CountersKept:
    """Factories write rows directly, not through the services: after each one, store the counters the services
    would have (`server.learning.services.counters_rebuild` for the row's project)."""

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        from server.learning.services import counters_rebuild

        instance = super()._create(model_class, *args, **kwargs)
        clip = instance if isinstance(instance, Clip) else instance.clip
        counters_rebuild(project_id=clip.project_id)
        return instance


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


class ClipFactory(CountersKept, factory.django.DjangoModelFactory):
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


class FrameFactory(CountersKept, factory.django.DjangoModelFactory):
    class Meta:
        model = Frame

    clip = factory.SubFactory(ClipFactory)
    index = factory.Sequence(lambda n: n)
    timestamp = factory.LazyAttribute(lambda f: f.index + 0.94)
    image = factory.django.ImageField(width=64, height=48, color="blue", format="JPEG", filename="frame.jpg")


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersion

    project = factory.SubFactory(ProjectFactory)
    kind = ModelVersion.Kind.OPENAVS
    name = factory.Sequence(lambda n: f"model {n}")
    config = factory.Sequence(lambda n: {"seed": n})
    config_hash = factory.LazyAttribute(lambda v: model_version_config_hash(config=v.config))


class ProposalFactory(CountersKept, factory.django.DjangoModelFactory):
    """`frames` empty unless given: `[{"frame_index", "instances": [{"mask", "label", "score", "provenance"}]}]`."""

    class Meta:
        model = Proposal

    clip = factory.SubFactory(ClipFactory)
    model_version = factory.SubFactory(ModelVersionFactory, project=factory.SelfAttribute("..clip.project"))
    frames = factory.LazyFunction(list)


class AnnotationFactory(CountersKept, factory.django.DjangoModelFactory):
    """A draft at version 1 with no instances, on a new frame unless given."""

    class Meta:
        model = Annotation

    frame = factory.SubFactory(FrameFactory)
    clip = factory.SelfAttribute("frame.clip")
    instances = factory.LazyFunction(list)
    version = 1
    status = Annotation.Status.DRAFT


class ReviewFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Review

    annotation = factory.SubFactory(AnnotationFactory)
    annotation_version = factory.SelfAttribute("annotation.version")
    reviewer = factory.SubFactory(UserFactory)
    verdict = Review.Verdict.ACCEPT


class JobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Job

    project = factory.SubFactory(ProjectFactory)
    kind = Job.Kind.INGEST
