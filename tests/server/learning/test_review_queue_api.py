"""GET /api/projects/{id}/review-queue/: the order annotators work through a project's clips."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from server.accounts.models import Role
from server.annotations.models import Annotation
from server.core.errors import ApplicationError
from server.learning.services import acquisition_score_record
from server.media.models import Clip
from tests.factories import (
    AnnotationFactory,
    ClipFactory,
    FrameFactory,
    ModelVersionFactory,
    ProjectFactory,
    ProposalFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(project, make_member, client_for):
    return client_for(make_member(project, role=Role.ANNOTATOR))


def queue(client, project, **params):
    response = client.get(f"/api/projects/{project.pk}/review-queue/", params)
    assert response.status_code == 200, response.data
    return response.json()["results"]


def clip_with(project, *, frames=2, accepted=0, proposals=0, **kwargs):
    clip = ClipFactory(project=project, **kwargs)
    made = [FrameFactory(clip=clip, index=i) for i in range(frames)]
    for frame in made[:accepted]:
        AnnotationFactory(frame=frame, status=Annotation.Status.ACCEPTED)
    for _ in range(proposals):
        ProposalFactory(clip=clip)
    return clip


def test_clips_come_by_their_latest_acquisition_score_highest_first(client, project):
    low, high, unscored, rescored = (clip_with(project) for _ in range(4))
    acquisition_score_record(clip=low, score=0.2)
    acquisition_score_record(clip=high, score=0.9)
    acquisition_score_record(clip=rescored, score=5.0)
    acquisition_score_record(clip=rescored, score=0.5, model_version=ModelVersionFactory(project=project))  # latest

    rows = queue(client, project)
    assert [r["id"] for r in rows] == [high.pk, rescored.pk, low.pk, unscored.pk]
    assert [r["acquisition_score"] for r in rows] == [0.9, 0.5, 0.2, None]
    assert rows[0]["acquisition_scored_at"] is not None and rows[3]["acquisition_scored_at"] is None


def test_without_scores_clips_with_proposals_and_the_least_accepted_work_come_first(client, project):
    bare = clip_with(project, frames=3)
    half_done = clip_with(project, frames=4, accepted=2, proposals=1)
    untouched = clip_with(project, frames=4, proposals=2)
    also_untouched = clip_with(project, frames=4, proposals=1)

    rows = queue(client, project)
    assert [r["id"] for r in rows] == [untouched.pk, also_untouched.pk, half_done.pk, bare.pk]
    row = rows[2]
    assert (row["num_frames"], row["proposal_count"], row["accepted_count"], row["annotated_count"]) == (4, 1, 2, 2)


def test_finished_and_unready_clips_are_left_out(client, project):
    done = clip_with(project, frames=2, accepted=2)
    clip_with(project, status=Clip.Status.PROCESSING)
    clip_with(project, status=Clip.Status.FAILED)
    todo = clip_with(project)
    assert [r["id"] for r in queue(client, project)] == [todo.pk]
    assert [r["id"] for r in queue(client, project, include_done="true")] == [todo.pk, done.pk]


def test_the_queue_counts_work_by_status(client, project):
    clip = clip_with(project, frames=4, accepted=1)
    frames = list(clip.frames.order_by("index"))
    AnnotationFactory(frame=frames[1], status=Annotation.Status.SUBMITTED)
    AnnotationFactory(frame=frames[2], status=Annotation.Status.REJECTED)
    (row,) = queue(client, project)
    assert {k: row[k] for k in ("annotated_count", "accepted_count", "submitted_count", "rejected_count")} == {
        "annotated_count": 3,
        "accepted_count": 1,
        "submitted_count": 1,
        "rejected_count": 1,
    }


def test_other_projects_clips_are_not_in_the_queue(client, project):
    clip_with(ProjectFactory())
    mine = clip_with(project)
    assert [r["id"] for r in queue(client, project)] == [mine.pk]


def test_the_queue_costs_the_same_queries_for_2_or_6_clips(client, project):
    def count():
        with CaptureQueriesContext(connection) as ctx:
            queue(client, project)
        return len(ctx.captured_queries)

    for i in range(2):
        acquisition_score_record(clip=clip_with(project, accepted=1, proposals=1), score=i)
    queue(client, project)  # warm-up
    small = count()
    for i in range(4):
        clip_with(project, accepted=i % 2, proposals=i % 2)
    assert count() == small


@pytest.mark.parametrize(
    ("who", "expected"),
    [("annotator", 200), ("reviewer", 200), ("manager", 200), ("outsider", 404), ("anonymous", 401)],
)
def test_who_may_see_the_queue(project, make_member, client_for, who, expected):
    if who == "anonymous":
        user = None
    elif who == "outsider":
        user = UserFactory()
    else:
        user = make_member(project, role=who)
    assert client_for(user).get(f"/api/projects/{project.pk}/review-queue/").status_code == expected


def test_a_score_must_be_a_finite_number_from_a_model_of_the_clips_project(project):
    clip = clip_with(project)
    with pytest.raises(ApplicationError, match="finite number"):
        acquisition_score_record(clip=clip, score=float("nan"))
    with pytest.raises(ApplicationError, match="another project"):
        acquisition_score_record(clip=clip, score=1.0, model_version=ModelVersionFactory())
