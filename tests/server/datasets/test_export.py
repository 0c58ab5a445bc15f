"""`manage.py export`: AVSBench layouts that reproduce the imported dataset, COCO that pycocotools reads, JSON."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from pycocotools.coco import COCO

from ml_backend.serving.datasets import (
    METADATA_FILES,
    read_ground_truth,
    read_label2idx,
    read_layout,
    read_wav,
)
from server.annotations.models import Annotation, Review
from server.core.masks import rle_decode
from server.media.models import Label
from tests.factories import AnnotationFactory, ClipFactory, FrameFactory, UserFactory

pytestmark = pytest.mark.django_db


def export(project, fmt: str, out, *extra: str) -> str:
    stdout = io.StringIO()
    call_command("export", "--project", project.name, "--format", fmt, "--out", str(out), *extra, stdout=stdout)
    return stdout.getvalue()


@pytest.mark.parametrize("protocol", ["s4", "ms3", "avss"])
def test_import_then_export_reproduces_the_dataset(protocol, project, datasets, import_dataset, tmp_path):
    root = datasets(protocol)
    out, error = import_dataset(project, root, protocol)
    assert error is None, out

    message = export(project, "avsbench", tmp_path / "exported")

    assert "Exported 6 clips" in message and f"(avsbench {protocol})" in message
    exported = tmp_path / "exported"
    originals = {r.vid: r for r in read_layout(root, protocol=protocol)}
    copies = {r.vid: r for r in read_layout(exported, protocol=protocol)}
    assert copies.keys() == originals.keys()
    for vid, original in originals.items():
        copy = copies[vid]
        assert (copy.split, copy.category, copy.subset, copy.num_frames) == (
            original.split,
            original.category,
            original.subset,
            original.num_frames,
        )
        assert copy.labelled_frames == original.labelled_frames
        # Masks exactly; frames byte for byte (nothing re-encoded); the same audio samples.
        assert np.array_equal(read_ground_truth(copy), read_ground_truth(original))
        for a, b in zip(copy.frame_paths, original.frame_paths, strict=True):
            assert a.read_bytes() == b.read_bytes()
        assert np.array_equal(read_wav(copy.audio_path)[0], read_wav(original.audio_path)[0])
    assert (exported / METADATA_FILES[protocol]).read_text() == (root / METADATA_FILES[protocol]).read_text()
    if protocol == "avss":
        assert read_label2idx(exported) == read_label2idx(root)


def test_export_to_a_zip_archive_holds_the_layout(project, datasets, import_dataset, tmp_path):
    import_dataset(project, datasets("s4"), "s4", "--split", "test")

    export(project, "avsbench", tmp_path / "s4.zip")

    with zipfile.ZipFile(tmp_path / "s4.zip") as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "unzipped")
    assert "s4_meta_data.csv" in names
    assert any(n.startswith("gt_masks/test/") for n in names) and any(n.startswith("audio_wav/test/") for n in names)
    expected = [r.vid for r in read_layout(datasets("s4"), protocol="s4", split="test")]
    assert [r.vid for r in read_layout(tmp_path / "unzipped", protocol="s4")] == expected


def test_coco_export_loads_in_pycocotools_and_decodes_to_the_annotation_masks(
    project, datasets, import_dataset, tmp_path
):
    import_dataset(project, datasets("avss"), "avss")

    export(project, "coco", tmp_path / "coco")

    coco = COCO(str(tmp_path / "coco" / "annotations" / "instances.json"))
    labels = {label.pk: label.name for label in Label.objects.filter(project=project)}
    assert {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())} == labels
    annotations = Annotation.objects.filter(clip__project=project).select_related("frame", "clip")
    assert len(coco.getImgIds()) == annotations.count()
    for annotation in annotations:
        frame = annotation.frame
        image = coco.loadImgs(frame.pk)[0]
        assert (image["clip_id"], image["clip_name"], image["frame_index"]) == (
            annotation.clip_id,
            annotation.clip.name,
            frame.index,
        )
        assert image["timestamp"] == pytest.approx(frame.index + 0.94)
        assert (image["width"], image["height"]) == (frame.width, frame.height)
        assert (tmp_path / "coco" / "images" / image["file_name"]).read_bytes() == frame.image.read()
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[frame.pk]))
        assert [labels[a["category_id"]] for a in anns] == [i["label"] for i in annotation.instances]
        for ann, instance in zip(anns, annotation.instances, strict=True):
            assert ann["iscrowd"] == 0
            decoded = coco.annToMask(ann)
            assert np.array_equal(decoded, rle_decode(instance["mask"]))
            assert ann["area"] == int(decoded.sum())


def test_json_export_has_clips_frames_instances_review_status_authors_and_versions(
    project, datasets, import_dataset, tmp_path
):
    import_dataset(project, datasets("ms3"), "ms3", "--split", "test")
    annotation = Annotation.objects.filter(clip__project=project).select_related("frame").first()
    reviewer = UserFactory(username="rita")
    Review.objects.create(annotation=annotation, annotation_version=1, reviewer=reviewer, verdict="accept")

    export(project, "json", tmp_path / "platform.zip")

    with zipfile.ZipFile(tmp_path / "platform.zip") as archive:
        document = json.loads(archive.read("avs_studio.json"))
    assert document["statuses"] == ["accepted"]
    assert len(document["clips"]) == len(read_layout(datasets("ms3"), protocol="ms3", split="test"))
    clip = next(c for c in document["clips"] if c["id"] == annotation.clip_id)
    assert clip["dataset"]["protocol"] == "ms3" and clip["audio"]["sample_rate"] == 16000
    frame = next(f for f in clip["frames"] if f["index"] == annotation.frame.index)
    exported = frame["annotation"]
    assert (exported["status"], exported["version"], exported["author"]) == ("accepted", 1, None)
    assert exported["external_id"] == annotation.external_id
    assert exported["instances"] == [{"label": i["label"], "mask": i["mask"]} for i in annotation.instances]
    assert exported["reviews"][0]["reviewer"] == "rita" and exported["reviews"][0]["verdict"] == "accept"
    assert exported["revisions"] == [
        {"version": 1, "status": "accepted", "author": None, "created_at": exported["revisions"][0]["created_at"]}
    ]


def test_only_accepted_annotations_unless_submitted_are_included(project, datasets, import_dataset, tmp_path):
    import_dataset(project, datasets("s4"), "s4", "--split", "test")
    annotation = Annotation.objects.filter(clip__project=project).select_related("frame", "clip").first()
    Annotation.objects.filter(pk=annotation.pk).update(status=Annotation.Status.SUBMITTED)
    draft = Annotation.objects.exclude(pk=annotation.pk).filter(clip__project=project).first()
    Annotation.objects.filter(pk=draft.pk).update(status=Annotation.Status.DRAFT)

    export(project, "coco", tmp_path / "accepted")
    export(project, "coco", tmp_path / "with_submitted", "--include-submitted")

    accepted = COCO(str(tmp_path / "accepted" / "annotations" / "instances.json"))
    with_submitted = COCO(str(tmp_path / "with_submitted" / "annotations" / "instances.json"))
    assert annotation.frame_id not in accepted.getImgIds() and draft.frame_id not in accepted.getImgIds()
    assert annotation.frame_id in with_submitted.getImgIds() and draft.frame_id not in with_submitted.getImgIds()
    assert len(with_submitted.getImgIds()) == len(accepted.getImgIds()) + 1
    export(project, "avsbench", tmp_path / "layout")
    clip = annotation.clip
    mask = tmp_path / "layout" / "gt_masks" / "test" / clip.dataset_origin.category / clip.name
    assert not (mask / f"{clip.name}_{annotation.frame.index + 1}.png").exists()


def test_clips_that_were_not_imported_export_under_a_protocol_given(project, tmp_path):
    clip = ClipFactory(project=project, name="street walk.mp4")
    frame = FrameFactory(clip=clip, index=0)
    mask = np.zeros((48, 64), dtype=bool)
    mask[10:20, 5:30] = True
    from server.core.masks import rle_encode

    AnnotationFactory(
        frame=frame, status=Annotation.Status.ACCEPTED, instances=[{"mask": rle_encode(mask), "label": "dog"}]
    )
    with pytest.raises(CommandError, match="Say which AVSBench protocol to export"):
        export(project, "avsbench", tmp_path / "nope")

    export(project, "avsbench", tmp_path / "avss", "--protocol", "avss")

    [record] = read_layout(tmp_path / "avss", protocol="avss")
    assert (record.vid, record.split, record.subset) == (f"street_walk_{clip.pk}", "test", "v2")
    labels = read_ground_truth(record)
    assert labels.shape == (1, 48, 64)
    assert np.array_equal(labels[0] == 17, mask) and set(np.unique(labels[0])) == {0, 17}  # dog is class 17
    assert (tmp_path / "avss" / record.frame_paths[0].relative_to(tmp_path / "avss")).is_file()


def test_nothing_to_export_is_a_readable_error(project, tmp_path):
    with pytest.raises(CommandError, match="has no accepted annotations to export"):
        export(project, "json", tmp_path / "empty")
