"""Reviewing: accept or reject a submitted annotation; a rejection goes back to the annotator."""

from __future__ import annotations

import pytest

from server.accounts.models import Role
from server.annotations.models import Annotation, Review
from tests.factories import AnnotationFactory, ClipFactory, FrameFactory
from tests.server.annotations.conftest import box_mask

pytestmark = pytest.mark.django_db


@pytest.fixture
def frame(project):
    return FrameFactory(clip=ClipFactory(project=project))


@pytest.fixture
def annotator(project, make_member):
    return make_member(project, role=Role.ANNOTATOR)


@pytest.fixture
def reviewer(project, make_member):
    return make_member(project, role=Role.REVIEWER)


def test_submit_reject_fix_resubmit_accept(frame, annotator, reviewer, client_for):
    worker, judge = client_for(annotator), client_for(reviewer)
    frame_url = f"/api/frames/{frame.pk}/annotation/"
    first = [{"mask": box_mask(0, 0, 10, 10), "label": "dog"}]

    submitted = worker.put(frame_url, {"instances": first, "version": None, "status": "submitted"}, format="json")
    assert submitted.data["status"] == "submitted"
    reviews_url = f"/api/annotations/{submitted.data['id']}/reviews/"

    rejected = judge.post(
        reviews_url, {"verdict": "reject", "comment": "The dog's tail is missing.", "annotation_version": 1}
    )
    assert rejected.status_code == 201, rejected.data
    assert rejected.data["reviewer"]["username"] == reviewer.username

    # The annotator finds the frame rejected, with the reviewer's comment.
    seen = worker.get(frame_url).data
    assert seen["status"] == "rejected"
    assert seen["latest_review"]["verdict"] == "reject"
    assert seen["latest_review"]["comment"] == "The dog's tail is missing."
    assert seen["latest_review"]["annotation_version"] == 1
    assert seen["version"] == 1  # a review does not change the masks' version
    in_list = worker.get(f"/api/clips/{frame.clip_id}/annotations/?status=rejected").data["results"]
    assert [a["latest_review"]["comment"] for a in in_list] == ["The dog's tail is missing."]

    fixed = [{"mask": box_mask(0, 0, 10, 20), "label": "dog"}]
    resubmitted = worker.put(frame_url, {"instances": fixed, "version": 1, "status": "submitted"}, format="json")
    assert (resubmitted.data["status"], resubmitted.data["version"]) == ("submitted", 2)

    accepted = judge.post(reviews_url, {"verdict": "accept", "annotation_version": 2})
    assert accepted.status_code == 201
    final = worker.get(frame_url).data
    assert final["status"] == "accepted"
    assert final["instances"] == fixed
    assert final["latest_review"]["verdict"] == "accept"

    history = worker.get(reviews_url).data
    assert [(r["verdict"], r["annotation_version"]) for r in history["results"]] == [("accept", 2), ("reject", 1)]

    # Accepted work is locked for the annotator.
    locked = worker.put(frame_url, {"instances": first, "version": 2}, format="json")
    assert locked.status_code == 409


def test_rejection_needs_a_comment(frame, reviewer, client_for):
    annotation = AnnotationFactory(frame=frame, status=Annotation.Status.SUBMITTED)
    response = client_for(reviewer).post(
        f"/api/annotations/{annotation.pk}/reviews/", {"verdict": "reject", "comment": "  ", "annotation_version": 1}
    )
    assert response.status_code == 400
    assert response.data["message"] == "A rejection needs a comment telling the annotator what to fix."
    annotation.refresh_from_db()
    assert annotation.status == Annotation.Status.SUBMITTED
    assert not Review.objects.exists()


@pytest.mark.parametrize("state", [Annotation.Status.DRAFT, Annotation.Status.ACCEPTED, Annotation.Status.REJECTED])
def test_only_submitted_annotations_can_be_reviewed(frame, reviewer, client_for, state):
    annotation = AnnotationFactory(frame=frame, status=state)
    response = client_for(reviewer).post(
        f"/api/annotations/{annotation.pk}/reviews/", {"verdict": "accept", "annotation_version": 1}
    )
    assert response.status_code == 400
    assert response.data["message"] == f"Only submitted annotations can be reviewed; this one is {state}."
    annotation.refresh_from_db()
    assert annotation.status == state


def test_reviewing_a_stale_version_is_a_conflict(frame, reviewer, client_for):
    annotation = AnnotationFactory(frame=frame, status=Annotation.Status.SUBMITTED, version=3)
    response = client_for(reviewer).post(
        f"/api/annotations/{annotation.pk}/reviews/", {"verdict": "accept", "annotation_version": 2}
    )
    assert response.status_code == 409
    assert "you reviewed version 2, it is now at version 3" in response.data["message"]
    assert response.data["extra"] == {"current_version": 3}
    annotation.refresh_from_db()
    assert annotation.status == Annotation.Status.SUBMITTED


def test_annotators_cannot_review(frame, annotator, client_for):
    annotation = AnnotationFactory(frame=frame, status=Annotation.Status.SUBMITTED)
    response = client_for(annotator).post(
        f"/api/annotations/{annotation.pk}/reviews/", {"verdict": "accept", "annotation_version": 1}
    )
    assert response.status_code == 403
    assert response.data["message"] == "This needs one of the roles: manager, reviewer; you are annotator."
    annotation.refresh_from_db()
    assert annotation.status == Annotation.Status.SUBMITTED


def test_unknown_verdict_is_refused(frame, reviewer, client_for):
    annotation = AnnotationFactory(frame=frame, status=Annotation.Status.SUBMITTED)
    response = client_for(reviewer).post(
        f"/api/annotations/{annotation.pk}/reviews/", {"verdict": "maybe", "annotation_version": 1}
    )
    assert response.status_code == 400
    assert response.data["message"] == 'verdict: "maybe" is not a valid choice.'
