"""Streamed exports: the documents a whole-in-memory export would build, in memory and queries bounded by the
chunk of annotations read at a time, not by the size of the project."""

from __future__ import annotations

import json
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pycocotools import mask as mask_utils

from server.annotations.models import Annotation, AnnotationRevision, Review
from server.core.masks import rle_area, rle_encode
from server.datasets.models import Export
from server.datasets.services import export as export_service
from server.datasets.services.export import export_create, export_to_path
from server.media.models import Clip, Frame, Label
from tests.factories import AnnotationFactory, ClipFactory, FrameFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


# --- the documents as the whole-in-memory export defined them --------------------------------------------------


def _exported(project, include_submitted: bool) -> dict[int, Annotation]:
    statuses = ["accepted", "submitted"] if include_submitted else ["accepted"]
    annotations = Annotation.objects.filter(clip__project=project, clip__status="ready", status__in=statuses)
    return {a.frame_id: a for a in annotations.order_by("clip_id", "frame__index")}


def _name(user) -> str | None:
    return user.get_username() if user is not None else None


def reference_json(project, *, include_submitted: bool = False) -> dict:
    """`avs_studio.json` of the project, built in memory from the database."""
    by_frame = _exported(project, include_submitted)
    clips = []
    for clip in Clip.objects.filter(pk__in={a.clip_id for a in by_frame.values()}).order_by("id"):
        origin, audio = getattr(clip, "dataset_origin", None), getattr(clip, "audio", None)
        frames = []
        for frame in Frame.objects.filter(clip=clip).order_by("index"):
            a = by_frame.get(frame.pk)
            frames.append(
                {
                    "id": frame.pk,
                    "index": frame.index,
                    "timestamp": frame.timestamp,
                    "width": frame.width,
                    "height": frame.height,
                    "annotation": None
                    if a is None
                    else {
                        "id": a.pk,
                        "status": a.status,
                        "version": a.version,
                        "author": _name(a.author),
                        "time_spent": a.time_spent,
                        "external_source": a.external_source,
                        "external_id": a.external_id,
                        "source_proposal": a.source_proposal_id,
                        "created_at": a.created_at.isoformat(),
                        "updated_at": a.updated_at.isoformat(),
                        "instances": [{"label": i["label"], "mask": i["mask"]} for i in a.instances],
                        "reviews": [
                            {
                                "verdict": r.verdict,
                                "reviewer": _name(r.reviewer),
                                "comment": r.comment,
                                "annotation_version": r.annotation_version,
                                "created_at": r.created_at.isoformat(),
                            }
                            for r in Review.objects.filter(annotation=a).order_by("created_at", "id")
                        ],
                        "revisions": [
                            {
                                "version": r.version,
                                "status": r.status,
                                "author": _name(r.author),
                                "created_at": r.created_at.isoformat(),
                            }
                            for r in AnnotationRevision.objects.filter(annotation=a).order_by("version")
                        ],
                    },
                }
            )
        clips.append(
            {
                "id": clip.pk,
                "name": clip.name,
                "checksum": clip.checksum,
                "duration": clip.duration,
                "fps": clip.fps,
                "width": clip.width,
                "height": clip.height,
                "has_audio": clip.has_audio,
                "audio": None
                if audio is None
                else {"sample_rate": audio.sample_rate, "duration": audio.duration, "num_samples": audio.num_samples},
                "dataset": None
                if origin is None
                else {
                    "protocol": origin.protocol,
                    "split": origin.split,
                    "vid": origin.vid,
                    "category": origin.category,
                    "subset": origin.subset,
                    "metadata": origin.metadata,
                },
                "frames": frames,
            }
        )
    return {
        "format": "avs-studio",
        "version": 1,
        "exported_at": "(set by the caller)",
        "statuses": ["accepted", "submitted"] if include_submitted else ["accepted"],
        "project": {
            "id": project.pk,
            "name": project.name,
            "fps": project.fps,
            "audio_sample_rate": project.audio_sample_rate,
        },
        "labels": [
            {"id": label.pk, "name": label.name, "color": label.color}
            for label in Label.objects.filter(project=project).order_by("name")
        ],
        "clips": clips,
    }


def reference_coco(project, *, include_submitted: bool = False) -> dict:
    """`annotations/instances.json` of the project, built in memory from the database."""
    labels = list(Label.objects.filter(project=project).order_by("name"))
    category_of = {label.name.lower(): label.pk for label in labels}
    categories = [{"id": label.pk, "name": label.name, "supercategory": "", "color": label.color} for label in labels]
    next_id = max(category_of.values(), default=0) + 1
    images, annotations = [], []
    for a in _exported(project, include_submitted).values():
        frame, clip = a.frame, a.clip
        suffix = Path(frame.image.name).suffix.lower().replace(".jpeg", ".jpg")
        images.append(
            {
                "id": frame.pk,
                "file_name": f"{clip.pk}/{frame.index:05d}{suffix}",
                "width": frame.width,
                "height": frame.height,
                "clip_id": clip.pk,
                "clip_name": clip.name,
                "frame_index": frame.index,
                "timestamp": frame.timestamp,
                "annotation_status": a.status,
                "annotation_version": a.version,
            }
        )
        for instance in a.instances:
            if instance["label"].lower() not in category_of:
                category_of[instance["label"].lower()] = next_id
                categories.append({"id": next_id, "name": instance["label"], "supercategory": "", "color": ""})
                next_id += 1
            rle = {"size": [frame.height, frame.width], "counts": instance["mask"]["counts"]}
            encoded = {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": frame.pk,
                    "category_id": category_of[instance["label"].lower()],
                    "segmentation": rle,
                    "area": rle_area(rle),
                    "bbox": [float(v) for v in mask_utils.toBbox(encoded)],
                    "iscrowd": 0,
                }
            )
    return {
        "info": {
            "description": f'AVS Studio export of project "{project.name}"',
            "version": "1.0",
            "date_created": "(set by the caller)",
        },
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }


# --- a seeded project ------------------------------------------------------------------------------------------


@pytest.fixture
def seeded(project, datasets, import_dataset):
    """An imported AVSS dataset plus what imports do not make: reviews, later revisions by a person, a submitted
    and a draft annotation, a clip of the platform's own with an unannotated frame and a label the project does
    not have, and a clip that is not ready."""
    out, error = import_dataset(project, datasets("avss"), "avss")
    assert error is None, out
    annotations = list(Annotation.objects.filter(clip__project=project).order_by("clip_id", "frame__index"))
    editor, reviewer = UserFactory(username="edith"), UserFactory(username="rita")
    first = annotations[0]
    Review.objects.create(annotation=first, annotation_version=1, reviewer=reviewer, verdict="reject", comment="no")
    first.version, first.author = 2, editor
    first.save()
    AnnotationRevision.objects.create(annotation=first, version=2, instances=first.instances, status="accepted")
    Review.objects.create(annotation=first, annotation_version=2, reviewer=reviewer, verdict="accept")
    Annotation.objects.filter(pk=annotations[1].pk).update(status=Annotation.Status.SUBMITTED)
    Annotation.objects.filter(pk=annotations[2].pk).update(status=Annotation.Status.DRAFT)

    own = ClipFactory(project=project, name="street walk.mp4")
    box = np.zeros((48, 64), dtype=bool)
    box[10:30, 5:40] = True
    for index in range(3):
        frame = FrameFactory(clip=own, index=index)
        if index != 1:
            AnnotationFactory(
                frame=frame,
                status="accepted",
                author=editor,
                instances=[{"mask": rle_encode(box), "label": "dog"}, {"mask": rle_encode(~box), "label": "kazoo"}],
            )
    hidden = ClipFactory(project=project, status=Clip.Status.PROCESSING)
    AnnotationFactory(frame=FrameFactory(clip=hidden, index=0), status="accepted")
    return project


def _read(target: Path, member: str) -> dict:
    if target.suffix == ".zip":
        with zipfile.ZipFile(target) as archive:
            assert archive.testzip() is None
            return json.loads(archive.read(member))
    return json.loads((target / member).read_text(encoding="utf-8"))


@pytest.mark.parametrize("include_submitted", [False, True])
@pytest.mark.parametrize("target", ["folder", "archive.zip"])
def test_streamed_json_equals_the_document_built_in_memory(seeded, tmp_path, target, include_submitted):
    out = tmp_path / target
    summary = export_to_path(project=seeded, fmt="json", out=out, include_submitted=include_submitted)

    document = _read(out, "avs_studio.json")
    expected = reference_json(seeded, include_submitted=include_submitted)
    expected["exported_at"] = document["exported_at"]
    assert document == expected
    assert timezone.datetime.fromisoformat(document["exported_at"])
    own = next(c for c in document["clips"] if c["name"] == "street walk.mp4")
    assert [f["annotation"] is None for f in own["frames"]] == [False, True, False]
    frames = sum(len(c["frames"]) for c in document["clips"])
    annotated = sum(f["annotation"] is not None for c in document["clips"] for f in c["frames"])
    assert (summary["clips"], summary["frames"], summary["annotated_frames"]) == (
        len(document["clips"]),
        frames,
        annotated,
    )


@pytest.mark.parametrize("include_submitted", [False, True])
@pytest.mark.parametrize("target", ["folder", "archive.zip"])
def test_streamed_coco_equals_the_document_built_in_memory(seeded, tmp_path, target, include_submitted):
    out = tmp_path / target
    summary = export_to_path(project=seeded, fmt="coco", out=out, include_submitted=include_submitted)

    document = _read(out, "annotations/instances.json")
    expected = reference_coco(seeded, include_submitted=include_submitted)
    expected["info"]["date_created"] = document["info"]["date_created"]
    assert document == expected
    assert "kazoo" in [c["name"] for c in document["categories"]]  # a label the project does not have
    assert (summary["annotated_frames"], summary["instances"]) == (
        len(expected["images"]),
        len(expected["annotations"]),
    )
    if target == "folder":
        for image in document["images"]:
            assert (out / "images" / image["file_name"]).read_bytes() == Frame.objects.get(pk=image["id"]).image.read()


@pytest.mark.parametrize("fmt", ["json", "coco"])
def test_the_export_job_stores_the_same_document(seeded, fmt, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        export = export_create(project=seeded, user=None, fmt=fmt)

    export.refresh_from_db()
    assert export.job.status == "succeeded", export.job.error
    with export.file.open("rb") as handle, zipfile.ZipFile(handle) as archive:
        member = "avs_studio.json" if fmt == "json" else "annotations/instances.json"
        document = json.loads(archive.read(member))
        names = archive.namelist()
    if fmt == "json":
        expected = reference_json(seeded)
        expected["exported_at"] = document["exported_at"]
    else:
        expected = reference_coco(seeded)
        expected["info"]["date_created"] = document["info"]["date_created"]
        assert len([n for n in names if n.startswith("images/")]) == len(expected["images"])
    assert document == expected
    assert export.size_bytes == export.file.size
    assert Export.objects.get(pk=export.pk).summary["annotated_frames"] == len(_exported(seeded, False))


# --- bounded memory and queries ---------------------------------------------------------------------------------

NOISE = 96  # pixels per side of the frames of the many-annotations projects: noisy masks give long RLE strings


def _many(clips: int, *, frames: int = 3):
    """A project of `clips` clips, `frames` accepted frames each, every annotation two noisy masks and two
    revisions that carry masks too."""
    project = ProjectFactory()
    Label.objects.create(project=project, name="dog", color="#00ff00")
    author = UserFactory()
    rng = np.random.default_rng(clips)
    revisions = []
    for _ in range(clips):
        clip = ClipFactory(project=project)
        for index in range(frames):
            frame = FrameFactory(clip=clip, index=index, image__width=NOISE, image__height=NOISE)
            instances = [
                {"mask": rle_encode(rng.random((NOISE, NOISE)) < 0.5), "label": label} for label in ("dog", "cat")
            ]
            annotation = AnnotationFactory(frame=frame, status="accepted", version=2, instances=instances)
            revisions += [
                AnnotationRevision(
                    annotation=annotation, version=v, instances=instances, status="accepted", author=author
                )
                for v in (1, 2)
            ]
    AnnotationRevision.objects.bulk_create(revisions)
    return project


EXPORTS = [("json", None), ("coco", None), ("avsbench", "avss"), ("avsbench", "s4")]


@pytest.mark.parametrize(("fmt", "protocol"), EXPORTS)
def test_memory_of_an_export_is_bounded_by_the_chunk_not_the_project(fmt, protocol, tmp_path, monkeypatch):
    monkeypatch.setattr(export_service, "EXPORT_CHUNK", 4)
    small, large = _many(4), _many(16)

    def peak(project, name: str) -> int:
        tracemalloc.start()
        try:
            export_to_path(project=project, fmt=fmt, out=tmp_path / f"{name}.zip", protocol=protocol)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    peak(small, "warm-up")  # imports and caches that the first export fills
    small_peak, large_peak = peak(small, "small"), peak(large, "large")

    # 4 times the clips and annotations (and their masks): a whole-in-memory export needs about 4 times the memory.
    assert large_peak < 1.5 * small_peak, (small_peak, large_peak)
    with zipfile.ZipFile(tmp_path / "large.zip") as archive:
        assert archive.testzip() is None
        assert len(archive.namelist()) >= (1 if fmt == "json" else 16 * 3)  # every frame's image or mask


@pytest.mark.parametrize(("fmt", "protocol"), EXPORTS)
def test_queries_of_an_export_are_a_constant_number_per_chunk(fmt, protocol, tmp_path, monkeypatch):
    def count(project, name: str) -> int:
        with CaptureQueriesContext(connection) as queries:
            export_to_path(project=project, fmt=fmt, out=tmp_path / name, protocol=protocol)
        return len(queries)

    small, large = _many(3, frames=2), _many(12, frames=2)
    # Every chunk of the default size holds all the annotations: the same queries for 3 or 12 clips (no N+1).
    assert count(large, "large") == count(small, "small")

    monkeypatch.setattr(export_service, "EXPORT_CHUNK", 2)
    # Chunks of 2 annotations: 9 more chunks for 18 more annotations; the reviews and the revisions of a chunk
    # (JSON) are one query each, and nothing else is read per chunk or per clip.
    per_chunk = 2 if fmt == "json" else 0
    assert count(large, "large-chunked") - count(small, "small-chunked") == per_chunk * (12 - 3)


def test_audio_at_another_rate_is_resampled_into_the_archive(datasets, import_dataset, tmp_path):
    from ml_backend.serving.datasets import read_layout, read_wav

    project = ProjectFactory(audio_sample_rate=8000)
    out, error = import_dataset(project, datasets("ms3"), "ms3", "--split", "test")
    assert error is None, out

    export_to_path(project=project, fmt="avsbench", out=tmp_path / "ms3.zip")

    with zipfile.ZipFile(tmp_path / "ms3.zip") as archive:
        archive.extractall(tmp_path / "unzipped")
    records = read_layout(tmp_path / "unzipped", protocol="ms3")
    originals = {r.vid: r for r in read_layout(datasets("ms3"), protocol="ms3", split="test")}
    assert {r.vid for r in records} == set(originals)
    for record in records:
        samples, rate = read_wav(record.audio_path)
        original, _ = read_wav(originals[record.vid].audio_path)
        assert (rate, samples.size) == (16000, original.size)  # back at AVSBench's 16 kHz, the same length
        assert np.corrcoef(samples, original)[0, 1] > 0.9  # the same sound, through 8 kHz and back
