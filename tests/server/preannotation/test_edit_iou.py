"""Edit IoU per model version: how much of a version's proposed masks survived human editing.

GET /api/projects/{id}/model-versions/ rows carry `edit_stats: {annotations, mean_iou}` over the annotations
that record a `source_proposal` of the version: IoU of the proposal's masks (union per frame) with the
annotation's current masks (union per frame), averaged.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from server.accounts.models import Role
from server.annotations.models import Annotation
from tests.factories import AnnotationFactory, ClipFactory, FrameFactory, ModelVersionFactory, ProposalFactory
from tests.server.annotations.conftest import box_mask

pytestmark = pytest.mark.django_db

LEFT = box_mask(0, 0, 10, 10)  # 100 px
WIDER = box_mask(0, 0, 10, 20)  # 200 px, contains LEFT
RIGHT = box_mask(0, 30, 10, 40)  # 100 px, apart from LEFT


def proposed(*masks):
    return [{"mask": m, "label": "dog", "score": 0.9, "provenance": {}} for m in masks]


@pytest.fixture
def frames(project):
    clip = ClipFactory(project=project)
    return [FrameFactory(clip=clip, index=i) for i in range(3)]


@pytest.fixture
def client(project, make_member, client_for):
    return client_for(make_member(project, Role.ANNOTATOR))


def stats(client, project) -> dict[int, dict]:
    response = client.get(f"/api/projects/{project.pk}/model-versions/")
    assert response.status_code == 200, response.content
    return {row["id"]: row["edit_stats"] for row in response.json()["results"]}


def save(client, frame, instances, version):
    response = client.put(
        f"/api/frames/{frame.pk}/annotation/", {"instances": instances, "version": version}, format="json"
    )
    assert response.status_code in (200, 201), response.content
    return response.json()


def test_accepted_and_edited_proposals_give_each_version_its_mean_iou(project, frames, client):
    clip = frames[0].clip
    openavs = ModelVersionFactory(project=project, kind="openavs", name="openavs(...)")
    baseline = ModelVersionFactory(project=project, kind="baseline", name="synchrony-baseline")
    unused = ModelVersionFactory(project=project, kind="openavs", name="never accepted")
    good = ProposalFactory(
        clip=clip,
        model_version=openavs,
        frames=[{"frame_index": 0, "instances": proposed(LEFT)}, {"frame_index": 1, "instances": proposed(LEFT)}],
    )
    poor = ProposalFactory(clip=clip, model_version=baseline, frames=[{"frame_index": 2, "instances": proposed(RIGHT)}])

    # frame 0: accepted as proposed (IoU 1); frame 1: accepted, then widened to twice the area (IoU 0.5)
    for frame in frames[:2]:
        response = client.post(
            f"/api/frames/{frame.pk}/annotation/accept-proposal/",
            {"proposal": good.pk, "version": None},
            format="json",
        )
        assert response.status_code == 201, response.content
    save(client, frames[1], [{"mask": WIDER, "label": "dog"}], version=1)
    # frame 2: the baseline's mask replaced by another one elsewhere (IoU 0)
    client.post(
        f"/api/frames/{frames[2].pk}/annotation/accept-proposal/", {"proposal": poor.pk, "version": None}, format="json"
    )
    save(client, frames[2], [{"mask": LEFT, "label": "dog"}], version=1)

    rows = stats(client, project)
    assert rows[openavs.pk] == {"annotations": 2, "mean_iou": pytest.approx(0.75)}
    assert rows[baseline.pk] == {"annotations": 1, "mean_iou": pytest.approx(0.0)}
    assert rows[unused.pk] == {"annotations": 0, "mean_iou": None}

    # Undoing the edit brings the version's mean back up; the detail endpoint agrees with the list.
    save(client, frames[1], [{"mask": LEFT, "label": "dog"}], version=2)
    assert stats(client, project)[openavs.pk] == {"annotations": 2, "mean_iou": pytest.approx(1.0)}
    detail = client.get(f"/api/model-versions/{openavs.pk}/").json()
    assert detail["edit_stats"] == {"annotations": 2, "mean_iou": pytest.approx(1.0)}


def test_masks_are_compared_as_one_union_per_frame(project, frames, client):
    version = ModelVersionFactory(project=project)
    proposal = ProposalFactory(
        clip=frames[0].clip, model_version=version, frames=[{"frame_index": 0, "instances": proposed(LEFT, RIGHT)}]
    )
    client.post(
        f"/api/frames/{frames[0].pk}/annotation/accept-proposal/",
        {"proposal": proposal.pk, "version": None, "instances": [0]},
        format="json",
    )
    # the annotation keeps LEFT only: intersection 100 px, union of the proposal's masks 200 px
    assert stats(client, project)[version.pk] == {"annotations": 1, "mean_iou": pytest.approx(0.5)}
    # a proposal with nothing on a frame, kept empty by the annotator: full agreement
    empty = ProposalFactory(clip=frames[0].clip, model_version=ModelVersionFactory(project=project), frames=[])
    save(client, frames[1], [], version=None)
    response = client.put(
        f"/api/frames/{frames[1].pk}/annotation/",
        {"instances": [], "version": 1, "source_proposal": empty.pk},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert stats(client, project)[empty.model_version_id] == {"annotations": 1, "mean_iou": pytest.approx(1.0)}


def test_annotations_drawn_without_a_proposal_do_not_count(project, frames, client):
    version = ModelVersionFactory(project=project)
    ProposalFactory(
        clip=frames[0].clip, model_version=version, frames=[{"frame_index": 0, "instances": proposed(LEFT)}]
    )
    save(client, frames[0], [{"mask": LEFT, "label": "dog"}], version=None)
    assert Annotation.objects.get(frame=frames[0]).proposal_iou is None
    assert stats(client, project)[version.pk] == {"annotations": 0, "mean_iou": None}


def test_the_model_version_list_costs_the_same_queries_for_2_or_6_versions(project, client):
    def versions_with_edits(n):
        clip = ClipFactory(project=project)
        for i in range(n):
            version = ModelVersionFactory(project=project)
            frame = FrameFactory(clip=clip, index=i)
            proposal = ProposalFactory(
                clip=clip, model_version=version, frames=[{"frame_index": i, "instances": proposed(LEFT)}]
            )
            AnnotationFactory(frame=frame, source_proposal=proposal, proposal_iou=0.5)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"/api/projects/{project.pk}/model-versions/")
        assert response.status_code == 200
        assert all(row["edit_stats"]["annotations"] == 1 for row in response.json()["results"])
        return len(ctx.captured_queries)

    versions_with_edits(2)
    queries()  # warm-up
    few = queries()
    versions_with_edits(4)
    assert queries() == few


def test_annotations_saved_before_the_upgrade_get_their_iou_from_the_migration(project, frames):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("server.annotations.migrations.0002_annotation_proposal_iou")
    proposal = ProposalFactory(clip=frames[0].clip, frames=[{"frame_index": 0, "instances": proposed(WIDER)}])
    old = AnnotationFactory(frame=frames[0], source_proposal=proposal, instances=[{"mask": LEFT, "label": "dog"}])
    assert old.proposal_iou is None
    migration.backfill_proposal_iou(apps, None)
    old.refresh_from_db()
    assert old.proposal_iou == pytest.approx(0.5)
