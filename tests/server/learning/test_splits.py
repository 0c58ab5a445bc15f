"""The train / held-out split: deterministic per project (seed, fraction, clip checksum), AVSBench clips keep their
dataset split, shown read-only on the clip API, edited by managers until a round has run."""

from __future__ import annotations

import pytest
from django.utils import timezone

from server.accounts.models import Role
from server.datasets.models import DatasetClip
from server.learning.models import LearningSettings, TrainingRound
from server.learning.selectors import project_clip_splits
from server.learning.splits import clip_split, split_draw
from tests.factories import ClipFactory
from tests.server.learning.rounds_world import checksum_on

CHECKSUMS = [f"{n:064x}" for n in range(2000)]


def test_the_split_is_deterministic_and_holds_out_the_fraction():
    first = [clip_split(seed=7, fraction=0.25, checksum=c) for c in CHECKSUMS]
    again = [clip_split(seed=7, fraction=0.25, checksum=c) for c in CHECKSUMS]
    assert first == again
    assert abs(first.count("heldout") / len(first) - 0.25) < 0.03
    other_seed = [clip_split(seed=8, fraction=0.25, checksum=c) for c in CHECKSUMS]
    assert other_seed != first and abs(other_seed.count("heldout") / len(CHECKSUMS) - 0.25) < 0.03
    # A larger fraction only moves clips from train to held out (each clip's draw is fixed).
    wider = [clip_split(seed=7, fraction=0.4, checksum=c) for c in CHECKSUMS]
    assert all(w == "heldout" for f, w in zip(first, wider, strict=True) if f == "heldout")
    assert {clip_split(seed=7, fraction=0.0, checksum=c) for c in CHECKSUMS} == {"train"}
    assert 0.0 <= split_draw(seed=0, checksum="abc") < 1.0


def test_avsbench_clips_keep_their_dataset_split():
    held = checksum_on("heldout")
    assert clip_split(seed=0, fraction=0.2, checksum=held, dataset_split="train") == "train"
    trained = checksum_on("train")
    assert clip_split(seed=0, fraction=0.2, checksum=trained, dataset_split="test") == "heldout"
    assert clip_split(seed=0, fraction=0.2, checksum=trained, dataset_split="val") == "heldout"


@pytest.mark.django_db
def test_the_clip_api_shows_each_clips_split(project, make_member, client_for):
    uploaded_held = ClipFactory(project=project, checksum=checksum_on("heldout"))
    uploaded_train = ClipFactory(project=project, checksum=checksum_on("train"))
    imported = ClipFactory(project=project, checksum=checksum_on("heldout"))
    DatasetClip.objects.create(clip=imported, protocol="s4", split="train", vid="v1")
    client = client_for(make_member(project, Role.ANNOTATOR))

    listed = {c["id"]: c["split"] for c in client.get(f"/api/projects/{project.pk}/clips/").json()["results"]}
    assert listed == {uploaded_held.pk: "heldout", uploaded_train.pk: "train", imported.pk: "train"}
    assert client.get(f"/api/clips/{uploaded_held.pk}/").json()["split"] == "heldout"
    assert client.get(f"/api/clips/{imported.pk}/").json()["split"] == "train"
    assert project_clip_splits(project_id=project.pk) == listed


@pytest.mark.django_db
def test_managers_edit_the_split_until_a_round_has_run(project, make_member, client_for):
    clips = [ClipFactory(project=project, checksum=c) for c in CHECKSUMS[:40]]
    url = f"/api/projects/{project.pk}/learning-settings/"
    manager = client_for(make_member(project, Role.MANAGER))
    body = manager.get(url).json()
    assert body["heldout_fraction"] == 0.2 and body["split_seed"] == 0 and body["split_locked"] is False
    assert body["split_counts"]["train"] + body["split_counts"]["heldout"] == len(clips)

    body = manager.patch(url, {"heldout_fraction": 0.5, "split_seed": 3}, format="json").json()
    assert (body["heldout_fraction"], body["split_seed"]) == (0.5, 3)
    expected = sum(clip_split(seed=3, fraction=0.5, checksum=c.checksum) == "heldout" for c in clips)
    assert body["split_counts"]["heldout"] == expected
    clip = clips[0]
    shown = manager.get(f"/api/clips/{clip.pk}/").json()["split"]
    assert shown == clip_split(seed=3, fraction=0.5, checksum=clip.checksum)

    response = manager.patch(url, {"heldout_fraction": 0.95}, format="json")
    assert response.status_code == 400 and "heldout_fraction" in response.json()["extra"]["fields"]

    TrainingRound.objects.create(project=project, student_kind="compact", started_at=timezone.now(), status="failed")
    response = manager.patch(url, {"split_seed": 4}, format="json")
    assert response.status_code == 409
    assert response.json()["message"].startswith("The split cannot change any more (split_seed)")
    assert LearningSettings.objects.get(project=project).split_seed == 3
    assert manager.get(url).json()["split_locked"] is True
    # Other settings still change.
    body = manager.patch(url, {"auto_round_after": 50, "student_kind": "av2t_sam"}, format="json").json()
    assert (body["auto_round_after"], body["student_kind"]) == (50, "av2t_sam")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "read", "write"),
    [("anonymous", 401, 401), ("outsider", 404, 404), ("annotator", 200, 403), ("reviewer", 200, 403)],
)
def test_only_managers_change_learning_settings(project, actor, client_for, who, read, write):
    client = client_for(actor(project, who))
    url = f"/api/projects/{project.pk}/learning-settings/"
    assert client.get(url).status_code == read
    assert client.patch(url, {"heldout_fraction": 0.3}, format="json").status_code == write
    assert not LearningSettings.objects.filter(project=project, heldout_fraction=0.3).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"pseudo_low": 0.8, "pseudo_high": 0.6}, "student_config.pseudo_low (0.8) must be below"),
        ({"pseudo_high": 1.5}, "student_config.pseudo_high must be a number between 0 and 1"),
        ({"threshold": "high"}, "student_config.threshold must be a number between 0 and 1"),
    ],
)
def test_a_pseudo_label_band_that_cannot_work_is_refused_when_saved(project, make_member, client_for, config, message):
    url = f"/api/projects/{project.pk}/learning-settings/"
    manager = client_for(make_member(project, Role.MANAGER))
    response = manager.patch(url, {"student_config": config}, format="json")
    assert response.status_code == 400 and message in response.json()["message"]
    assert manager.get(url).json()["student_config"] == {}
