"""Pre-annotating ingested synthetic clips in this process (eager Celery): what a manager sees on the job, the
proposals, the model versions and the project's `proposer`."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest
from django.core.management import call_command

from ml_backend.foundation.registry import ModelCache, model_registry
from ml_backend.media.synth import make_clips
from server.accounts.models import Role
from server.annotations.models import Proposal
from server.annotations.preannotation import clip_preannotate, preannotate_request, preannotate_run
from server.core.masks import rle_decode
from server.jobs.models import Job
from server.learning.models import ModelVersion
from server.learning.services import model_version_config_hash
from tests.factories import ProjectFactory, UserFactory
from tests.server.preannotation.conftest import SYNTH_SIZE

pytestmark = pytest.mark.django_db


def config_variant(tiny_model_config: Path, folder: Path, name: str = "config.json", **models: dict) -> Path:
    """A copy of the tiny models' configuration at another place, model paths made absolute, `models` merged in."""
    data = json.loads(tiny_model_config.read_text())
    for settings in data["models"].values():
        for key in ("path", "checkpoint"):
            if settings and key in settings:
                settings[key] = str(tiny_model_config.parent / settings[key])
    for key, value in models.items():
        data["models"][key].update(value)
    path = folder / name
    path.write_text(json.dumps(data))
    return path


def run(project, **kwargs) -> Job:
    """Request a pre-annotation and run it here, clip after clip (what `manage.py preannotate --sync` does)."""
    propose = kwargs.pop("propose", None)
    job = preannotate_request(project=project, enqueue=False, **kwargs)
    return preannotate_run(job_id=job.pk, propose=propose)


class CountingPropose:
    """`propose_stored_clip` that counts its calls."""

    def __init__(self):
        from ml_backend.serving import propose_stored_clip

        self.inner = propose_stored_clip
        self.calls = 0

    def __call__(self, **kwargs):
        self.calls += 1
        return self.inner(**kwargs)


def test_manager_preannotates_every_clip_with_the_configured_openavs_models(
    tiny_project, synth_clips, make_member, client_for, django_capture_on_commit_callbacks
):
    client = client_for(make_member(tiny_project, Role.MANAGER))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/projects/{tiny_project.pk}/preannotate/", {}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["kind"] == "preannotate" and body["status"] == "queued"
    assert [c["clip"] for c in body["result"]["clips"]] == [c.pk for c in synth_clips]

    job = client.get(f"/api/jobs/{body['id']}/").json()
    assert job["status"] == "succeeded" and job["progress"] == 100, job
    assert job["result"]["outcome"] == "succeeded"
    assert job["result"]["counts"] == {"total": 3, "done": 3, "skipped": 0, "failed": 0}
    assert job["message"].startswith("Pre-annotated 3 clips with openavs(")

    (version,) = ModelVersion.objects.filter(project=tiny_project)
    assert version.kind == ModelVersion.Kind.OPENAVS and version.name.startswith("openavs(audio_tagging=clap")
    assert version.config_hash == model_version_config_hash(config=version.config)
    specs = make_clips(clips=len(synth_clips), seed=3, layout="s4", frames=5, size=SYNTH_SIZE)  # `synth_videos`' clips
    for clip, spec in zip(synth_clips, specs, strict=True):
        (proposal,) = Proposal.objects.filter(clip=clip)
        assert proposal.model_version == version
        frames = {f.index: (f.height, f.width) for f in clip.frames.all()}
        assert [entry["frame_index"] for entry in proposal.frames] == sorted(frames)
        for entry in proposal.frames:
            # the tiny detector boxes something on every frame it searches: those whose window sounds (no masks on
            # a silent window)
            assert bool(entry["instances"]) == spec.audible(entry["frame_index"]), (clip.name, entry["frame_index"])
            # and the stored proposal says why: the frame's window was silent
            assert entry["provenance"]["silent"] == (not spec.audible(entry["frame_index"]))
            if entry["provenance"]["silent"]:
                assert "silent window" in entry["provenance"]["reason"]
            for instance in entry["instances"]:
                assert tuple(instance["mask"]["size"]) == frames[entry["frame_index"]] == (224, 224)
                assert rle_decode(instance["mask"]).shape == (224, 224)
        # what the annotator sees: the clip's proposals list
        listed = client.get(f"/api/clips/{clip.pk}/proposals/").json()["results"]
        assert [p["model_version"]["kind"] for p in listed] == ["openavs"]
        assert [f["provenance"]["silent"] for f in listed[0]["frames"]] == [
            not spec.audible(f["frame_index"]) for f in listed[0]["frames"]
        ]


def test_running_again_skips_clips_that_have_the_versions_proposal(
    tiny_project, synth_clips, synth_videos, ingest_clip
):
    first = run(tiny_project)
    assert first.result["counts"]["done"] == 3

    propose = CountingPropose()
    again = run(tiny_project, propose=propose)
    assert again.status == Job.Status.SUCCEEDED
    assert again.result["counts"] == {"total": 3, "done": 0, "skipped": 3, "failed": 0}
    assert propose.calls == 0  # skipped before any model runs
    assert "3 already had this model's proposal (skipped)" in again.message

    new_clip = ingest_clip(tiny_project, synth_videos[3])
    third = run(tiny_project, propose=propose)
    assert propose.calls == 1
    assert {e["clip"]: e["status"] for e in third.result["clips"]}[new_clip.pk] == "done"
    assert ModelVersion.objects.filter(project=tiny_project).count() == 1
    assert Proposal.objects.filter(clip__project=tiny_project).count() == 4


def test_the_same_configuration_maps_to_the_same_model_version(tiny_project, synth_clips, tiny_model_config, tmp_path):
    first = run(tiny_project, clip_ids=[synth_clips[0].pk])
    # The same models named by another file (absolute paths): the same configuration, the same version.
    tiny_project.model_config = str(config_variant(tiny_model_config, tmp_path))
    tiny_project.save()
    second = run(tiny_project, clip_ids=[synth_clips[1].pk])
    assert first.result["model_versions"] == second.result["model_versions"]
    assert ModelVersion.objects.filter(project=tiny_project).count() == 1
    # Re-running that version by id on the last clip stores under it too.
    version = ModelVersion.objects.get(project=tiny_project)
    third = run(tiny_project, clip_ids=[synth_clips[2].pk], model_version_id=version.pk)
    assert third.result["counts"]["done"] == 1
    assert set(Proposal.objects.values_list("model_version", flat=True)) == {version.pk}


def test_models_are_loaded_once_for_all_clips_of_a_job(tiny_project, synth_clips):
    from ml_backend.serving import propose_stored_clip

    calls: dict[str, int] = {}

    def counting(kind):
        def load(settings, context):
            calls[kind] = calls.get(kind, 0) + 1
            return model_registry[kind](settings, context)

        return load

    cache = ModelCache({kind: counting(kind) for kind in model_registry})
    job = run(tiny_project, propose=partial(propose_stored_clip, cache=cache))
    assert job.result["counts"]["done"] == 3
    assert calls == {"clap": 1, "grounding": 1, "sam": 1, "llm": 1}


def test_an_unconfigured_project_runs_the_baseline_and_says_why(
    project, synth_clips, no_default_models, make_member, client_for
):
    client = client_for(make_member(project, Role.MANAGER))
    proposer = client.get(f"/api/projects/{project.pk}/").json()["proposer"]
    assert proposer["kind"] == "baseline" and proposer["name"] == "synchrony-baseline"
    assert "no model configuration is set" in proposer["reason"] and "AVS_MODEL_CONFIG" in proposer["reason"]

    job = run(project)
    assert job.status == Job.Status.SUCCEEDED and job.result["counts"]["done"] == 3
    (version,) = ModelVersion.objects.filter(project=project)
    assert version.kind == ModelVersion.Kind.BASELINE and version.name == "synchrony-baseline"
    assert version.note == proposer["reason"]
    assert "The weight-free baseline ran: no model configuration is set" in job.message
    versions = client.get(f"/api/projects/{project.pk}/model-versions/").json()["results"]
    assert [(v["kind"], v["note"]) for v in versions] == [("baseline", proposer["reason"])]


def test_missing_model_files_mean_the_baseline_named_in_the_project(
    project, synth_clips, tiny_model_config, tmp_path, make_member, client_for
):
    missing = tmp_path / "nowhere" / "sam.pth"
    project.model_config = str(config_variant(tiny_model_config, tmp_path, sam={"checkpoint": str(missing)}))
    project.save()
    client = client_for(make_member(project, Role.ANNOTATOR))
    proposer = client.get(f"/api/projects/{project.pk}/").json()["proposer"]
    assert proposer["kind"] == "baseline"
    assert f"models.sam.checkpoint = '{missing}': no such checkpoint file" in proposer["reason"]
    job = run(project, clip_ids=[synth_clips[0].pk])
    assert job.result["model_versions"][0]["kind"] == "baseline"


def test_models_that_fail_to_load_in_the_worker_fall_back_to_the_baseline_and_the_project_says_so(
    project, synth_clips, tiny_model_config, tmp_path, make_member, client_for
):
    damaged = tmp_path / "damaged.pth"
    damaged.write_bytes(b"not a checkpoint")
    project.model_config = str(config_variant(tiny_model_config, tmp_path, sam={"checkpoint": str(damaged)}))
    project.save()
    client = client_for(make_member(project, Role.MANAGER))
    assert client.get(f"/api/projects/{project.pk}/").json()["proposer"]["kind"] == "openavs"  # files are there

    job = run(project, clip_ids=[synth_clips[0].pk])
    assert job.status == Job.Status.SUCCEEDED
    assert "models.sam.checkpoint" in job.result["fallback"]["reason"]
    (version,) = ModelVersion.objects.filter(project=project)
    assert version.kind == ModelVersion.Kind.BASELINE and "models.sam.checkpoint" in version.note

    proposer = client.get(f"/api/projects/{project.pk}/").json()["proposer"]
    assert proposer["kind"] == "baseline"
    assert "models.sam.checkpoint" in proposer["reason"] and f"job {job.pk}" in proposer["reason"]


def test_an_invalid_configuration_file_means_the_baseline_with_the_files_problem(
    project, tmp_path, make_member, client_for
):
    broken = tmp_path / "config.json"
    broken.write_text('{"models": {"clap": {"path": "x"}}}')
    project.model_config = str(broken)
    project.save()
    proposer = client_for(make_member(project)).get(f"/api/projects/{project.pk}/").json()["proposer"]
    assert proposer["kind"] == "baseline"
    assert "the model configuration cannot be used" in proposer["reason"] and "models.grounding" in proposer["reason"]


def test_a_clip_without_audio_fails_its_part_and_the_others_succeed(
    project, synth_videos, silent_video, ingest_clip, no_default_models, make_member, client_for
):
    good = ingest_clip(project, synth_videos[0])
    silent = ingest_clip(project, silent_video)
    assert not silent.has_audio

    job = run(project)
    assert job.status == Job.Status.SUCCEEDED and job.progress == 100
    assert job.result["outcome"] == "succeeded_with_warnings"
    entries = {e["clip"]: e for e in job.result["clips"]}
    assert entries[good.pk]["status"] == "done" and entries[good.pk]["error"] == ""
    assert entries[silent.pk]["status"] == "failed"
    assert "no audio track" in entries[silent.pk]["error"]
    assert f"1 failed: no-audio.mp4 (clip {silent.pk}): The clip has no audio track" in job.message
    assert Proposal.objects.filter(clip=good).count() == 1 and not Proposal.objects.filter(clip=silent).exists()

    shown = client_for(make_member(project)).get(f"/api/jobs/{job.pk}/").json()
    assert shown["status"] == "succeeded" and "no audio track" in shown["message"]


def test_the_job_fails_only_when_every_clip_failed(project, silent_video, ingest_clip, no_default_models):
    silent = ingest_clip(project, silent_video)
    job = run(project)
    assert job.status == Job.Status.FAILED and job.progress == 100
    assert job.result["outcome"] == "failed"
    assert job.message.startswith("All 1 clip failed.")
    assert f"no-audio.mp4 (clip {silent.pk}): The clip has no audio track" in job.error


def test_a_redelivered_clip_task_is_not_done_twice(project, synth_clips, no_default_models):
    job = preannotate_request(project=project, clip_ids=[synth_clips[0].pk], enqueue=False)
    propose = CountingPropose()
    assert clip_preannotate(job_id=job.pk, clip_id=synth_clips[0].pk, propose=propose) == "done"
    assert clip_preannotate(job_id=job.pk, clip_id=synth_clips[0].pk, propose=propose) == "done"
    assert propose.calls == 1
    assert Proposal.objects.filter(clip=synth_clips[0]).count() == 1
    job.refresh_from_db()
    assert job.result["counts"]["done"] == 1 and job.status == Job.Status.SUCCEEDED


def test_a_clip_deleted_before_its_turn_fails_with_a_message(project, synth_clips, no_default_models):
    job = preannotate_request(project=project, enqueue=False)
    gone = synth_clips[1].pk
    synth_clips[1].delete()
    job = preannotate_run(job_id=job.pk)
    entries = {e["clip"]: e for e in job.result["clips"]}
    assert entries[gone]["error"] == "The clip was deleted before it could be pre-annotated."
    assert job.result["counts"] == {"total": 3, "done": 2, "skipped": 0, "failed": 1}


# --- the request -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "expected"), [(Role.MANAGER, 202), (Role.ANNOTATOR, 403), (Role.REVIEWER, 403)])
def test_only_managers_may_preannotate(
    project, synth_clips, no_default_models, make_member, client_for, role, expected
):
    response = client_for(make_member(project, role)).post(f"/api/projects/{project.pk}/preannotate/", format="json")
    assert response.status_code == expected, response.content
    if expected == 403:
        assert response.json()["message"] == f"This needs one of the roles: manager; you are {role}."
        assert not Job.objects.filter(kind=Job.Kind.PREANNOTATE).exists()


def test_outsiders_get_404_and_anonymous_users_401(project, synth_clips, client_for):
    outsider = client_for(make_member_of_other_project())
    response = outsider.post(f"/api/projects/{project.pk}/preannotate/", format="json")
    assert response.status_code == 404 and response.json()["message"] == "Project not found."
    assert client_for().post(f"/api/projects/{project.pk}/preannotate/", format="json").status_code == 401


def make_member_of_other_project():
    from tests.factories import MembershipFactory

    return MembershipFactory(project=ProjectFactory(), role=Role.MANAGER).user


def test_the_request_names_what_cannot_be_preannotated(project, synth_clips, make_member, client_for):
    client = client_for(make_member(project, Role.MANAGER))
    url = f"/api/projects/{project.pk}/preannotate/"
    other = ProjectFactory()
    from tests.factories import ClipFactory, ModelVersionFactory

    foreign = ClipFactory(project=other)
    response = client.post(url, {"clips": [synth_clips[0].pk, foreign.pk]}, format="json")
    assert response.status_code == 400 and response.json()["message"] == f"Not clips of this project: {foreign.pk}."

    processing = ClipFactory(project=project, status="processing", name="late.mp4")
    response = client.post(url, {"clips": [processing.pk]}, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == (
        f"Only ingested (ready) clips can be pre-annotated; not ready: {processing.pk} (late.mp4: processing)."
    )

    version = ModelVersionFactory(project=other)
    response = client.post(url, {"model_version": version.pk}, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == f"Model version {version.pk} is not a model version of this project."

    student = ModelVersionFactory(project=project, kind="student", name="student-1")  # no saved model
    response = client.post(url, {"model_version": student.pk}, format="json")
    assert response.status_code == 400
    assert "is a student whose saved model is missing from media storage" in response.json()["message"]

    empty = ProjectFactory()
    client = client_for(make_member(empty, Role.MANAGER))
    response = client.post(f"/api/projects/{empty.pk}/preannotate/", format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "The project has no ready clips to pre-annotate: upload videos first."
    assert not Job.objects.filter(kind=Job.Kind.PREANNOTATE).exists()


def test_broker_down_fails_the_clips_with_what_to_do(
    project, synth_clips, no_default_models, make_member, client_for, django_capture_on_commit_callbacks
):
    from server.config.celery_app import app as celery_app
    from tests.server.media.test_broker_down import _drop_connection_pools

    conf = celery_app.conf
    saved = conf.broker_url, conf.task_always_eager, conf.broker_transport_options, conf.task_publish_retry_policy
    _drop_connection_pools()
    conf.broker_url, conf.task_always_eager, conf.broker_transport_options = "redis://127.0.0.1:9/0", False, {}
    conf.task_publish_retry_policy = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.1}
    try:
        client = client_for(make_member(project, Role.MANAGER))
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/api/projects/{project.pk}/preannotate/", format="json")
    finally:
        _drop_connection_pools()
        conf.broker_url, conf.task_always_eager, conf.broker_transport_options, conf.task_publish_retry_policy = saved
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == Job.Status.FAILED
    assert "task broker is unreachable" in job.error and "CELERY_BROKER_URL" in job.error
    assert f"POST /api/projects/{project.pk}/preannotate/ again" in job.error


def test_manage_py_preannotate_sync(project, synth_clips, silent_video, ingest_clip, no_default_models, capsys):
    silent = ingest_clip(project, silent_video)
    call_command(
        "preannotate", "--project", project.name, "--clip", str(synth_clips[0].pk), "--clip", str(silent.pk), "--sync"
    )
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Proposer: synchrony-baseline (baseline): no model configuration is set")
    assert out[1] == f"clip {synth_clips[0].pk} ({synth_clips[0].name}): done"
    assert out[2].startswith(f"clip {silent.pk} (no-audio.mp4): failed: The clip has no audio track")
    assert out[3].startswith("Job ") and " succeeded: Pre-annotated 1 clip with synchrony-baseline." in out[3]
    assert Proposal.objects.filter(clip=synth_clips[0]).count() == 1


def test_only_administrators_point_a_project_at_a_model_configuration(
    project, tiny_model_config, no_default_models, make_member, client_for
):
    url = f"/api/projects/{project.pk}/"
    manager = client_for(make_member(project, Role.MANAGER))
    response = manager.patch(url, {"model_config": str(tiny_model_config)}, format="json")
    assert response.status_code == 403
    assert response.json()["message"] == "Only administrators can change model_config: it names a file on the servers."

    admin = client_for(UserFactory(is_superuser=True))
    response = admin.patch(url, {"model_config": "models/config.json"}, format="json")
    assert response.status_code == 400 and "absolute path" in response.json()["message"]
    response = admin.patch(url, {"model_config": str(tiny_model_config)}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["model_config"] == str(tiny_model_config)
    proposer = manager.get(url).json()["proposer"]
    assert proposer["kind"] == "openavs" and proposer["name"].startswith("openavs(") and proposer["reason"] is None


def test_a_proposal_stored_meanwhile_by_another_job_is_kept_not_replaced(project, synth_clips, no_default_models):
    from ml_backend.serving import propose_stored_clip

    clip = synth_clips[0]
    first = run(project, clip_ids=[clip.pk])
    (stored,) = Proposal.objects.filter(clip=clip)
    version = stored.model_version
    stored.delete()
    job = preannotate_request(project=project, clip_ids=[clip.pk], enqueue=False)

    def racing(**kwargs):  # another job stores the same model's proposal while this one computes
        result = propose_stored_clip(**kwargs)
        Proposal.objects.create(clip=clip, model_version=version, frames=[])
        return result

    assert clip_preannotate(job_id=job.pk, clip_id=clip.pk, propose=racing) == "skipped"
    (kept,) = Proposal.objects.filter(clip=clip)
    assert kept.frames == [] and first.result["counts"]["done"] == 1
