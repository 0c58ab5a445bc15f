"""Saving a frame's annotation: versions, conflicts, validation, labels, locking, history."""

from __future__ import annotations

import numpy as np
import pytest

from server.accounts.models import Role
from server.annotations.models import Annotation, AnnotationRevision
from server.core.masks import rle_decode
from server.media.models import Label
from tests.factories import AnnotationFactory, ClipFactory, FrameFactory, LabelFactory, ProposalFactory
from tests.server.annotations.conftest import box_mask

pytestmark = pytest.mark.django_db


def url(frame) -> str:
    return f"/api/frames/{frame.pk}/annotation/"


@pytest.fixture
def frame(project):
    return FrameFactory(clip=ClipFactory(project=project))


@pytest.fixture
def annotator(project, make_member):
    return make_member(project, role=Role.ANNOTATOR)


def test_first_save_creates_version_1_and_later_saves_increment_it(frame, annotator, client_for):
    client = client_for(annotator)
    dog = box_mask(0, 0, 10, 10)

    created = client.put(url(frame), {"instances": [{"mask": dog, "label": "dog"}], "version": None}, format="json")
    assert created.status_code == 201, created.data
    assert created.data["version"] == 1
    assert created.data["status"] == "draft"
    assert created.data["author"]["username"] == annotator.username
    assert created.data["frame_index"] == frame.index
    assert created.data["instances"] == [{"mask": dog, "label": "dog"}]

    cat = box_mask(20, 20, 40, 60)
    updated = client.put(
        url(frame),
        {
            "instances": [{"mask": dog, "label": "dog"}, {"mask": cat, "label": "cat"}],
            "version": 1,
            "time_spent_delta": 12.5,
        },
        format="json",
    )
    assert updated.status_code == 200, updated.data
    assert updated.data["version"] == 2
    assert [i["label"] for i in updated.data["instances"]] == ["dog", "cat"]

    again = client.put(
        url(frame), {"instances": [{"mask": cat, "label": "cat"}], "version": 2, "time_spent_delta": 7.5}, format="json"
    )
    assert again.data["version"] == 3
    assert again.data["time_spent"] == pytest.approx(20.0)

    got = client.get(url(frame))
    assert got.status_code == 200
    assert got.data["version"] == 3
    assert np.array_equal(rle_decode(got.data["instances"][0]["mask"])[20:40, 20:60], np.ones((20, 40)))


def test_version_zero_also_creates(frame, annotator, client_for):
    response = client_for(annotator).put(url(frame), {"instances": [], "version": 0}, format="json")
    assert response.status_code == 201
    assert response.data["version"] == 1


def test_version_is_required(frame, annotator, client_for):
    response = client_for(annotator).put(url(frame), {"instances": []}, format="json")
    assert response.status_code == 400
    assert response.data["message"] == "version: This field is required."


def test_creating_with_a_version_when_nothing_is_stored_is_a_conflict(frame, annotator, client_for):
    response = client_for(annotator).put(url(frame), {"instances": [], "version": 3}, format="json")
    assert response.status_code == 409
    assert response.data["extra"] == {"current_version": None, "current": None}
    assert not Annotation.objects.exists()


def test_second_writer_from_the_same_version_gets_409_and_the_first_writers_masks_stay(
    frame, project, make_member, client_for
):
    alice, bob = make_member(project, role=Role.ANNOTATOR), make_member(project, role=Role.ANNOTATOR)
    base = client_for(alice).put(
        url(frame), {"instances": [{"mask": box_mask(0, 0, 5, 5), "label": "dog"}], "version": None}, format="json"
    )
    assert base.data["version"] == 1

    # Both opened version 1; Alice saves first.
    alice_mask, bob_mask = box_mask(0, 0, 24, 32), box_mask(24, 32, 48, 64)
    first = client_for(alice).put(
        url(frame), {"instances": [{"mask": alice_mask, "label": "dog"}], "version": 1}, format="json"
    )
    assert first.status_code == 200
    second = client_for(bob).put(
        url(frame), {"instances": [{"mask": bob_mask, "label": "violin"}], "version": 1}, format="json"
    )

    assert second.status_code == 409
    assert "someone else saved this frame first" in second.data["message"]
    assert second.data["extra"]["current_version"] == 2
    current = second.data["extra"]["current"]
    assert current["version"] == 2
    assert current["author"]["username"] == alice.username
    assert current["instances"] == [{"mask": alice_mask, "label": "dog"}]

    stored = client_for(bob).get(url(frame)).data
    assert stored["version"] == 2
    assert stored["instances"] == [{"mask": alice_mask, "label": "dog"}]
    assert AnnotationRevision.objects.count() == 2  # nothing of Bob's, not even a revision
    assert not Label.objects.filter(name="violin").exists()  # nor his new label

    # Bob reloads and saves on top of version 2.
    retry = client_for(bob).put(
        url(frame), {"instances": [{"mask": bob_mask, "label": "violin"}], "version": 2}, format="json"
    )
    assert retry.status_code == 200
    assert retry.data["version"] == 3


def test_two_creators_from_nothing_only_one_wins(frame, project, make_member, client_for):
    alice, bob = make_member(project, role=Role.ANNOTATOR), make_member(project, role=Role.ANNOTATOR)
    first = client_for(alice).put(url(frame), {"instances": [], "version": None}, format="json")
    second = client_for(bob).put(
        url(frame), {"instances": [{"mask": box_mask(0, 0, 1, 1), "label": "x"}], "version": None}, format="json"
    )
    assert (first.status_code, second.status_code) == (201, 409)
    assert second.data["extra"]["current_version"] == 1
    assert second.data["extra"]["current"]["instances"] == []


def test_mask_of_the_wrong_size_is_refused_naming_both_sizes(frame, annotator, client_for):
    wrong = box_mask(0, 0, 5, 5, shape=(32, 32))
    response = client_for(annotator).put(
        url(frame), {"instances": [{"mask": wrong, "label": "dog"}], "version": None}, format="json"
    )
    assert response.status_code == 400
    assert response.data["message"] == "instances[0].mask is 32x32 (HxW) but the frame is 48x64."
    assert response.data["extra"]["frame_size"] == [48, 64]
    assert not Annotation.objects.exists()


def test_mask_with_broken_counts_is_refused(frame, annotator, client_for):
    response = client_for(annotator).put(
        url(frame),
        {"instances": [{"mask": {"size": [48, 64], "counts": [10, 20]}, "label": "dog"}], "version": None},
        format="json",
    )
    assert response.status_code == 400
    assert response.data["message"].startswith("instances[0].mask has invalid RLE counts")


@pytest.mark.parametrize("label", ["", "   ", None, 3])
def test_label_must_be_a_non_empty_string(frame, annotator, client_for, label):
    response = client_for(annotator).put(
        url(frame), {"instances": [{"mask": box_mask(0, 0, 5, 5), "label": label}], "version": None}, format="json"
    )
    assert response.status_code == 400
    assert response.data["message"] == "instances[0].label must be a non-empty string."


def test_unknown_labels_join_the_project_vocabulary_with_distinct_colours(frame, project, annotator, client_for):
    LabelFactory(project=project, name="dog", color="#e6194b")
    response = client_for(annotator).put(
        url(frame),
        {
            "instances": [
                {"mask": box_mask(0, 0, 5, 5), "label": " Dog "},
                {"mask": box_mask(5, 5, 9, 9), "label": "church bell"},
                {"mask": box_mask(10, 10, 15, 15), "label": "guitar"},
            ],
            "version": None,
        },
        format="json",
    )
    assert response.status_code == 201
    # "Dog" matches the existing "dog" whatever its case; new names are added.
    assert [i["label"] for i in response.data["instances"]] == ["dog", "church bell", "guitar"]
    labels = {label.name: label.color for label in Label.objects.filter(project=project)}
    assert set(labels) == {"dog", "church bell", "guitar"}
    assert len(set(labels.values())) == 3
    assert all(colour.startswith("#") and len(colour) == 7 for colour in labels.values())


def test_submitting_sets_submitted_and_a_plain_save_keeps_the_status(frame, annotator, client_for):
    client = client_for(annotator)
    client.put(url(frame), {"instances": [], "version": None}, format="json")
    submitted = client.put(url(frame), {"instances": [], "version": 1, "status": "submitted"}, format="json")
    assert submitted.data["status"] == "submitted"
    kept = client.put(url(frame), {"instances": [], "version": 2}, format="json")
    assert kept.data["status"] == "submitted"


def test_clients_cannot_set_review_statuses(frame, annotator, client_for):
    response = client_for(annotator).put(
        url(frame), {"instances": [], "version": None, "status": "accepted"}, format="json"
    )
    assert response.status_code == 400
    assert response.data["message"] == 'status: "accepted" is not a valid choice.'


def test_accepted_annotation_is_locked_for_annotators_but_not_managers(
    frame, project, annotator, make_member, client_for
):
    AnnotationFactory(frame=frame, version=4, status=Annotation.Status.ACCEPTED)
    body = {"instances": [{"mask": box_mask(0, 0, 5, 5), "label": "dog"}], "version": 4}

    refused = client_for(annotator).put(url(frame), body, format="json")
    assert refused.status_code == 409
    assert "accepted by a reviewer" in refused.data["message"]
    assert Annotation.objects.get(frame=frame).version == 4

    manager = make_member(project, role=Role.MANAGER)
    corrected = client_for(manager).put(url(frame), body, format="json")
    assert corrected.status_code == 200
    assert (corrected.data["version"], corrected.data["status"]) == (5, "accepted")


def test_source_proposal_must_belong_to_the_frames_clip(frame, annotator, client_for):
    own = ProposalFactory(clip=frame.clip)
    other = ProposalFactory()
    client = client_for(annotator)
    refused = client.put(url(frame), {"instances": [], "version": None, "source_proposal": other.pk}, format="json")
    assert refused.status_code == 400
    assert refused.data["message"] == f"source_proposal {other.pk} is not a proposal of this frame's clip."
    accepted = client.put(url(frame), {"instances": [], "version": None, "source_proposal": own.pk}, format="json")
    assert accepted.data["source_proposal"] == own.pk


def test_frame_without_annotation_answers_404_with_a_hint(frame, annotator, client_for):
    response = client_for(annotator).get(url(frame))
    assert response.status_code == 404
    assert "has no annotation yet" in response.data["message"]


def test_revisions_keep_every_saved_version(frame, project, make_member, client_for):
    alice, bob = make_member(project, role=Role.ANNOTATOR), make_member(project, role=Role.ANNOTATOR)
    v1 = [{"mask": box_mask(0, 0, 5, 5), "label": "dog"}]
    v2 = [{"mask": box_mask(0, 0, 10, 10), "label": "dog"}]
    created = client_for(alice).put(url(frame), {"instances": v1, "version": None}, format="json")
    client_for(bob).put(url(frame), {"instances": v2, "version": 1, "status": "submitted"}, format="json")

    response = client_for(alice).get(f"/api/annotations/{created.data['id']}/revisions/")
    assert response.status_code == 200
    assert response.data["count"] == 2
    history = [(r["version"], r["instances"], r["status"], r["author"]["username"]) for r in response.data["results"]]
    assert history == [(1, v1, "draft", alice.username), (2, v2, "submitted", bob.username)]


def test_clip_annotation_list_is_in_frame_order_and_filters_by_status(project, annotator, client_for):
    clip = ClipFactory(project=project)
    late = AnnotationFactory(frame=FrameFactory(clip=clip, index=5), status=Annotation.Status.SUBMITTED)
    early = AnnotationFactory(frame=FrameFactory(clip=clip, index=1))
    client = client_for(annotator)

    listed = client.get(f"/api/clips/{clip.pk}/annotations/")
    assert [a["id"] for a in listed.data["results"]] == [early.pk, late.pk]
    assert [a["frame_index"] for a in listed.data["results"]] == [1, 5]

    submitted = client.get(f"/api/clips/{clip.pk}/annotations/?status=submitted")
    assert [a["id"] for a in submitted.data["results"]] == [late.pk]

    bad = client.get(f"/api/clips/{clip.pk}/annotations/?status=finished")
    assert bad.status_code == 400
    assert bad.data["message"] == 'status: "finished" is not a valid choice.'
