"""List endpoints cost the same number of queries for 2 objects as for 6 (no N+1)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from server.accounts.models import Role
from server.annotations.models import Annotation, AnnotationRevision
from tests.factories import (
    AnnotationFactory,
    ClipFactory,
    FrameFactory,
    ProposalFactory,
    ReviewFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def queries_for(client, url: str, expected_count: int) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.data
    assert response.data["count"] == expected_count
    return len(ctx.captured_queries)


@pytest.fixture
def client(project, make_member, client_for):
    return client_for(make_member(project, role=Role.ANNOTATOR))


def annotated_clip(project, n: int):
    clip = ClipFactory(project=project)
    for _ in range(n):
        annotation = AnnotationFactory(
            frame=FrameFactory(clip=clip), author=UserFactory(), status=Annotation.Status.REJECTED
        )
        ReviewFactory(annotation=annotation, verdict="reject", comment="redo")
        ReviewFactory(annotation=annotation)
    return clip


def test_annotation_list(project, client):
    small, large = annotated_clip(project, 2), annotated_clip(project, 6)
    queries_for(client, f"/api/clips/{small.pk}/annotations/", 2)  # warm-up
    assert queries_for(client, f"/api/clips/{small.pk}/annotations/", 2) == queries_for(
        client, f"/api/clips/{large.pk}/annotations/", 6
    )


def test_proposal_list(project, client):
    small, large = ClipFactory(project=project), ClipFactory(project=project)
    for clip, n in ((small, 2), (large, 6)):
        for _ in range(n):
            ProposalFactory(clip=clip)
    queries_for(client, f"/api/clips/{small.pk}/proposals/", 2)
    assert queries_for(client, f"/api/clips/{small.pk}/proposals/", 2) == queries_for(
        client, f"/api/clips/{large.pk}/proposals/", 6
    )


def test_review_list(project, client):
    clip = ClipFactory(project=project)
    small, large = AnnotationFactory(frame=FrameFactory(clip=clip)), AnnotationFactory(frame=FrameFactory(clip=clip))
    for annotation, n in ((small, 2), (large, 6)):
        for _ in range(n):
            ReviewFactory(annotation=annotation, reviewer=UserFactory())
    queries_for(client, f"/api/annotations/{small.pk}/reviews/", 2)
    assert queries_for(client, f"/api/annotations/{small.pk}/reviews/", 2) == queries_for(
        client, f"/api/annotations/{large.pk}/reviews/", 6
    )


def test_revision_list(project, client):
    clip = ClipFactory(project=project)
    small, large = AnnotationFactory(frame=FrameFactory(clip=clip)), AnnotationFactory(frame=FrameFactory(clip=clip))
    for annotation, n in ((small, 2), (large, 6)):
        for version in range(1, n + 1):
            AnnotationRevision.objects.create(
                annotation=annotation, version=version, status="draft", author=UserFactory()
            )
    queries_for(client, f"/api/annotations/{small.pk}/revisions/", 2)
    assert queries_for(client, f"/api/annotations/{small.pk}/revisions/", 2) == queries_for(
        client, f"/api/annotations/{large.pk}/revisions/", 6
    )
