"""What a proposal keeps besides its masks, end to end through pre-annotation: per frame an 8-bit probability map in
media storage (served to members only), per instance its mean confidence, per clip and model version one bounded
evidence file; read back through `proposal_evidence_for_clip`; files that go with their proposal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from ml_backend.types import FrameInstances
from server.accounts.models import Role
from server.annotations.models import Proposal
from server.annotations.preannotation import clip_preannotate, preannotate_request
from server.annotations.records import clip_records_root
from server.annotations.selectors import proposal_evidence_for_clip
from server.annotations.services import proposal_frames_clean, proposal_store
from server.core.errors import ApplicationError
from server.core.masks import rle_decode
from server.learning.models import ModelVersion
from server.media.services import clip_delete
from tests.server.preannotation.test_preannotate import run

pytestmark = pytest.mark.django_db

SIZE = 224  # the synthetic clips' frames


class SpyingPropose:
    """`propose_stored_clip` that also keeps, per clip name, each frame's instances with their arrays as the
    proposer handed them out (the probabilities the stored maps and confidences must match)."""

    def __init__(self):
        from ml_backend.serving import propose_stored_clip

        self.inner = propose_stored_clip
        self.frames: dict[str, list[FrameInstances]] = {}
        self.audio_tags: dict[str, list[dict]] = {}
        self.calls = 0

    def __call__(self, **kwargs):
        self.calls += 1
        seen = self.frames.setdefault(kwargs["name"], [])
        result = self.inner(**kwargs, on_frame=seen.append)
        self.audio_tags[kwargs["name"]] = result["meta"].get("audio_tags", [])
        return result


def expected_map(frame: FrameInstances) -> np.ndarray:
    out = np.zeros((SIZE, SIZE))
    for instance in frame.instances:
        p = instance.mask if instance.probability is None else instance.probability
        out = np.maximum(out, p)
    return out


def stored_map(path: str) -> np.ndarray:
    from ml_backend.serving import decode_png

    with default_storage.open(path, "rb") as handle:
        return decode_png(handle)


def files_of(proposal: Proposal) -> list[str]:
    paths = [entry["probability_map"]["path"] for entry in proposal.frames]
    return [*paths, proposal.evidence["path"]]


@pytest.mark.parametrize("proposer", ["baseline", "openavs"])
def test_each_proposed_frame_keeps_a_probability_map_and_each_instance_its_confidence(
    proposer, request, project, synth_clips, no_default_models, settings
):
    if proposer == "openavs":
        request.getfixturevalue("tiny_project")
    settings.AVS_PROBABILITY_MAP_MAX_SIDE = 112  # 224 -> 112: each stored pixel is the mean of 2×2 frame pixels
    spy = SpyingPropose()
    job = run(project, propose=spy)
    assert job.result["counts"]["done"] == 3
    (version,) = ModelVersion.objects.filter(project=project)
    assert version.kind == proposer

    checked = 0
    for clip in synth_clips:
        (proposal,) = Proposal.objects.filter(clip=clip)
        seen = spy.frames[clip.name]
        assert [f.frame_index for f in seen] == [e["frame_index"] for e in proposal.frames] == [0, 1, 2, 3, 4]
        assert proposal.records_folder.startswith(clip_records_root(project_id=project.pk, clip_id=clip.pk) + "/")
        for entry, frame in zip(proposal.frames, seen, strict=True):
            record = entry["probability_map"]
            assert record["path"].startswith(proposal.records_folder + "/") and record["path"].endswith(".png")
            assert record["size"] == [112, 112] and record["scale"] == 0.5
            values = stored_map(record["path"])
            assert values.shape == (112, 112) and values.dtype == np.uint8
            want = expected_map(frame).reshape(112, 2, 112, 2).mean(axis=(1, 3))
            assert np.abs(values / 255.0 - want).max() <= 1 / 255 + 1e-6
            for stored, instance in zip(entry["instances"], frame.instances, strict=True):
                mask = rle_decode(stored["mask"]).astype(bool)
                probability = np.ones(mask.shape) if instance.probability is None else instance.probability
                assert 0.0 <= stored["confidence"] <= 1.0
                assert stored["confidence"] == pytest.approx(float(probability[mask].mean()), abs=1e-6)
                checked += 1
        # one evidence file per clip and model version, bounded, with its documented shapes
        evidence = proposal.evidence
        assert evidence["path"].startswith(proposal.records_folder + "/") and default_storage.exists(evidence["path"])
        assert (
            0 < evidence["bytes"] == default_storage.size(evidence["path"]) <= settings.AVS_PROPOSAL_EVIDENCE_MAX_BYTES
        )
        assert evidence["frames"] == 5 and evidence["stride"] == 1 and evidence["dropped"] == []
        channels = len(seen[0].embedding)
        assert evidence["visual_embedding"]["shape"] == [5, channels]
        if proposer == "openavs":
            assert evidence["visual_embedding"]["kind"] == "sam-mean"
            assert evidence["audio_embedding"]["kind"] == "clap" and evidence["audio_tags"]["top_k"] > 0
        else:
            assert evidence["visual_embedding"] == {"kind": "baseline-colour-grid", "shape": [5, 48]}
            assert evidence["audio_embedding"] == {"kind": "baseline-bands", "shape": [5, 17]}
            assert evidence["audio_tags"] == {"top_k": 0}

        # what acquisition and training read: the selector
        maps, audio_tags, embeddings = proposal_evidence_for_clip(clip=clip, model_version=version)
        assert list(maps) == [0, 1, 2, 3, 4]
        assert maps.size(2) == (112, 112) and maps.scale(2) == 0.5 and maps.frame_size(2) in (None, (SIZE, SIZE))
        np.testing.assert_array_equal(maps[2], stored_map(proposal.frames[2]["probability_map"]["path"]))
        full = maps.probability(2, size=(SIZE, SIZE))
        assert full.shape == (SIZE, SIZE) and full.dtype == np.float32 and 0 <= full.min() <= full.max() <= 1
        assert len(audio_tags) == 5
        assert embeddings.frame_indexes.tolist() == [0, 1, 2, 3, 4] and embeddings.stride == 1
        np.testing.assert_allclose(embeddings.visual, np.stack([f.embedding for f in seen]), rtol=2e-3, atol=2e-3)
        assert embeddings.clip_embedding().shape == (channels,)
        if proposer == "openavs":
            assert [[label for label, _ in window] for window in audio_tags] == [
                [tag["label"] for tag in window["tags"]] for window in spy.audio_tags[clip.name]
            ]
            assert embeddings.audio.shape[0] == 5 and embeddings.audio_kind == "clap"
        else:
            assert audio_tags == [[] for _ in range(5)] and embeddings.audio.shape == (5, 17)

    assert checked >= 10  # instances were proposed (the baseline finds objects on two of the clips)
    assert proposal_evidence_for_clip(clip=synth_clips[0].pk, model_version=version.pk + 1000) is None


def test_the_probability_map_is_served_to_members_and_refused_to_everyone_else(
    project, synth_clips, no_default_models, make_member, client_for, actor
):
    run(project, clip_ids=[synth_clips[0].pk])
    (proposal,) = Proposal.objects.filter(clip=synth_clips[0])
    member = client_for(make_member(project, role=Role.ANNOTATOR))

    detail = member.get(f"/api/proposals/{proposal.pk}/").json()
    frame = detail["frames"][1]
    assert frame["probability_map"]["size"] == [SIZE, SIZE] and frame["probability_map"]["scale"] == 1.0
    assert "path" not in frame["probability_map"] and "path" not in detail["evidence"]
    assert detail["evidence"]["visual_embedding"] == {"kind": "baseline-colour-grid", "shape": [5, 48]}
    assert all(0.0 <= i["confidence"] <= 1.0 for f in detail["frames"] for i in f["instances"])
    listed = member.get(f"/api/clips/{synth_clips[0].pk}/proposals/").json()["results"]
    assert listed[0]["frames"] == detail["frames"]

    url = frame["probability_map"]["url"]
    assert url == f"http://testserver/api/proposals/{proposal.pk}/frames/1/probability-map/"
    response = member.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "private, max-age=3600"
    body = b"".join(response.streaming_content)
    from ml_backend.serving import decode_png

    np.testing.assert_array_equal(decode_png(body), stored_map(proposal.frames[1]["probability_map"]["path"]))

    outsider = client_for(actor(project, "outsider")).get(url)
    assert outsider.status_code == 404 and outsider.json() == {"message": "Proposal not found.", "extra": {}}
    assert client_for(None).get(url).status_code in (401, 403)
    missing = member.get(f"/api/proposals/{proposal.pk}/frames/99/probability-map/")
    assert missing.status_code == 404
    assert missing.json()["message"] == f"Proposal {proposal.pk} has no probability map for frame 99."


def test_a_rerun_that_skips_the_clip_keeps_its_files_and_deleting_the_proposal_deletes_them(
    project, synth_clips, no_default_models, django_capture_on_commit_callbacks
):
    clip = synth_clips[0]
    run(project, clip_ids=[clip.pk])
    (proposal,) = Proposal.objects.filter(clip=clip)
    files = files_of(proposal)
    assert len(files) == 6 and all(default_storage.exists(name) for name in files)

    spy = SpyingPropose()
    again = run(project, clip_ids=[clip.pk], propose=spy)
    assert again.result["counts"]["skipped"] == 1 and spy.calls == 0
    assert Proposal.objects.get(pk=proposal.pk).frames == proposal.frames
    assert all(default_storage.exists(name) for name in files)
    assert sorted(default_storage.listdir(clip_records_root(project_id=project.pk, clip_id=clip.pk))[0]) == [
        proposal.records_folder.rsplit("/", 1)[1]
    ]  # the skipped run wrote nothing

    with django_capture_on_commit_callbacks(execute=True):
        proposal.delete()
    assert not any(default_storage.exists(name) for name in files)


def test_a_run_whose_proposal_was_stored_meanwhile_or_that_fails_leaves_no_files(
    project, synth_clips, no_default_models
):
    from ml_backend.serving import propose_stored_clip

    clip = synth_clips[0]
    root = Path(default_storage.path(clip_records_root(project_id=project.pk, clip_id=clip.pk)))
    run(project, clip_ids=[synth_clips[1].pk])  # the baseline's model version exists
    (version,) = ModelVersion.objects.filter(project=project)

    def racing(**kwargs):  # another job stores the same model's proposal while this one computes
        result = propose_stored_clip(**kwargs)
        assert len(list(root.rglob("*.png"))) == 5  # written while proposing
        Proposal.objects.create(clip=clip, model_version=version, frames=[])
        return result

    job = preannotate_request(project=project, clip_ids=[clip.pk], enqueue=False)
    assert clip_preannotate(job_id=job.pk, clip_id=clip.pk, propose=racing) == "skipped"
    assert not list(root.rglob("*.*"))

    def failing(**kwargs):  # the proposer dies after some frames
        calls = {"n": 0}
        write = kwargs["write_file"]

        def write_then_fail(name, data):
            calls["n"] += 1
            if calls["n"] == 3:
                raise RuntimeError("the worker ran out of disk")
            return write(name, data)

        return propose_stored_clip(**{**kwargs, "write_file": write_then_fail})

    Proposal.objects.filter(clip=clip).delete()
    job = preannotate_request(project=project, clip_ids=[clip.pk], enqueue=False)
    assert clip_preannotate(job_id=job.pk, clip_id=clip.pk, propose=failing) == "failed"
    job.refresh_from_db()
    assert "the worker ran out of disk" in job.result["clips"][0]["error"]
    assert not list(root.rglob("*.*")) and not Proposal.objects.filter(clip=clip).exists()


def test_deleting_a_clip_removes_every_records_folder_including_one_a_killed_worker_left(
    project, synth_clips, no_default_models, django_capture_on_commit_callbacks
):
    clip = synth_clips[0]
    run(project, clip_ids=[clip.pk])
    (proposal,) = Proposal.objects.filter(clip=clip)
    root = clip_records_root(project_id=project.pk, clip_id=clip.pk)
    orphan = default_storage.save(f"{root}/deadbeef/probability-000000.png", ContentFile(b"left by a killed worker"))
    with django_capture_on_commit_callbacks(execute=True):
        clip_delete(clip=clip)
    assert not default_storage.exists(orphan) and not any(default_storage.exists(n) for n in files_of(proposal))
    assert not Path(default_storage.path(root)).exists()


def test_replacing_a_proposal_deletes_the_files_of_the_one_it_replaces(
    project, synth_clips, no_default_models, django_capture_on_commit_callbacks
):
    clip = synth_clips[0]
    run(project, clip_ids=[clip.pk])
    (old,) = Proposal.objects.filter(clip=clip)
    old_files = files_of(old)
    with django_capture_on_commit_callbacks(execute=True):
        replaced = proposal_store(clip=clip, model_version=old.model_version, frames=[])
    assert replaced.pk == old.pk and replaced.records_folder == "" and replaced.evidence == {}
    assert not any(default_storage.exists(name) for name in old_files)


def test_records_outside_the_proposals_folder_are_refused(project, synth_clips, no_default_models):
    clip = synth_clips[1]  # the baseline finds sounding objects on it
    run(project, clip_ids=[clip.pk])
    (proposal,) = Proposal.objects.filter(clip=clip)
    frames = [dict(entry) for entry in proposal.frames]
    frames[0]["probability_map"] = {**frames[0]["probability_map"], "path": "projects/1/clips/1/frames/00000.jpg"}
    with pytest.raises(ApplicationError, match=r"frames\[0\].probability_map.path must be a file of this proposal"):
        proposal_frames_clean(clip=clip, frames=frames, records_folder=proposal.records_folder)
    frames = [dict(entry) for entry in proposal.frames]
    frames[1]["probability_map"] = {**frames[1]["probability_map"], "size": [SIZE + 1, SIZE]}
    with pytest.raises(ApplicationError, match=r"size must be \[h, w\] within the frame's \[224, 224\]"):
        proposal_frames_clean(clip=clip, frames=frames, records_folder=proposal.records_folder)
    frames = [dict(entry) for entry in proposal.frames]
    k = next(k for k, entry in enumerate(frames) if entry["instances"])
    frames[k]["instances"] = [{**frames[k]["instances"][0], "confidence": 1.5}]
    with pytest.raises(
        ApplicationError, match=rf"frames\[{k}\].instances\[0\].confidence must be a number in \[0, 1\]"
    ):
        proposal_frames_clean(clip=clip, frames=frames, records_folder=proposal.records_folder)
    # as stored, they pass
    assert proposal_frames_clean(clip=clip, frames=proposal.frames, records_folder=proposal.records_folder) == (
        proposal.frames
    )
