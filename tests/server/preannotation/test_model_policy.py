"""The model policy at use time: a configuration stored before a rule tightened (or written straight into the
database) is refused by the worker with a readable message, and the code it names is never imported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.accounts.models import Role
from server.annotations.preannotation import preannotate_request, preannotate_run
from server.jobs.models import Job
from server.learning.models import ModelVersion
from server.learning.services import model_version_config_hash
from tests.untrusted_code import write_marker_module

pytestmark = pytest.mark.django_db


@pytest.fixture
def untrusted(tmp_path, monkeypatch):
    folder = tmp_path / "code"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return write_marker_module(folder)


def openavs_config(tiny_model_config: Path, **sam) -> dict:
    data = json.loads(tiny_model_config.read_text())
    for settings in data["models"].values():
        for key in ("path", "checkpoint"):
            if key in settings:
                settings[key] = str(tiny_model_config.parent / settings[key])
    data["models"]["sam"].update(sam)
    return data


def stored_version(project, config: dict, name: str = "stored earlier") -> ModelVersion:
    """A version inserted straight into the database (no API, no check)."""
    return ModelVersion.objects.create(
        project=project,
        kind=ModelVersion.Kind.OPENAVS,
        name=name,
        config=config,
        config_hash=model_version_config_hash(config=config),
    )


def test_a_version_stored_before_the_rule_fails_in_the_worker_without_importing_its_builder(
    project, synth_clips, settings, tiny_model_config, untrusted
):
    settings.AVS_MODEL_ALLOW_CUSTOM_BUILDERS = True  # the server allowed custom builders when the job was queued
    version = stored_version(project, openavs_config(tiny_model_config, builder=untrusted.builder))
    job = preannotate_request(project=project, clip_ids=[synth_clips[0].pk], model_version_id=version.pk, enqueue=False)
    settings.AVS_MODEL_ALLOW_CUSTOM_BUILDERS = False  # ... and no longer does when the worker runs it

    job = preannotate_run(job_id=job.pk)
    assert job.status == Job.Status.FAILED
    (entry,) = job.result["clips"]
    assert entry["status"] == "failed" and entry["proposal"] is None
    assert entry["error"].startswith(
        f"Model version {version.pk} (stored earlier) may not run on this server: models.sam.builder = "
        f"'{untrusted.builder}': refused: "
    )
    assert "AVS_MODEL_ALLOW_CUSTOM_BUILDERS=true" in entry["error"] and entry["error"] in job.message
    assert not untrusted.was_imported()


def test_the_request_with_such_a_version_is_refused_readably(
    project, synth_clips, make_member, client_for, tiny_model_config, untrusted
):
    version = stored_version(project, openavs_config(tiny_model_config, builder="os:system"))
    client = client_for(make_member(project, Role.MANAGER))
    response = client.post(f"/api/projects/{project.pk}/preannotate/", {"model_version": version.pk}, format="json")
    assert response.status_code == 400
    assert response.json()["message"].startswith(
        f"Model version {version.pk} (stored earlier) may not run on this server: models.sam.builder = 'os:system'"
    )
    assert response.json()["extra"] == {"field": "model_version"}
    assert not Job.objects.filter(kind=Job.Kind.PREANNOTATE).exists()


def test_a_stored_version_whose_models_lie_outside_avs_model_root_fails_its_clips(
    project, synth_clips, settings, tiny_model_config, tmp_path
):
    version = stored_version(project, openavs_config(tiny_model_config))
    job = preannotate_request(project=project, clip_ids=[synth_clips[0].pk], model_version_id=version.pk, enqueue=False)
    settings.AVS_MODEL_ROOT = str(tmp_path / "models")  # the models moved: the old paths are outside the root
    job = preannotate_run(job_id=job.pk)
    (entry,) = job.result["clips"]
    assert entry["status"] == "failed"
    assert "may not run on this server: models.clap.path = " in entry["error"]
    assert f"refused: model files must lie inside AVS_MODEL_ROOT ({tmp_path / 'models'})" in entry["error"]


def test_a_project_configuration_with_a_custom_builder_runs_the_baseline_and_says_why(
    project, synth_clips, tiny_model_config, tmp_path, untrusted, no_default_models
):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(openavs_config(tiny_model_config, builder=untrusted.builder)))
    project.model_config = str(path)  # set in the database, before the rule
    project.save(update_fields=["model_config"])

    job = preannotate_run(job_id=preannotate_request(project=project, clip_ids=[synth_clips[0].pk], enqueue=False).pk)
    assert job.status == Job.Status.SUCCEEDED
    assert job.result["model_versions"][0]["kind"] == "baseline"
    reason = job.result["model_versions"][0]["reason"]
    assert reason.startswith("the model configuration cannot be used: ")
    assert f"models.sam.builder = '{untrusted.builder}': refused" in reason
    assert not untrusted.was_imported()
