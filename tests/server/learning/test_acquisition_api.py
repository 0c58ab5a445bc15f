"""A project's acquisition strategy (GET/PUT /api/projects/{id}/acquisition-strategy/), the review queue's reasons
and the next-batch endpoint (POST /api/projects/{id}/queue/batch/): validation, permissions, query counts.
Scoring real proposals is in tests/server/preannotation/test_acquisition.py."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from server.accounts.models import Role
from server.learning.acquisition import acquisition_score_store
from server.learning.models import AcquisitionSettings
from tests.factories import ClipFactory, FrameFactory, ModelVersionFactory, UserFactory

pytestmark = pytest.mark.django_db


def url(project, what="acquisition-strategy"):
    return f"/api/projects/{project.pk}/{what}/"


def scored_clip(project, score: float, *, top="topk_entropy", value=0.8):
    clip = ClipFactory(project=project)
    FrameFactory(clip=clip, index=0)
    acquisition_score_store(
        clip=clip,
        model_version=ModelVersionFactory(project=project),
        score=score,
        strategy="combined",
        terms={top: {"value": value, "weight": 0.35, "contribution": score}},
        top_term=top,
    )
    return clip


def test_the_default_strategy_is_combined(project, make_member, client_for):
    response = client_for(make_member(project, Role.ANNOTATOR)).get(url(project))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["strategy"] == {"name": "combined"}
    assert body["settings"]["name"] == "combined" and body["settings"]["diverse"] is True
    assert set(body["strategies"]) >= {"random", "entropy", "topk_entropy", "disagreement", "combined"}
    assert body["terms"]["disagreement"] == "teacher–student disagreement"
    assert body["updated_by"] is None


def test_a_manager_sets_the_strategy(project, make_member, client_for):
    manager = make_member(project, Role.MANAGER)
    client = client_for(manager)
    chosen = {"name": "combined", "weights": {"disagreement": 2, "topk_entropy": 1}, "diverse": False}
    response = client.put(url(project), {"strategy": chosen, "rescore": False}, format="json")
    assert response.status_code == 200, response.content
    body = client.get(url(project)).json()
    assert body["strategy"] == chosen and body["settings"]["weights"] == {"disagreement": 2.0, "topk_entropy": 1.0}
    assert body["updated_by"] == manager.username

    response = client.put(url(project), {"strategy": "entropy", "rescore": False}, format="json")
    assert response.json()["strategy"] == {"name": "entropy"}  # a bare name is a strategy with its defaults
    assert response.json()["settings"]["weights"] == {"entropy": 1.0}


@pytest.mark.parametrize(
    ("strategy", "setting"),
    [
        ({"name": "combined", "weights": {"temporal": -1}}, "acquisition.weights.temporal"),
        ({"name": "combined", "weights": {"loudness": 1}}, "acquisition.weights.loudness"),
        ({"name": "most-uncertain"}, "acquisition.name"),
        ("most-uncertain", "acquisition.name"),
        ({"name": "combined", "top_fraction": 2}, "acquisition.top_fraction"),
        ({"name": "entropy", "frame_reduction": "median"}, "acquisition.frame_reduction"),
        ({"name": "combined", "speed": 3}, "acquisition.speed"),
        ({"weights": {"entropy": 1}}, "acquisition.name"),
        ([1, 2], "acquisition"),
    ],
)
def test_an_invalid_strategy_is_refused_naming_the_setting_and_nothing_changes(
    project, make_member, client_for, strategy, setting
):
    client = client_for(make_member(project, Role.MANAGER))
    response = client.put(url(project), {"strategy": strategy}, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["message"].startswith("Invalid acquisition strategy: " + setting)
    assert body["extra"] == {"field": "strategy", "setting": setting}
    assert not AcquisitionSettings.objects.filter(project=project).exists()
    assert client.get(url(project)).json()["strategy"] == {"name": "combined"}


@pytest.mark.parametrize(
    ("who", "read", "write"),
    [
        ("annotator", 200, 403),
        ("reviewer", 200, 403),
        ("manager", 200, 200),
        ("outsider", 404, 404),
        ("anonymous", 401, 401),
    ],
)
def test_members_read_the_strategy_and_queue_managers_change_it_and_pick_batches(
    project, make_member, client_for, who, read, write
):
    scored_clip(project, 0.5)
    user = None if who == "anonymous" else UserFactory() if who == "outsider" else make_member(project, role=who)
    client = client_for(user)
    assert client.get(url(project)).status_code == read
    assert client.get(url(project, "review-queue")).status_code == read
    put = client.put(url(project), {"strategy": "entropy", "rescore": False}, format="json")
    assert put.status_code == write, put.content
    batch = client.post(url(project, "queue/batch"), {"size": 3}, format="json")
    assert batch.status_code == write, batch.content
    if write == 403:
        assert "manager" in put.json()["message"]
        assert not AcquisitionSettings.objects.filter(project=project).exists()


def test_the_queue_shows_each_clips_reason_and_costs_the_same_queries_for_2_or_6_clips(
    project, make_member, client_for
):
    client = client_for(make_member(project, Role.ANNOTATOR))

    def count():
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url(project, "review-queue"))
        assert response.status_code == 200
        return len(ctx.captured_queries), response.json()["results"]

    high = scored_clip(project, 0.9, top="disagreement", value=0.95)
    scored_clip(project, 0.2)
    count()  # warm-up
    small, rows = count()
    assert rows[0]["id"] == high.pk
    assert rows[0]["acquisition_reason"] == "teacher–student disagreement 0.95 (combined)"
    assert (rows[0]["acquisition_top_term"], rows[0]["acquisition_top_value"]) == ("disagreement", 0.95)
    for i in range(4):
        scored_clip(project, 0.1 * i)
    large, rows = count()
    assert len(rows) == 6 and large == small


def test_a_score_without_terms_has_no_reason(project, make_member, client_for):
    clip = ClipFactory(project=project)
    acquisition_score_store(clip=clip, score=0.4)
    (row,) = client_for(make_member(project, Role.ANNOTATOR)).get(url(project, "review-queue")).json()["results"]
    assert row["acquisition_score"] == 0.4
    assert row["acquisition_reason"] is None and row["acquisition_strategy"] is None


def test_without_embeddings_the_batch_goes_by_score_and_says_so(project, make_member, client_for):
    clips = [scored_clip(project, s) for s in (0.3, 0.9, 0.6)]
    ClipFactory(project=project)  # never scored: never picked
    client = client_for(make_member(project, Role.MANAGER))
    response = client.post(url(project, "queue/batch"), {"size": 2}, format="json")
    assert response.status_code == 200, response.content
    batch = response.json()
    assert [c["id"] for c in batch["clips"]] == [clips[1].pk, clips[2].pk]
    assert batch["method"] == "top_k" and "no clip embeddings" in batch["reason"]
    assert batch["unscored"] == 1 and batch["near_duplicates"] == []
    assert batch["clips"][0]["reason"] == "top-k pixel entropy 0.80 (combined)"


@pytest.mark.parametrize("size", [0, 101, "ten", None])
def test_a_batch_size_out_of_range_is_refused(project, make_member, client_for, size):
    client = client_for(make_member(project, Role.MANAGER))
    response = client.post(url(project, "queue/batch"), {"size": size}, format="json")
    assert response.status_code == 400
    assert "size" in response.json()["extra"]["fields"]
