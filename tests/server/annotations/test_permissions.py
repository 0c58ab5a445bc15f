"""Who may call which proposal / annotation / review endpoint.

Outsiders (signed in, not members) get 404 as if nothing existed; anonymous callers 401; members
lacking the role 403; managers and superusers pass every role check.
"""

from __future__ import annotations

import pytest

from server.annotations.models import Annotation
from tests.factories import AnnotationFactory, ClipFactory, FrameFactory, ProposalFactory
from tests.server.annotations.conftest import box_mask

pytestmark = pytest.mark.django_db

WHO = ["anonymous", "outsider", "annotator", "reviewer", "manager", "superuser"]
READ = dict(anonymous=401, outsider=404, annotator=200, reviewer=200, manager=200, superuser=200)

# (operation, method, path, body, expected status per caller)
MATRIX = [
    ("proposal list", "get", "/api/clips/{clip}/proposals/", None, READ),
    ("proposal detail", "get", "/api/proposals/{proposal}/", None, READ),
    ("annotation list", "get", "/api/clips/{clip}/annotations/", None, READ),
    ("annotation detail", "get", "/api/frames/{frame}/annotation/", None, READ),
    (
        "annotation update",
        "put",
        "/api/frames/{frame}/annotation/",
        {"instances": [{"mask": box_mask(0, 0, 4, 4), "label": "dog"}], "version": 1},
        dict(anonymous=401, outsider=404, annotator=200, reviewer=403, manager=200, superuser=200),
    ),
    ("revision list", "get", "/api/annotations/{annotation}/revisions/", None, READ),
    ("review list", "get", "/api/annotations/{annotation}/reviews/", None, READ),
    (
        "review create",
        "post",
        "/api/annotations/{annotation}/reviews/",
        {"verdict": "accept", "annotation_version": 1},
        dict(anonymous=401, outsider=404, annotator=403, reviewer=201, manager=201, superuser=201),
    ),
]

CASES = [
    pytest.param(method, path, body, who, expected[who], id=f"{operation}-{who}")
    for operation, method, path, body, expected in MATRIX
    for who in WHO
]


@pytest.mark.parametrize(("method", "path", "body", "who", "expected"), CASES)
def test_permission_matrix(project, actor, client_for, method, path, body, who, expected):
    clip = ClipFactory(project=project)
    frame = FrameFactory(clip=clip)
    annotation = AnnotationFactory(frame=frame, status=Annotation.Status.SUBMITTED)
    proposal = ProposalFactory(clip=clip)
    url = path.format(clip=clip.pk, frame=frame.pk, annotation=annotation.pk, proposal=proposal.pk)

    user = actor(project, who)

    response = getattr(client_for(user), method)(url, body, format="json")

    assert response.status_code == expected, response.data
    if expected == 404:
        assert response.data["message"].endswith("not found.")
    annotation.refresh_from_db()
    if expected == 200 and method == "put":
        assert (annotation.version, annotation.author) == (2, user)
    elif expected == 201:
        assert annotation.status == Annotation.Status.ACCEPTED
    else:  # reads and refusals leave the annotation as it was
        assert (annotation.version, annotation.status) == (1, Annotation.Status.SUBMITTED)
