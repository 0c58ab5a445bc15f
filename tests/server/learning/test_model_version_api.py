"""Model versions: listed with metrics; registered by managers; one version per config."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from server.accounts.models import Role
from server.core.errors import ConflictError
from server.learning.models import ModelVersion
from server.learning.services import model_version_config_hash, model_version_get_or_create
from tests.factories import ModelVersionFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db

WHO = ["anonymous", "outsider", "annotator", "reviewer", "manager", "superuser"]
READ = dict(anonymous=401, outsider=404, annotator=200, reviewer=200, manager=200, superuser=200)
CREATE = dict(anonymous=401, outsider=404, annotator=403, reviewer=403, manager=201, superuser=201)

MATRIX = [
    ("list", "get", "/api/projects/{project}/model-versions/", None, READ),
    ("detail", "get", "/api/model-versions/{version}/", None, READ),
    (
        "create",
        "post",
        "/api/projects/{project}/model-versions/",
        {"kind": "student", "name": "student r1", "config": {"round": 1}},
        CREATE,
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "who", "expected"),
    [
        pytest.param(method, path, body, who, expected[who], id=f"{name}-{who}")
        for name, method, path, body, expected in MATRIX
        for who in WHO
    ],
)
def test_permission_matrix(project, actor, client_for, method, path, body, who, expected):
    version = ModelVersionFactory(project=project)
    url = path.format(project=project.pk, version=version.pk)
    response = getattr(client_for(actor(project, who)), method)(url, body, format="json")
    assert response.status_code == expected, response.data
    assert ModelVersion.objects.count() == (2 if expected == 201 else 1)


def test_manager_registers_a_version_and_the_same_config_returns_it(project, make_member, client_for):
    client = client_for(make_member(project, role=Role.MANAGER))
    url = f"/api/projects/{project.pk}/model-versions/"
    # A config of parameters only (it names no code and no file: managers may register it).
    config = {"sam": {"size": "vit_b"}, "grounding": "grounding-dino-tiny", "box_threshold": 0.3}

    created = client.post(url, {"kind": "student", "name": "student r1", "config": config}, format="json")
    assert created.status_code == 201, created.data
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    assert created.data["config_hash"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert created.data["config"] == config

    # Same config, keys in another order, another display name: the same version, 200.
    reordered = {"box_threshold": 0.3, "grounding": "grounding-dino-tiny", "sam": {"size": "vit_b"}}
    again = client.post(url, {"kind": "student", "name": "student r1 again", "config": reordered}, format="json")
    assert again.status_code == 200
    assert again.data["id"] == created.data["id"]
    assert again.data["name"] == "student r1"

    other = client.post(
        url, {"kind": "student", "name": "student r1", "config": {**config, "box_threshold": 0.35}}, format="json"
    )
    assert other.status_code == 201
    assert other.data["id"] != created.data["id"]
    assert ModelVersion.objects.filter(project=project).count() == 2


def test_same_config_in_another_project_is_another_version(project):
    other_project = ProjectFactory()
    first, _ = model_version_get_or_create(project=project, kind="student", name="s", config={"round": 1})
    second, created = model_version_get_or_create(project=other_project, kind="student", name="s", config={"round": 1})
    assert created and first.pk != second.pk and first.config_hash == second.config_hash


def test_same_config_with_another_checkpoint_is_refused(project):
    model_version_get_or_create(
        project=project, kind="student", name="s", config={"round": 1}, checkpoint_path="/ckpt/a.pt"
    )
    with pytest.raises(ConflictError) as err:
        model_version_get_or_create(
            project=project, kind="student", name="s", config={"round": 1}, checkpoint_path="/ckpt/b.pt"
        )
    assert "a different model needs a different config" in err.value.message


def test_config_hash_ignores_key_order_and_spacing():
    assert model_version_config_hash(config={"a": 1, "b": [1, 2]}) == model_version_config_hash(
        config={"b": [1, 2], "a": 1}
    )
    assert model_version_config_hash(config={"a": 1}) == hashlib.sha256(b'{"a":1}').hexdigest()


def test_invalid_input_is_refused_readably(project, make_member, client_for):
    client = client_for(make_member(project, role=Role.MANAGER))
    url = f"/api/projects/{project.pk}/model-versions/"
    bad_kind = client.post(url, {"kind": "magic", "name": "x", "config": {}}, format="json")
    assert bad_kind.status_code == 400
    assert bad_kind.data["message"] == 'kind: "magic" is not a valid choice.'
    not_object = client.post(url, {"kind": "student", "name": "x", "config": [1, 2]}, format="json")
    assert not_object.status_code == 400
    assert not_object.data["message"].startswith("config: ")


def test_list_shows_metrics_newest_first_and_filters_by_kind(project, make_member, client_for):
    old = ModelVersionFactory(project=project, kind="openavs", metrics={"miou": 0.41, "f_score": 0.52})
    new = ModelVersionFactory(project=project, kind="student", metrics={"miou": 0.55, "f_score": 0.63})
    ModelVersionFactory()  # another project's
    client = client_for(make_member(project, role=Role.ANNOTATOR))

    listed = client.get(f"/api/projects/{project.pk}/model-versions/").data
    assert [(v["id"], v["metrics"]) for v in listed["results"]] == [(new.pk, new.metrics), (old.pk, old.metrics)]
    students = client.get(f"/api/projects/{project.pk}/model-versions/?kind=student").data
    assert [v["id"] for v in students["results"]] == [new.pk]
    detail = client.get(f"/api/model-versions/{old.pk}/").data
    assert (detail["kind"], detail["metrics"], detail["config_hash"]) == ("openavs", old.metrics, old.config_hash)


def test_list_queries_do_not_grow_with_versions(client_for):
    small, large = ProjectFactory(), ProjectFactory()
    for project, n in ((small, 2), (large, 6)):
        ModelVersionFactory.create_batch(n, project=project)
    client = client_for(UserFactory(is_superuser=True))

    def count(project, n: int) -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"/api/projects/{project.pk}/model-versions/")
        assert response.data["count"] == n
        return len(ctx.captured_queries)

    count(small, 2)
    assert count(small, 2) == count(large, 6)
