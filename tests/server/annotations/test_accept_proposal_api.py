"""Accepting proposals: one frame's instances into its annotation, or drafts for a whole clip.

POST /api/frames/{id}/annotation/accept-proposal/  {proposal, version, instances?}
POST /api/clips/{id}/accept-proposals/             {proposal}
"""

from __future__ import annotations

import pytest

from server.accounts.models import Role
from server.annotations.models import Annotation, AnnotationRevision
from server.media.models import Label
from tests.factories import AnnotationFactory, ClipFactory, FrameFactory, ProposalFactory, UserFactory
from tests.server.annotations.conftest import box_mask

pytestmark = pytest.mark.django_db

DOG, CAT, BLOB = box_mask(0, 0, 10, 10), box_mask(20, 20, 30, 30), box_mask(5, 30, 15, 60)


def proposed(mask, label, score=0.9):
    return {"mask": mask, "label": label, "score": score, "provenance": {"method": "test"}}


@pytest.fixture
def clip(project):
    return ClipFactory(project=project)


@pytest.fixture
def frames(clip):
    return [FrameFactory(clip=clip, index=i) for i in range(4)]


@pytest.fixture
def proposal(clip, frames):
    return ProposalFactory(
        clip=clip,
        frames=[
            {"frame_index": 0, "instances": [proposed(DOG, "dog"), proposed(CAT, "cat"), proposed(BLOB, "")]},
            {"frame_index": 1, "instances": [proposed(CAT, "cat")]},
            {"frame_index": 2, "instances": []},
        ],
    )


@pytest.fixture
def annotator(project, make_member):
    return make_member(project, role=Role.ANNOTATOR)


@pytest.fixture
def client(annotator, client_for):
    return client_for(annotator)


def accept(client, frame, body):
    return client.post(f"/api/frames/{frame.pk}/annotation/accept-proposal/", body, format="json")


def stored(frame):
    return Annotation.objects.get(frame=frame)


def test_accepting_on_an_unannotated_frame_creates_a_draft_with_every_instance(
    client, annotator, frames, proposal, project
):
    response = accept(client, frames[0], {"proposal": proposal.pk, "version": None})
    assert response.status_code == 201, response.data
    data = response.json()
    assert [(i["label"], i["mask"]) for i in data["instances"]] == [
        ("dog", DOG),
        ("cat", CAT),
        ("sounding object", BLOB),  # the proposer left it unlabelled
    ]
    assert (data["version"], data["status"], data["source_proposal"]) == (1, "draft", proposal.pk)
    assert data["author"]["id"] == annotator.pk
    assert {"dog", "cat", "sounding object"} <= set(
        Label.objects.filter(project=project).values_list("name", flat=True)
    )


def test_chosen_instances_merge_into_the_existing_annotation(client, frames, proposal):
    existing = {"mask": BLOB, "label": "guitar"}
    AnnotationFactory(frame=frames[0], instances=[existing], version=3)
    response = accept(client, frames[0], {"proposal": proposal.pk, "version": 3, "instances": [1]})
    assert response.status_code == 200, response.data
    assert [(i["label"], i["mask"]) for i in response.json()["instances"]] == [("guitar", BLOB), ("cat", CAT)]
    annotation = stored(frames[0])
    assert (annotation.version, annotation.source_proposal_id) == (4, proposal.pk)
    assert AnnotationRevision.objects.filter(annotation=annotation, version=4).exists()


def test_accepting_twice_does_not_duplicate_instances(client, frames, proposal):
    first = accept(client, frames[0], {"proposal": proposal.pk, "version": None}).json()
    second = accept(client, frames[0], {"proposal": proposal.pk, "version": first["version"]}).json()
    assert len(second["instances"]) == 3


def test_a_stale_version_is_a_409_like_a_save_and_nothing_changes(client, frames, proposal):
    AnnotationFactory(frame=frames[0], instances=[{"mask": BLOB, "label": "guitar"}], version=2)
    response = accept(client, frames[0], {"proposal": proposal.pk, "version": 1})
    assert response.status_code == 409
    body = response.json()
    assert body["message"].startswith("Your changes were not saved: someone else saved this frame first")
    assert body["extra"]["current_version"] == 2
    assert body["extra"]["current"]["instances"] == [{"mask": BLOB, "label": "guitar"}]
    assert stored(frames[0]).version == 2 and stored(frames[0]).source_proposal_id is None


def test_null_version_when_an_annotation_exists_is_a_409(client, frames, proposal):
    AnnotationFactory(frame=frames[0])
    response = accept(client, frames[0], {"proposal": proposal.pk, "version": None})
    assert response.status_code == 409 and response.json()["extra"]["current_version"] == 1


def test_an_accepted_annotation_stays_locked_for_annotators(client, frames, proposal):
    AnnotationFactory(frame=frames[0], status=Annotation.Status.ACCEPTED)
    response = accept(client, frames[0], {"proposal": proposal.pk, "version": 1})
    assert response.status_code == 409
    assert "accepted by a reviewer" in response.json()["message"]


@pytest.mark.parametrize(
    ("frame_index", "body", "message"),
    [
        (0, {"instances": [0, 3]}, "instances[1] is 3, but proposal {p} has 3 instance(s) on frame 0."),
        (2, {}, "Proposal {p} has no instances on frame 2: nothing to accept."),
        (3, {}, "Proposal {p} has no instances on frame 3: nothing to accept."),
        (0, {"instances": []}, "Proposal {p} has no instances on frame 0: nothing to accept."),
    ],
)
def test_unknown_or_missing_instances_are_a_readable_400(client, frames, proposal, frame_index, body, message):
    response = accept(client, frames[frame_index], {"proposal": proposal.pk, "version": None, **body})
    assert response.status_code == 400
    assert response.json()["message"] == message.format(p=proposal.pk)
    assert not Annotation.objects.exists()


def test_a_proposal_of_another_clip_is_refused(client, project, frames):
    other = ProposalFactory(clip=ClipFactory(project=project), frames=[{"frame_index": 0, "instances": []}])
    response = accept(client, frames[0], {"proposal": other.pk, "version": None})
    assert response.status_code == 400
    assert response.json()["message"] == f"Proposal {other.pk} is not a proposal of this clip."


@pytest.mark.parametrize(
    ("who", "expected"),
    [("annotator", 201), ("manager", 201), ("reviewer", 403), ("outsider", 404), ("anonymous", 401)],
)
def test_who_may_accept_a_proposal_on_a_frame(project, frames, proposal, make_member, client_for, who, expected):
    if who == "anonymous":
        user = None
    elif who == "outsider":
        user = UserFactory()
    else:
        user = make_member(project, role=who)
    response = accept(client_for(user), frames[0], {"proposal": proposal.pk, "version": None})
    assert response.status_code == expected
    assert Annotation.objects.exists() == (expected == 201)


# --- whole clip -----------------------------------------------------------------------------------


def accept_clip(client, clip, proposal):
    return client.post(f"/api/clips/{clip.pk}/accept-proposals/", {"proposal": proposal.pk}, format="json")


def test_every_unannotated_frame_gets_a_draft_and_annotated_frames_are_skipped(
    client, annotator, clip, frames, proposal
):
    mine = AnnotationFactory(frame=frames[1], instances=[{"mask": BLOB, "label": "guitar"}], version=5)
    response = accept_clip(client, clip, proposal)
    assert response.status_code == 200, response.data
    assert response.json() == {"created": 3, "skipped": 1, "skipped_frames": [1]}

    first = stored(frames[0])
    assert [i["label"] for i in first.instances] == ["dog", "cat", "sounding object"]
    assert (first.status, first.version, first.source_proposal_id, first.author) == ("draft", 1, proposal.pk, annotator)
    assert stored(frames[2]).instances == [] and stored(frames[3]).instances == []  # nothing proposed there
    mine.refresh_from_db()
    assert (mine.version, mine.instances, mine.source_proposal_id) == (5, [{"mask": BLOB, "label": "guitar"}], None)

    assert accept_clip(client, clip, proposal).json() == {"created": 0, "skipped": 4, "skipped_frames": [0, 1, 2, 3]}


def test_accepting_another_clips_proposal_changes_nothing(client, project, clip, frames):
    other = ProposalFactory(clip=ClipFactory(project=project))
    response = accept_clip(client, clip, other)
    assert response.status_code == 400
    assert not Annotation.objects.exists()


def test_an_invalid_proposal_mask_rolls_the_whole_clip_back(client, clip, frames):
    broken = ProposalFactory(
        clip=clip,
        frames=[
            {"frame_index": 0, "instances": [proposed(DOG, "dog")]},
            {"frame_index": 1, "instances": [proposed(box_mask(0, 0, 2, 2, shape=(10, 10)), "dog")]},
        ],
    )
    response = accept_clip(client, clip, broken)
    assert response.status_code == 400
    assert "is 10x10 (HxW) but the frame is 48x64" in response.json()["message"]
    assert not Annotation.objects.exists()


@pytest.mark.parametrize(
    ("who", "expected"),
    [("annotator", 200), ("manager", 200), ("reviewer", 403), ("outsider", 404), ("anonymous", 401)],
)
def test_who_may_accept_a_whole_clip(project, clip, frames, proposal, make_member, client_for, who, expected):
    if who == "anonymous":
        user = None
    elif who == "outsider":
        user = UserFactory()
    else:
        user = make_member(project, role=who)
    response = accept_clip(client_for(user), clip, proposal)
    assert response.status_code == expected
    if expected == 404:
        assert response.json()["message"] == "Clip not found."
    assert Annotation.objects.count() == (4 if expected == 200 else 0)
