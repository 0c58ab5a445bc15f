"""Active learning on pre-annotated clips: the worker scores each clip right after proposing it, the review queue
orders by those scores and says why, the next-batch endpoint skips a duplicated clip, the pool is rescored when the
strategy changes or on demand. Clips are ingested synthetic videos proposed by the weight-free baseline, with one
clip's probability maps made uncertain (the baseline's own maps are hard 0/1 masks, so confidently certain)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command

from ml_backend.serving import decode_png, propose_stored_clip
from ml_backend.serving.records import encode_png
from server.accounts.models import Role
from server.annotations.models import Annotation, Proposal
from server.annotations.preannotation import preannotate_request, preannotate_run
from server.annotations.services import proposal_store_new
from server.core.masks import rle_decode, rle_encode
from server.jobs.models import Job
from server.learning.acquisition import clip_score_acquisition
from server.learning.models import AcquisitionScore, ModelVersion
from tests.factories import AnnotationFactory, ModelVersionFactory

pytestmark = pytest.mark.django_db


class UncertainMaps:
    """`propose_stored_clip` (the baseline here) whose probability maps, for the clips named in `uncertain`, are
    squeezed towards 0.5 (v -> 64 + v/2: the masks, p > 0.5, stay the same; the proposer is unsure of every pixel)."""

    def __init__(self, uncertain: set[str]):
        self.uncertain = uncertain

    def __call__(self, **kwargs):
        write = kwargs.get("write_file")
        if write is not None and kwargs.get("name") in self.uncertain:

            def unsure(name: str, data: bytes) -> str:
                if name.startswith("probability-"):
                    values = decode_png(data).astype(np.uint16)
                    data = encode_png((64 + values // 2).astype(np.uint8))
                return write(name, data)

            kwargs["write_file"] = unsure
        return propose_stored_clip(**kwargs)


def preannotate(project, clips, *, uncertain=()) -> Job:
    job = preannotate_request(project=project, clip_ids=[c.pk for c in clips], enqueue=False)
    job = preannotate_run(job_id=job.pk, propose=UncertainMaps({c.name for c in uncertain}))
    assert job.result["counts"]["done"] == len(clips), job.result
    return job


def remux(source: Path, target: Path) -> Path:
    """The same video packets in a new MP4 (identical frames and sound, another file)."""
    with av.open(str(source)) as inp, av.open(str(target), "w") as out:
        out.metadata["title"] = "copy"
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams if s.type in ("video", "audio")}
        for packet in inp.demux():
            if packet.dts is None or packet.stream.index not in streams:
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    return target


def queue(client, project):
    response = client.get(f"/api/projects/{project.pk}/review-queue/")
    assert response.status_code == 200, response.content
    return response.json()["results"]


@pytest.fixture
def two_clips(project, synth_videos, ingest_clip, no_default_models):
    """Two ingested clips, pre-annotated by the baseline: the first confident, the second uncertain."""
    confident, uncertain = (ingest_clip(project, path) for path in synth_videos[:2])
    preannotate(project, [confident, uncertain], uncertain=[uncertain])
    return confident, uncertain


def test_the_worker_scores_each_clip_and_the_queue_puts_the_uncertain_one_first_saying_why(
    project, two_clips, make_member, client_for
):
    confident, uncertain = two_clips
    baseline = ModelVersion.objects.get(project=project, kind=ModelVersion.Kind.BASELINE)
    scores = {s.clip_id: s for s in AcquisitionScore.objects.filter(clip__project=project)}
    assert set(scores) == {confident.pk, uncertain.pk}  # one score per proposed clip, written by pre-annotation
    unsure = scores[uncertain.pk]
    assert unsure.model_version == baseline and unsure.strategy == "combined"
    assert unsure.top_term == "topk_entropy" and unsure.terms["topk_entropy"]["value"] > 0.7
    assert scores[confident.pk].terms["topk_entropy"]["value"] < 0.05  # hard baseline masks: certain
    assert "disagreement" in unsure.missing and unsure.compared_with is None  # no student proposal yet
    assert unsure.score > scores[confident.pk].score

    rows = queue(client_for(make_member(project, Role.ANNOTATOR)), project)
    assert [r["id"] for r in rows] == [uncertain.pk, confident.pk]
    first = rows[0]
    assert first["acquisition_strategy"] == "combined"
    assert first["acquisition_top_term"] == "topk_entropy"
    assert first["acquisition_top_value"] == pytest.approx(unsure.terms["topk_entropy"]["value"])
    value = unsure.terms["topk_entropy"]["value"]
    assert first["acquisition_reason"] == f"top-k pixel entropy {value:.2f} (combined)"
    assert first["acquisition_model_version"] == baseline.pk
    assert first["acquisition_score"] == pytest.approx(unsure.score)


def test_a_student_proposal_adds_the_teacher_student_disagreement(project, two_clips):
    confident, _ = two_clips
    teacher = Proposal.objects.get(clip=confident)
    teacher_masks = [rle_decode(i["mask"]) for f in teacher.frames for i in f["instances"]]
    # A student that sees the whole picture sound where the teacher does not (its hard masks, no probability maps).
    student = ModelVersionFactory(project=project, kind=ModelVersion.Kind.STUDENT, name="student")
    frames = []
    for frame in confident.frames.order_by("index"):
        whole = rle_encode(np.ones((frame.height, frame.width), dtype=bool))
        frames.append({"frame_index": frame.index, "instances": [{"mask": whole, "label": "sound", "score": 0.9}]})
    assert proposal_store_new(clip=confident, model_version=student, frames=frames) is not None

    score = clip_score_acquisition(clip=confident, model_version=student)
    assert score.model_version == student and score.compared_with_id == teacher.model_version_id
    teacher_share = np.mean([m.mean() for m in teacher_masks]) if teacher_masks else 0.0
    assert score.terms["disagreement"]["value"] == pytest.approx(1.0 - teacher_share, abs=0.02)  # 1 − IoU
    assert score.terms["disagreement"]["value"] > 0.5 and "disagreement" not in score.missing

    # Scored from the teacher's side, the student's proposal is the one it compares with.
    again = clip_score_acquisition(clip=confident, model_version=teacher.model_version)
    assert again.compared_with == student and again.terms["disagreement"]["value"] == pytest.approx(
        score.terms["disagreement"]["value"]
    )


def test_a_proposal_whose_probability_maps_are_gone_is_scored_from_its_masks(project, two_clips):
    _, uncertain = two_clips
    proposal = Proposal.objects.get(clip=uncertain)
    for entry in proposal.frames:
        default_storage.delete(entry["probability_map"]["path"])
    score = clip_score_acquisition(clip=uncertain, model_version=proposal.model_version)
    assert score.terms["topk_entropy"]["value"] < 0.05  # hard masks, 0 or 1: nothing uncertain is left
    assert score.terms["temporal"]["value"] == pytest.approx(
        AcquisitionScore.objects.filter(clip=uncertain).earliest("id").terms["temporal"]["value"], abs=0.05
    )


def test_changing_the_strategy_rescores_the_pool(
    project, two_clips, make_member, client_for, django_capture_on_commit_callbacks
):
    confident, uncertain = two_clips
    client = client_for(make_member(project, Role.MANAGER))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.put(
            f"/api/projects/{project.pk}/acquisition-strategy/", {"strategy": {"name": "entropy"}}, format="json"
        )
    assert response.status_code == 200, response.content
    assert response.json()["strategy"]["name"] == "entropy"
    rows = queue(client, project)
    assert [(r["id"], r["acquisition_strategy"], r["acquisition_top_term"]) for r in rows] == [
        (uncertain.pk, "entropy", "entropy"),
        (confident.pk, "entropy", "entropy"),
    ]


def test_manage_score_rescores_the_pool_and_leaves_finished_clips_alone(project, two_clips, capsys):
    confident, uncertain = two_clips
    for frame in confident.frames.all():
        AnnotationFactory(frame=frame, status=Annotation.Status.ACCEPTED)
    before = AcquisitionScore.objects.count()
    call_command("score", "--project", project.name, "--sync")
    out = capsys.readouterr().out
    assert "Strategy: combined" in out and f"clip {uncertain.pk}: 0." in out and "Scored 1 clip;" in out
    assert AcquisitionScore.objects.count() == before + 1
    assert AcquisitionScore.objects.filter(clip=uncertain).count() == 2


def test_the_next_batch_skips_a_duplicated_clip(
    project, synth_videos, ingest_clip, no_default_models, make_member, client_for, tmp_path
):
    clips = [ingest_clip(project, path) for path in synth_videos[:3]]
    copy = ingest_clip(project, remux(synth_videos[0], tmp_path / "copy-of-first.mp4"))
    assert copy.checksum != clips[0].checksum
    preannotate(project, [*clips, copy])
    client = client_for(make_member(project, Role.MANAGER))

    response = client.post(f"/api/projects/{project.pk}/queue/batch/", {"size": 10}, format="json")
    assert response.status_code == 200, response.content
    batch = response.json()
    assert batch["method"] == "diverse" and batch["strategy"] == "combined"
    picked = [c["id"] for c in batch["clips"]]
    assert len(picked) == 3 and {clips[1].pk, clips[2].pk} <= set(picked)
    assert len({clips[0].pk, copy.pk} & set(picked)) == 1  # the first video once, not twice
    (skipped,) = batch["near_duplicates"]
    assert {skipped["id"], skipped["duplicate_of"]} == {clips[0].pk, copy.pk}
    assert skipped["name"] in (clips[0].name, copy.name)
    assert all(c["reason"] and c["strategy"] == "combined" for c in batch["clips"])

    top = client.post(f"/api/projects/{project.pk}/queue/batch/", {"size": 2}, format="json").json()
    assert len(top["clips"]) == 2 and top["clips"][0]["id"] == picked[0]
