"""Administrators choose a project's model configuration among the files in the model folder (AVS_MODEL_ROOT),
seeing beforehand what each would run; nothing outside the folder can be chosen, and every configuration obeys the
server's model policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.accounts.models import Role
from server.media.models import Project
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

GOOD = {
    "models": {"clap": {"path": "clap"}, "grounding": {"path": "gd"}, "sam": {"type": "vit_b", "checkpoint": "sam.pth"}}
}


def write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def openavs_set(folder: Path) -> Path:
    """A configuration with its model files (empty stand-ins: what runs is decided from their presence)."""
    (folder / "clap").mkdir(parents=True)
    (folder / "gd").mkdir()
    (folder / "sam.pth").write_bytes(b"")
    return write(folder / "config.json", GOOD)


@pytest.fixture
def folder(tmp_path, settings):
    """The model folder: a usable set, a set whose models are missing, a broken file, a refused builder, a link
    out of the folder, and JSON files that are not configurations or lie too deep."""
    root = tmp_path / "models"
    openavs_set(root / "openavs")
    write(root / "openavs" / "downloads.json", {"files": {}})  # not a configuration: not listed
    write(root / "missing.json", {"models": {**GOOD["models"], "clap": {"path": "absent-clap"}}})
    write(root / "broken.json", {"models": {"clap": {"path": "clap"}}})
    write(root / "builder.json", {"models": {**GOOD["models"], "sam": {"builder": "os:system", "checkpoint": "x"}}})
    write(root / "deep" / "er" / "config.json", GOOD)  # two folders down: not listed
    outside = tmp_path / "outside"
    openavs_set(outside)
    (root / "escape.json").symlink_to(outside / "config.json")
    (root / "linked").symlink_to(outside, target_is_directory=True)  # not entered
    (root / "alias").symlink_to(root / "openavs", target_is_directory=True)  # inside, but not entered either
    settings.AVS_MODEL_ROOT = str(root)
    settings.AVS_MODEL_CONFIG = ""
    return root


@pytest.fixture
def admin(client_for):
    return client_for(UserFactory(is_superuser=True))


def listing(client, project):
    return client.get(f"/api/projects/{project.pk}/model-configs/")


def preview(client, project, config):
    return client.get(f"/api/projects/{project.pk}/model-configs/preview/", {"config": config})


def choose(client, project, config):
    return client.put(f"/api/projects/{project.pk}/model-config/", {"config": config}, format="json")


def test_an_administrator_sees_each_configuration_with_what_it_would_run(project, folder, admin):
    response = listing(admin, project)
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["model_root"] == str(folder.resolve()) and data["current"] == "" and data["model_config"] == ""
    assert (
        data["default_proposer"]["kind"] == "baseline"
        and "no model configuration is set" in data["default_proposer"]["reason"]
    )
    entries = {entry["config"]: entry for entry in data["configs"]}
    assert list(entries) == ["broken.json", "builder.json", "escape.json", "missing.json", "openavs/config.json"]

    assert entries["openavs/config.json"]["proposer"] == {
        "kind": "openavs",
        "name": "openavs(audio_tagging=clap, grounding=gd, sam=sam)",
        "reason": None,
    }
    assert entries["openavs/config.json"]["error"] is None
    assert entries["openavs/config.json"]["path"] == str(folder.resolve() / "openavs" / "config.json")
    missing = entries["missing.json"]["proposer"]
    assert missing["kind"] == "baseline" and "absent-clap': no such model directory" in missing["reason"]
    # The loader's and the model policy's own messages.
    assert entries["broken.json"]["proposer"] is None
    assert "models.grounding" in entries["broken.json"]["error"]
    assert "models.sam.builder = 'os:system': refused" in entries["builder.json"]["error"]
    assert "outside AVS_MODEL_ROOT" in entries["escape.json"]["error"] and entries["escape.json"]["proposer"] is None
    assert not any(entry["current"] for entry in data["configs"])


def test_the_preview_changes_nothing_and_the_choice_is_what_runs(project, folder, admin):
    response = preview(admin, project, "openavs/config.json")
    assert response.status_code == 200, response.json()
    assert response.json()["proposer"]["kind"] == "openavs" and response.json()["note"] is None
    assert Project.objects.get(pk=project.pk).model_config == ""
    assert admin.get(f"/api/projects/{project.pk}/").json()["proposer"]["kind"] == "baseline"

    response = choose(admin, project, "openavs/config.json")
    assert response.status_code == 200, response.json()
    path = str(folder.resolve() / "openavs" / "config.json")
    assert response.json()["model_config"] == path and response.json()["proposer"]["kind"] == "openavs"
    assert Project.objects.get(pk=project.pk).model_config == path
    detail = admin.get(f"/api/projects/{project.pk}/").json()
    assert detail["model_config"] == path and detail["proposer"]["name"].startswith("openavs(")
    listed = listing(admin, project).json()
    assert listed["current"] == "openavs/config.json"
    assert [e["config"] for e in listed["configs"] if e["current"]] == ["openavs/config.json"]

    missing = choose(admin, project, "missing.json")  # valid, models absent: allowed, the baseline runs and says why
    assert missing.status_code == 200 and missing.json()["proposer"]["kind"] == "baseline"
    assert "no such model directory" in missing.json()["proposer"]["reason"]

    back = choose(admin, project, "")  # the server's default again
    assert back.status_code == 200 and back.json()["model_config"] == ""
    assert Project.objects.get(pk=project.pk).model_config == ""


@pytest.mark.parametrize("who", [Role.MANAGER, Role.ANNOTATOR, Role.REVIEWER])
def test_members_who_are_not_administrators_are_refused(project, folder, make_member, client_for, who):
    client = client_for(make_member(project, role=who))
    for response in (listing(client, project), preview(client, project, "openavs/config.json")):
        assert response.status_code == 403
        assert response.json()["message"].startswith("Only administrators can ")
    response = choose(client, project, "openavs/config.json")
    assert response.status_code == 403
    assert response.json()["message"] == (
        "Only administrators can choose the model configuration: a model configuration names files on the servers."
    )
    assert Project.objects.get(pk=project.pk).model_config == ""
    # They still see which proposer runs and why.
    proposer = client.get(f"/api/projects/{project.pk}/").json()["proposer"]
    assert proposer["kind"] == "baseline" and proposer["reason"]


def test_outsiders_get_404(project, folder, client_for):
    assert listing(client_for(UserFactory()), project).status_code == 404
    assert choose(client_for(UserFactory()), project, "openavs/config.json").status_code == 404


@pytest.mark.parametrize(
    "config, message",
    [
        ("../outside/config.json", "is not a configuration of the model folder"),
        ("openavs/../../outside/config.json", "is not a configuration of the model folder"),
        ("/etc/passwd", "is not a configuration of the model folder"),
        ("openavs\\config.json", "is not a configuration of the model folder"),
        ("deep/er/config.json", "is not a configuration of the model folder"),
        ("escape.json", "outside AVS_MODEL_ROOT"),
        ("linked/config.json", "outside AVS_MODEL_ROOT"),
        ("alias/config.json", "lies in a linked folder"),
        ("openavs/downloads.json", "is not a model configuration"),
        ("nothing.json", "There is no configuration 'nothing.json' in the model folder."),
    ],
)
def test_nothing_outside_the_folder_can_be_chosen(project, folder, admin, config, message):
    Project.objects.filter(pk=project.pk).update(model_config=str(folder / "missing.json"))
    for response in (preview(admin, project, config), choose(admin, project, config)):
        assert response.status_code == 400, response.json()
        assert message in response.json()["message"]
        assert response.json()["extra"]["field"] == "config"
    assert Project.objects.get(pk=project.pk).model_config == str(folder / "missing.json")


def test_an_absolute_path_inside_the_folder_is_refused_too(project, folder, admin):
    response = choose(admin, project, str(folder / "openavs" / "config.json"))
    assert response.status_code == 400 and "give its name as listed" in response.json()["message"]


def test_an_invalid_configuration_shows_its_error_and_cannot_be_chosen(project, folder, admin):
    errors = {entry["config"]: entry["error"] for entry in listing(admin, project).json()["configs"]}
    for config in ("broken.json", "builder.json"):
        for response in (preview(admin, project, config), choose(admin, project, config)):
            assert response.status_code == 400
            assert response.json()["message"] == f"'{config}' cannot be used: {errors[config]}"
    assert "AVS_MODEL_ALLOW_CUSTOM_BUILDERS" in errors["builder.json"]
    write(folder / "typo.json", '{"models": {')
    response = choose(admin, project, "typo.json")
    assert response.status_code == 400 and "not valid JSON (line 1" in response.json()["message"]
    assert Project.objects.get(pk=project.pk).model_config == ""


def test_without_a_model_folder_there_is_nothing_to_choose(project, folder, admin, settings):
    settings.AVS_MODEL_ROOT = ""
    data = listing(admin, project).json()
    assert data["model_root"] is None and data["configs"] == []
    response = choose(admin, project, "openavs/config.json")
    assert response.status_code == 400 and response.json()["message"].startswith("AVS_MODEL_ROOT is not set")
