"""Configs that name code or files are an administrator's decision, and every one obeys the server's model policy
(AVS_MODEL_ROOT, AVS_MODEL_ALLOW_NETWORK, AVS_MODEL_ALLOW_CUSTOM_BUILDERS). Nothing a refused config names is
ever imported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.accounts.models import Role
from server.learning.models import ModelVersion
from tests.factories import UserFactory
from tests.untrusted_code import write_marker_module

pytestmark = pytest.mark.django_db


@pytest.fixture
def untrusted(tmp_path, monkeypatch):
    folder = tmp_path / "code"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return write_marker_module(folder)


def openavs_config(tiny_model_config: Path, **sam) -> dict:
    """The tiny models' configuration with absolute model paths (what an administrator registers)."""
    data = json.loads(tiny_model_config.read_text())
    for settings in data["models"].values():
        for key in ("path", "checkpoint"):
            if key in settings:
                settings[key] = str(tiny_model_config.parent / settings[key])
    data["models"]["sam"].update(sam)
    return data


def register(client, project, config: dict, kind: str = "openavs", **extra):
    body = {"kind": kind, "name": "v", "config": config, **extra}
    return client.post(f"/api/projects/{project.pk}/model-versions/", body, format="json")


@pytest.fixture
def admin(client_for):
    return client_for(UserFactory(is_superuser=True))


def test_a_manager_cannot_register_a_config_naming_code_or_files(
    project, make_member, client_for, tiny_model_config, untrusted
):
    manager = client_for(make_member(project, role=Role.MANAGER))
    for config, kind, extra, named in [
        (openavs_config(tiny_model_config, builder=untrusted.builder), "openavs", {}, "config.models.sam.builder"),
        (openavs_config(tiny_model_config, builder="os:system"), "openavs", {}, "config.models.clap.path"),
        ({"round": 1, "weights_path": "/srv/models/x.pt"}, "student", {}, "config.weights_path"),
        ({"round": 1, "init": "/etc/shadow"}, "student", {}, "config.init"),
        ({"round": 1}, "student", {"checkpoint_path": "/srv/models/r1.pt"}, "checkpoint_path"),
    ]:
        response = register(manager, project, config, kind, **extra)
        assert response.status_code == 403, response.json()
        body = response.json()
        assert body["message"].startswith(
            "Only administrators can register a model version whose config names code or files on the servers ("
        )
        assert named in body["extra"]["names"]
    assert not ModelVersion.objects.exists()
    assert not untrusted.was_imported()
    assert register(manager, project, {"round": 1, "lr": 0.001}, "student").status_code == 201  # parameters only


def test_an_administrator_s_config_with_a_custom_builder_is_refused_without_importing_it(
    project, admin, settings, tiny_model_config, untrusted
):
    response = register(admin, project, openavs_config(tiny_model_config, builder=untrusted.builder))
    assert response.status_code == 400
    message = response.json()["message"]
    assert message.startswith(f"config: models.sam.builder = '{untrusted.builder}': refused: ")
    assert "AVS_MODEL_ALLOW_CUSTOM_BUILDERS=true" in message
    response = register(admin, project, openavs_config(tiny_model_config, builder="os:system"))
    assert response.status_code == 400 and "models.sam.builder = 'os:system': refused" in response.json()["message"]

    settings.AVS_MODEL_ALLOW_CUSTOM_BUILDERS = True  # the administrator allows custom builders on this server
    assert register(admin, project, openavs_config(tiny_model_config, builder=untrusted.builder)).status_code == 201
    assert not untrusted.was_imported()  # registering checks; it never imports
    assert register(admin, project, openavs_config(tiny_model_config)).status_code == 201  # ml_backend's builder


def test_model_paths_must_lie_inside_avs_model_root(project, admin, settings, tiny_model_config, tmp_path):
    root = tiny_model_config.parent
    settings.AVS_MODEL_ROOT = str(root)
    assert register(admin, project, openavs_config(tiny_model_config)).status_code == 201

    config = openavs_config(tiny_model_config)
    config["models"]["clap"]["path"] = f"{root}/../../etc"
    response = register(admin, project, config)
    assert response.status_code == 400
    assert response.json()["message"].startswith(f"config: models.clap.path = '{(root / '../../etc').resolve()}': ")
    assert f"refused: model files must lie inside AVS_MODEL_ROOT ({root.resolve()})" in response.json()["message"]

    outside = tmp_path / "elsewhere.pth"
    outside.write_bytes(b"")
    link = root / f"link-{tmp_path.name}.pth"
    link.symlink_to(outside)
    try:
        response = register(admin, project, openavs_config(tiny_model_config, checkpoint=str(link)))
    finally:
        link.unlink()
    assert response.status_code == 400
    assert "models.sam.checkpoint" in response.json()["message"] and "AVS_MODEL_ROOT" in response.json()["message"]

    relative = json.loads(tiny_model_config.read_text())  # "clap", "sam/tiny_sam.pth": relative to what?
    response = register(admin, project, relative)
    assert response.status_code == 400
    assert response.json()["message"] == (
        "config: models.clap.path: expected an absolute path (this configuration has no folder), got 'clap'"
    )

    settings.AVS_MODEL_ROOT = ""  # production without a model folder refuses every configuration
    response = register(admin, project, openavs_config(tiny_model_config) | {"device": "cpu"})
    assert response.status_code == 400 and "AVS_MODEL_ROOT is not set" in response.json()["message"]
    settings.AVS_MODEL_ROOT_REQUIRED = False  # the local settings of `make run`: any path
    assert register(admin, project, openavs_config(tiny_model_config) | {"device": "cpu"}).status_code == 201


def test_allow_network_is_refused_unless_the_setting_allows_it(project, admin, settings, tiny_model_config):
    config = openavs_config(tiny_model_config) | {"allow_network": True}
    config["models"]["clap"]["path"] = "laion/clap-htsat-unfused"
    response = register(admin, project, config)
    assert response.status_code == 400
    assert response.json()["message"].startswith("config: allow_network = true: refused: ")
    assert "AVS_MODEL_ALLOW_NETWORK=true" in response.json()["message"]
    settings.AVS_MODEL_ALLOW_NETWORK = True
    assert register(admin, project, config).status_code == 201


def test_a_project_s_model_config_must_lie_inside_avs_model_root(
    project, settings, client_for, tiny_model_config, tmp_path
):
    admin = client_for(UserFactory(is_superuser=True))
    url = f"/api/projects/{project.pk}/"
    settings.AVS_MODEL_ROOT = str(tiny_model_config.parent)
    assert admin.patch(url, {"model_config": str(tiny_model_config)}, format="json").status_code == 200

    elsewhere = tmp_path / "config.json"
    elsewhere.write_text(tiny_model_config.read_text())
    response = admin.patch(url, {"model_config": str(elsewhere)}, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == (
        f"model_config must lie inside AVS_MODEL_ROOT ({tiny_model_config.parent.resolve()}): {elsewhere} does not."
    )
    link = tiny_model_config.parent / f"{tmp_path.name}.json"
    link.symlink_to(elsewhere)
    try:
        response = admin.patch(url, {"model_config": str(link)}, format="json")
    finally:
        link.unlink()
    assert response.status_code == 400 and f"(it resolves to {elsewhere.resolve()})" in response.json()["message"]
    project.refresh_from_db()
    assert project.model_config == str(tiny_model_config)
