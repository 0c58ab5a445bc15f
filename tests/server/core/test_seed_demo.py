"""`manage.py seed_demo`: a demo project people can sign in to and annotate at once."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from server.accounts.models import Membership
from server.annotations.models import Proposal
from server.annotations.preannotation import preannotate_request, preannotate_run
from server.core.demo import FIXTURE_PROPOSER, demo_seed
from server.core.masks import rle_decode
from server.learning.models import ModelVersion
from server.media.models import Clip, Label, Project
from tests.media_files import DEMO_SMALL

pytestmark = pytest.mark.django_db


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def signs_in(username: str, password: str) -> bool:
    response = Client().post(
        "/api/auth/login/", {"username": username, "password": password}, content_type="application/json"
    )
    return response.status_code == 200


def test_seed_demo_creates_a_project_to_sign_in_to_and_annotate(monkeypatch):
    monkeypatch.setenv("AVS_SHARED_DIR", str(DEMO_SMALL.parents[2]))
    output = seed("--password", "demo-pass-1")
    project = Project.objects.get(name="Demo")
    assert "Project 'Demo'" in output and "have the password you gave" in output
    assert dict(Membership.objects.filter(project=project).values_list("user__username", "role")) == {
        "manager": "manager",
        "annotator": "annotator",
        "reviewer": "reviewer",
    }
    assert all(signs_in(name, "demo-pass-1") for name in ("manager", "annotator", "reviewer"))
    assert {"sounding object", "person", "dog"} <= set(
        Label.objects.filter(project=project).values_list("name", flat=True)
    )

    clip = Clip.objects.get(project=project)
    assert clip.status == Clip.Status.READY and clip.frames.count() == 5 and clip.has_audio
    proposal = Proposal.objects.get(clip=clip)
    assert proposal.model_version.kind == ModelVersion.Kind.BASELINE  # the synchrony baseline: no weights needed
    sizes = {f.index: (f.height, f.width) for f in clip.frames.all()}
    masks = [(entry["frame_index"], i["mask"]) for entry in proposal.frames for i in entry["instances"]]
    assert masks and all(rle_decode(mask).shape == sizes[index] for index, mask in masks)

    # again: nothing is duplicated, passwords stay
    again = seed()
    assert "keep their passwords" in again
    assert Project.objects.count() == Clip.objects.count() == Proposal.objects.count() == 1
    assert Membership.objects.filter(project=project).count() == 3
    assert signs_in("annotator", "demo-pass-1")

    # Pre-annotating with the default proposer (the baseline, no models configured) finds the demo's proposal
    # under the same model version: the clip is skipped, no second baseline version appears.
    job = preannotate_request(project=project, enqueue=False)
    job = preannotate_run(job_id=job.pk)
    assert job.result["counts"]["skipped"] == 1 and job.result["counts"]["done"] == 0, job.result
    assert list(ModelVersion.objects.filter(project=project)) == [proposal.model_version]
    assert Proposal.objects.count() == 1


def test_new_users_without_a_password_get_a_generated_one_shown_once(tmp_path):
    output = seed("--clip", str(DEMO_SMALL))
    password = output.split("have the password: ")[1].split(" ")[0]
    assert signs_in("manager", password)


def test_a_missing_demo_clip_names_the_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("AVS_SHARED_DIR", str(tmp_path))
    with pytest.raises(CommandError, match="set AVS_SHARED_DIR"):
        seed("--password", "x-123456")


def test_when_the_ml_backend_cannot_propose_a_fixture_proposal_is_stored():
    def broken(**kwargs):
        raise RuntimeError("no ML backend here")

    demo = demo_seed(password="pw-123456", clip_path=DEMO_SMALL, proposer=broken)
    assert demo.proposal.model_version.name == FIXTURE_PROPOSER
    (frame,) = demo.clip.frames.filter(index=0)
    (instance,) = demo.proposal.frames[0]["instances"]
    mask = rle_decode(instance["mask"])
    assert mask.shape == (frame.height, frame.width) and mask[frame.height // 2, frame.width // 2] == 1
    assert len(demo.proposal.frames) == demo.clip.frames.count()
