"""Reading a clip's proposals: model version summary plus per-frame instances."""

from __future__ import annotations

import pytest

from server.accounts.models import Role
from tests.factories import ClipFactory, ModelVersionFactory, ProposalFactory
from tests.server.annotations.conftest import box_mask

pytestmark = pytest.mark.django_db


def test_clip_proposals_carry_model_version_and_frame_instances(project, make_member, client_for):
    clip = ClipFactory(project=project)
    model = ModelVersionFactory(project=project, kind="openavs", name="OpenAVS default")
    instance = {
        "mask": box_mask(4, 4, 20, 30),
        "label": "dog",
        "score": 0.83,
        "provenance": {"audio_tag": "Bark", "prompt": "a dog", "box": [4, 4, 30, 20]},
    }
    proposal = ProposalFactory(clip=clip, model_version=model, frames=[{"frame_index": 0, "instances": [instance]}])
    ProposalFactory(clip=ClipFactory(project=project))  # another clip's: not listed
    client = client_for(make_member(project, role=Role.REVIEWER))

    listed = client.get(f"/api/clips/{clip.pk}/proposals/")
    assert listed.status_code == 200
    assert listed.data["count"] == 1
    item = listed.data["results"][0]
    assert item["id"] == proposal.pk
    assert item["model_version"] == {
        "id": model.pk,
        "kind": "openavs",
        "name": "OpenAVS default",
        "config_hash": model.config_hash,
    }
    # stored before probability maps and frame provenance were kept: the frame says it has none
    assert item["frames"] == [{"frame_index": 0, "instances": [instance], "probability_map": None, "provenance": {}}]
    assert item["evidence"] is None

    detail = client.get(f"/api/proposals/{proposal.pk}/")
    assert detail.status_code == 200
    assert detail.data == item


def test_missing_and_foreign_proposals_look_the_same(project, make_member, client_for):
    foreign = ProposalFactory()  # in a project the user is not in
    client = client_for(make_member(project, role=Role.ANNOTATOR))
    hidden = client.get(f"/api/proposals/{foreign.pk}/")
    missing = client.get(f"/api/proposals/{foreign.pk + 1000}/")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.data == missing.data == {"message": "Proposal not found.", "extra": {}}
