"""Lists at scale: the review queue keeps its documented order now that it reads stored counters, every list endpoint
costs the same number of queries for 3 clips as for 30, and the counts that pages show come from counters instead of
counting rows (benchmarks/scale.py measures the times at 100 000 clips)."""

from __future__ import annotations

import random

import pytest
from django.db import connection
from django.db.models import Case, F, IntegerField, JSONField, OuterRef, Q, Subquery, Value, When
from django.test.utils import CaptureQueriesContext

from server.accounts.models import Role
from server.annotations.models import Annotation, Proposal
from server.core.queries import subquery_count
from server.learning.models import AcquisitionScore
from server.learning.selectors import review_queue_list
from server.learning.services import acquisition_score_record
from server.media.models import Clip, Frame
from server.media.selectors import CLIP_ORDERINGS
from tests.factories import (
    AnnotationFactory,
    ClipFactory,
    FrameFactory,
    JobFactory,
    MembershipFactory,
    ModelVersionFactory,
    ProjectFactory,
    ProposalFactory,
    ReviewFactory,
)

pytestmark = pytest.mark.django_db


# --- the order ------------------------------------------------------------------------------------------------------


def reference_order(*, project_id: int, include_done: bool = False) -> list[int]:
    """The queue's documented order computed the way it was before the counters existed: correlated subqueries over
    every clip (latest score, proposals, accepted and total frames)."""
    latest = AcquisitionScore.objects.filter(clip=OuterRef("pk")).order_by("-created_at", "-id")
    qs = Clip.objects.filter(project_id=project_id, status=Clip.Status.READY).annotate(
        frames_n=subquery_count(Frame, link="clip"),
        proposals_n=subquery_count(Proposal, link="clip"),
        accepted_n=subquery_count(Annotation, link="clip", status=Annotation.Status.ACCEPTED),
        latest_score=Subquery(latest.values("score")[:1]),
        latest_terms=Subquery(latest.values("terms")[:1], output_field=JSONField()),
    )
    qs = qs.annotate(
        proposed=Case(When(proposals_n__gt=0, then=Value(1)), default=Value(0), output_field=IntegerField())
    )
    if not include_done:
        qs = qs.exclude(Q(frames_n__gt=0) & Q(accepted_n=F("frames_n")))
    order = (F("latest_score").desc(nulls_last=True), "-proposed", "accepted_n", "id")
    return list(qs.order_by(*order).values_list("pk", flat=True))


def queue_ids(client, project, **params) -> list[int]:
    response = client.get(f"/api/projects/{project.pk}/review-queue/", {"page_size": 500, **params})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == len(body["results"])
    return [row["id"] for row in body["results"]]


def test_the_queue_order_is_the_documented_rule(project, make_member, client_for):
    client = client_for(make_member(project, Role.ANNOTATOR))
    version = ModelVersionFactory(project=project)

    def clip(name, *, frames=2, scores=(), proposal=False, accepted=0, status=Clip.Status.READY):
        made = ClipFactory(project=project, name=name, status=status)
        made_frames = [FrameFactory(clip=made, index=k) for k in range(frames)]
        if proposal:
            ProposalFactory(clip=made, model_version=version)
        for frame in made_frames[:accepted]:
            AnnotationFactory(frame=frame, status=Annotation.Status.ACCEPTED)
        for score in scores:
            acquisition_score_record(clip=made, score=score)
        return made.pk

    a = clip("a", scores=[0.9])
    b = clip("b", scores=[0.9], proposal=True, accepted=1)  # same score as a: proposals first
    c = clip("c", scores=[0.5], proposal=True)
    i = clip("i", scores=[0.95, 0.1])  # the latest score counts
    d = clip("d", proposal=True)  # never scored: after the scored ones, proposals first...
    e = clip("e", proposal=True, accepted=1)  # ...then the fewest accepted...
    f = clip("f")
    g = clip("g")  # ...then by id
    h = clip("h", scores=[0.99], accepted=2)  # every frame accepted: done
    clip("uploaded", status=Clip.Status.UPLOADED, frames=0, scores=[1.0])  # not ready: never queued

    assert queue_ids(client, project) == [b, a, c, i, d, e, f, g]
    assert queue_ids(client, project, include_done="true") == [h, b, a, c, i, d, e, f, g]
    assert reference_order(project_id=project.pk) == [b, a, c, i, d, e, f, g]


def test_the_queue_order_matches_the_rule_computed_from_the_rows(project, make_member, client_for):
    """Random clips (scores with ties and histories, proposals, accepted frames, clips done): the queue, read from the
    counters and their index, lists the clips exactly as the rule computed from the rows does."""
    rng = random.Random(11)
    client = client_for(make_member(project, Role.ANNOTATOR))
    version = ModelVersionFactory(project=project)
    for n in range(30):
        made = ClipFactory(project=project, name=f"clip{n}")
        frames = [FrameFactory(clip=made, index=k) for k in range(rng.randint(1, 3))]
        if rng.random() < 0.5:
            ProposalFactory(clip=made, model_version=version)
        for frame in frames[: rng.randint(0, len(frames))]:
            AnnotationFactory(frame=frame, status=rng.choice(["accepted", "accepted", "submitted", "draft"]))
        for _ in range(rng.choice([0, 0, 1, 2])):
            acquisition_score_record(clip=made, score=rng.choice([0.1, 0.5, 0.5, 0.9]))
    for include_done in (False, True):
        expected = reference_order(project_id=project.pk, include_done=include_done)
        assert list(
            review_queue_list(project_id=project.pk, include_done=include_done).values_list("pk", flat=True)
        ) == (expected)
        assert queue_ids(client, project, **({"include_done": "true"} if include_done else {})) == expected


# --- query counts ---------------------------------------------------------------------------------------------------


def project_with_clips(project, n: int) -> dict:
    version = ModelVersionFactory(project=project)
    last = None
    for k in range(n):
        clip = ClipFactory(project=project, name=f"clip{k}.mp4")
        frames = [FrameFactory(clip=clip, index=i) for i in range(2)]
        proposal = ProposalFactory(clip=clip, model_version=version)
        annotation = AnnotationFactory(
            frame=frames[0], status=("submitted", "accepted")[k % 2], source_proposal=proposal, proposal_iou=0.7
        )
        ReviewFactory(annotation=annotation)
        acquisition_score_record(clip=clip, score=k / n)
        JobFactory(project=project, target=clip)
        last = {"clip": clip.pk, "frame": frames[0].pk}
    return last


def urls(project, last: dict) -> dict[str, str]:
    p = project.pk
    out = {
        "project detail": f"/api/projects/{p}/",
        "project list": "/api/projects/",
        "clip list": f"/api/projects/{p}/clips/",
        "clip list by status": f"/api/projects/{p}/clips/?status=ready",
        "clip list search": f"/api/projects/{p}/clips/?search=clip1",
        "review queue": f"/api/projects/{p}/review-queue/",
        "review queue with done": f"/api/projects/{p}/review-queue/?include_done=true",
        "project annotations": f"/api/projects/{p}/annotations/",
        "project annotations submitted": f"/api/projects/{p}/annotations/?status=submitted",
        "project annotations of a clip": f"/api/projects/{p}/annotations/?clip={last['clip']}",
        "model versions": f"/api/projects/{p}/model-versions/",
        "jobs": f"/api/projects/{p}/jobs/",
        "frame annotation": f"/api/frames/{last['frame']}/annotation/",
        "clip detail": f"/api/clips/{last['clip']}/",
        "clip annotations": f"/api/clips/{last['clip']}/annotations/",
        "clip proposals": f"/api/clips/{last['clip']}/proposals/",
    }
    for field in CLIP_ORDERINGS:
        for ordering in (field, f"-{field}"):
            out[f"clip list by {ordering}"] = f"/api/projects/{p}/clips/?ordering={ordering}"
    return out


def queries_of(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.content)
    return [q["sql"] for q in captured.captured_queries]


def test_list_queries_do_not_grow_with_the_number_of_clips(make_member, client_for):
    small, large = ProjectFactory(), ProjectFactory()
    member = make_member(small, Role.MANAGER)
    MembershipFactory(project=large, user=member, role=Role.MANAGER)
    client = client_for(member)
    few, many = project_with_clips(small, 3), project_with_clips(large, 30)
    few_urls, many_urls = urls(small, few), urls(large, many)
    counts = {
        name: (len(queries_of(client, few_urls[name])), len(queries_of(client, many_urls[name]))) for name in few_urls
    }
    grew = {name: pair for name, pair in counts.items() if pair[0] != pair[1]}
    assert not grew, grew


def test_pages_read_their_counts_from_counters_instead_of_counting_clips(project, make_member, client_for):
    client = client_for(make_member(project, Role.MANAGER))
    last = project_with_clips(project, 4)
    every = urls(project, last)

    def counted(sql: str) -> bool:
        return sql.startswith("SELECT COUNT(*)")

    # The project's counts: no query reads its clips at all.
    for name in ("project detail", "project list"):
        assert not [sql for sql in queries_of(client, every[name]) if '"media_clip"' in sql], name
    # Lists count with the counters, except a search or one clip's annotations (counted: they are few).
    for name in (
        "clip list",
        "clip list by status",
        "review queue",
        "review queue with done",
        "project annotations",
        "project annotations submitted",
    ):
        assert not [sql for sql in queries_of(client, every[name]) if counted(sql)], name
    assert [sql for sql in queries_of(client, every["clip list search"]) if counted(sql)]

    body = client.get(every["project detail"]).json()
    assert body["clip_counts"] == {"total": 4, "uploaded": 0, "processing": 0, "ready": 4, "failed": 0}
    assert client.get(every["clip list by status"]).json()["count"] == 4
    assert client.get(every["project annotations submitted"]).json()["count"] == 2
    assert client.get(f"/api/projects/{project.pk}/annotations/?status=draft").json()["count"] == 0
    assert client.get(every["review queue"]).json()["count"] == 4  # 2 frames each, at most 1 accepted: none done
