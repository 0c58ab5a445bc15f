"""Accepting a proposal on a whole clip is one bulk write: the same number of queries for 2 frames as for 20,
all or nothing, and a frame annotated concurrently is left to its author (PostgreSQL, threads).

POST /api/clips/{id}/accept-proposals/  {proposal}
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from server.accounts.models import Role
from server.annotations import services
from server.annotations.models import Annotation, AnnotationRevision
from server.annotations.services import annotation_update
from tests.factories import ClipFactory, FrameFactory, LabelFactory, ProposalFactory
from tests.server.annotations.conftest import box_mask
from tests.utils import require_service

DOG, CAT = box_mask(0, 0, 10, 10), box_mask(20, 20, 30, 30)


def proposed(mask, label):
    return {"mask": mask, "label": label, "score": 0.9, "provenance": {"method": "test"}}


def clip_with_proposal(project, frames: int):
    clip = ClipFactory(project=project)
    for index in range(frames):
        FrameFactory(clip=clip, index=index)
    proposal = ProposalFactory(
        clip=clip,
        frames=[
            {"frame_index": index, "instances": [proposed(DOG, "dog"), proposed(CAT, "cat")]} for index in range(frames)
        ],
    )
    return clip, proposal


def accept_clip(client, clip, proposal):
    return client.post(f"/api/clips/{clip.pk}/accept-proposals/", {"proposal": proposal.pk}, format="json")


@pytest.fixture
def annotator(project, make_member):
    return make_member(project, role=Role.ANNOTATOR)


@pytest.mark.django_db
def test_the_same_number_of_queries_for_2_frames_as_for_20(project, annotator, client_for):
    client = client_for(annotator)
    LabelFactory(project=project, name="dog")
    LabelFactory(project=project, name="cat")
    warm, warm_proposal = clip_with_proposal(project, 1)
    assert accept_clip(client, warm, warm_proposal).status_code == 200

    counts = {}
    for frames in (2, 20):
        clip, proposal = clip_with_proposal(project, frames)
        with CaptureQueriesContext(connection) as ctx:
            response = accept_clip(client, clip, proposal)
        assert response.status_code == 200, response.data
        assert response.json() == {"created": frames, "skipped": 0, "skipped_frames": []}
        counts[frames] = len(ctx.captured_queries)
        drafts = Annotation.objects.filter(clip=clip).order_by("frame__index")
        assert [(a.version, a.status, a.source_proposal_id, a.author_id) for a in drafts] == [
            (1, "draft", proposal.pk, annotator.pk)
        ] * frames
        assert all(a.instances == [{"mask": DOG, "label": "dog"}, {"mask": CAT, "label": "cat"}] for a in drafts)
        assert all(a.proposal_iou == 1.0 for a in drafts)
        assert AnnotationRevision.objects.filter(annotation__clip=clip, version=1).count() == frames
    assert counts[2] == counts[20], counts


def annotate_meanwhile(frame, user, *, inserted: threading.Event, release: threading.Event) -> None:
    """Another annotator saves `frame` in a transaction that commits only once `release` is set."""
    from django.db import connection as thread_connection

    try:
        with transaction.atomic():
            annotation_update(
                frame=frame, user=user, role=Role.ANNOTATOR, instances=[{"mask": CAT, "label": "guitar"}], version=None
            )
            inserted.set()
            release.wait(timeout=30)
    finally:
        thread_connection.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("tries", [services.CLIP_ACCEPT_TRIES, 1])
def test_a_frame_annotated_concurrently_is_left_to_its_author(
    project, annotator, make_member, client_for, monkeypatch, tries
):
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "a writer waiting on another's uncommitted row needs DATABASE_URL=postgres://")
    monkeypatch.setattr(services, "CLIP_ACCEPT_TRIES", tries)
    clip, proposal = clip_with_proposal(project, 4)
    frame = clip.frames.get(index=2)
    other = make_member(project, role=Role.ANNOTATOR)
    inserted, release = threading.Event(), threading.Event()
    writer = threading.Thread(
        target=annotate_meanwhile, args=(frame, other), kwargs={"inserted": inserted, "release": release}
    )
    writer.start()
    assert inserted.wait(timeout=30)
    # The bulk insert waits on the other writer's uncommitted frame 2, which commits a moment later.
    threading.Timer(1.0, release.set).start()
    response = accept_clip(client_for(annotator), clip, proposal)
    writer.join()

    theirs = Annotation.objects.get(frame=frame)
    assert (theirs.author, theirs.version, theirs.instances) == (other, 1, [{"mask": CAT, "label": "guitar"}])
    if tries > 1:  # tried again without frame 2
        assert response.status_code == 200, response.json()
        assert response.json() == {"created": 3, "skipped": 1, "skipped_frames": [2]}
        assert Annotation.objects.filter(clip=clip, author=annotator).count() == 3
    else:  # no try left: a 409 in the API's error shape, and nothing of this request is stored
        assert response.status_code == 409
        body = response.json()
        assert body["message"].startswith("Frames of this clip were being annotated by someone else")
        assert body["extra"] == {"proposal": proposal.pk}
        assert not Annotation.objects.filter(clip=clip, author=annotator).exists()
        assert AnnotationRevision.objects.filter(annotation__clip=clip).count() == 1  # the other annotator's
