"""GET /api/projects/{id}/annotations/: every clip's annotations at once, e.g. what waits for review."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from server.accounts.models import Role
from server.annotations.models import Annotation
from tests.factories import AnnotationFactory, ClipFactory, FrameFactory, ProjectFactory, ReviewFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviewer(project, make_member):
    return make_member(project, role=Role.REVIEWER)


@pytest.fixture
def client(reviewer, client_for):
    return client_for(reviewer)


def listing(client, project, **params):
    response = client.get(f"/api/projects/{project.pk}/annotations/", params)
    assert response.status_code == 200, response.data
    return response.json()


def annotation(clip, index, status, **kwargs):
    return AnnotationFactory(frame=FrameFactory(clip=clip, index=index), status=status, **kwargs)


def test_submitted_annotations_of_every_clip_with_clip_frame_author_and_latest_review(client, project, reviewer):
    birds, cars = ClipFactory(project=project, name="birds.mp4"), ClipFactory(project=project, name="cars.mp4")
    author = UserFactory(username="ann")
    first = annotation(birds, 3, Annotation.Status.SUBMITTED, author=author)
    ReviewFactory(annotation=first, reviewer=reviewer, verdict="reject", comment="the wing is missing")
    second = annotation(cars, 0, Annotation.Status.SUBMITTED, author=author)
    annotation(cars, 1, Annotation.Status.DRAFT)
    annotation(ClipFactory(project=ProjectFactory()), 0, Annotation.Status.SUBMITTED)  # another project

    data = listing(client, project, status="submitted")
    assert data["count"] == 2
    rows = {row["id"]: row for row in data["results"]}
    assert set(rows) == {first.pk, second.pk}
    row = rows[first.pk]
    assert (row["clip"], row["clip_name"], row["frame_index"], row["author"]["username"]) == (
        birds.pk,
        "birds.mp4",
        3,
        "ann",
    )
    assert row["latest_review"]["comment"] == "the wing is missing"
    assert rows[second.pk]["latest_review"] is None
    # What a person's "Frame 2 of 2 (1.0–2.0 s)" needs: the clip's frame count and rate.
    assert (rows[second.pk]["clip_num_frames"], rows[second.pk]["clip_fps"]) == (2, cars.fps)
    assert row["clip_num_frames"] == 1


def test_orderings_and_the_clip_filter(client, project):
    clip_a, clip_b = ClipFactory(project=project), ClipFactory(project=project)
    later = annotation(clip_a, 1, Annotation.Status.SUBMITTED)
    earlier = annotation(clip_b, 0, Annotation.Status.SUBMITTED)
    Annotation.objects.filter(pk=earlier.pk).update(updated_at=later.updated_at.replace(year=2000))
    third = annotation(clip_a, 0, Annotation.Status.SUBMITTED)

    def ids(**params):
        return [row["id"] for row in listing(client, project, **params)["results"]]

    assert ids() == [earlier.pk, later.pk, third.pk]  # least recently changed first
    assert ids(ordering="-updated_at") == [third.pk, later.pk, earlier.pk]
    assert ids(ordering="clip") == [third.pk, later.pk, earlier.pk]
    assert ids(clip=clip_b.pk) == [earlier.pk]


def test_an_unknown_status_is_a_400(client, project):
    response = client.get(f"/api/projects/{project.pk}/annotations/", {"status": "maybe"})
    assert response.status_code == 400
    assert response.json()["message"].startswith("status:")


def test_the_list_costs_the_same_queries_for_2_or_6_annotations(client, project):
    def count():
        with CaptureQueriesContext(connection) as ctx:
            listing(client, project, status="submitted")
        return len(ctx.captured_queries)

    def add(n):
        for _ in range(n):
            made = annotation(ClipFactory(project=project), 0, Annotation.Status.SUBMITTED, author=UserFactory())
            ReviewFactory(annotation=made)

    add(2)
    listing(client, project)  # warm-up
    small = count()
    add(4)
    assert count() == small


@pytest.mark.parametrize(
    ("who", "expected"),
    [("reviewer", 200), ("annotator", 200), ("manager", 200), ("outsider", 404), ("anonymous", 401)],
)
def test_who_may_list(project, make_member, client_for, who, expected):
    if who == "anonymous":
        user = None
    elif who == "outsider":
        user = UserFactory()
    else:
        user = make_member(project, role=who)
    response = client_for(user).get(f"/api/projects/{project.pk}/annotations/")
    assert response.status_code == expected
    if expected == 404:
        assert response.json()["message"] == "Project not found."
