"""`manage.py import_avsbench`: AVSBench folders become clips with frames, audio and accepted ground truth."""

from __future__ import annotations

import wave

import numpy as np
import pytest
from django.core.files.storage import FileSystemStorage
from PIL import Image

from ml_backend.serving.datasets import (
    class_names,
    read_binary_mask,
    read_color_mask,
    read_layout,
    read_wav,
    voc_palette,
)
from server.annotations.models import Annotation, AnnotationRevision
from server.core.masks import rle_decode
from server.datasets.models import DatasetClip
from server.datasets.services.avsbench_import import avsbench_import
from server.jobs.models import Job
from server.media.models import AudioTrack, Clip, Frame, Label
from tests.factories import ProjectFactory
from tests.server.datasets.conftest import SIZE, stored_files

pytestmark = pytest.mark.django_db


def test_s4_import_creates_ready_clips_with_frames_audio_and_accepted_ground_truth(
    project, datasets, import_dataset, media_root
):
    root = datasets("s4")
    records = read_layout(root, protocol="s4")

    out, error = import_dataset(project, root, "s4")

    assert error is None, out
    assert "6 imported, 0 already in the project, 0 failed (of 6 clips)" in out
    assert Clip.objects.filter(project=project).count() == 6
    for record in records:
        clip = Clip.objects.get(project=project, name=record.vid)
        assert (clip.status, clip.fps, clip.duration, clip.width, clip.height, clip.has_audio) == (
            Clip.Status.READY,
            1.0,
            5.0,
            SIZE,
            SIZE,
            True,
        )
        frames = list(clip.frames.order_by("index"))
        assert [f.index for f in frames] == [0, 1, 2, 3, 4]
        assert [f.timestamp for f in frames] == pytest.approx([0.94, 1.94, 2.94, 3.94, 4.94])
        # Frames are the dataset's PNG files, byte for byte, at projects/{pid}/clips/{cid}/frames/.
        for frame, path in zip(frames, record.frame_paths, strict=True):
            assert frame.image.name == f"projects/{project.pk}/clips/{clip.pk}/frames/{frame.index:05d}.png"
            assert (media_root / frame.image.name).read_bytes() == path.read_bytes()
        audio = clip.audio
        assert (audio.sample_rate, audio.num_samples) == (16000, 5 * 16000)
        expected, _ = read_wav(record.audio_path)
        stored, rate = read_wav(media_root / audio.file.name)
        assert rate == 16000 and np.array_equal(stored, expected)
        # Train clips are labelled on frame 1 only; val/test on all 5 (S4 rule).
        annotations = list(Annotation.objects.filter(clip=clip).select_related("frame").order_by("frame__index"))
        assert [a.frame.index for a in annotations] == record.labelled_frames
        for annotation in annotations:
            k = annotation.frame.index
            assert annotation.status == Annotation.Status.ACCEPTED
            assert (annotation.external_source, annotation.external_id) == (
                "avsbench",
                f"s4:{record.split}:{record.vid}:{k}",
            )
            truth = read_binary_mask(record.mask_paths[k])
            decoded = np.zeros_like(truth)
            for instance in annotation.instances:
                assert instance["label"] == record.category
                decoded |= rle_decode(instance["mask"]).astype(bool)
            assert np.array_equal(decoded, truth)
        assert AnnotationRevision.objects.filter(annotation__clip=clip).count() == len(annotations)
        origin = clip.dataset_origin
        assert (origin.protocol, origin.split, origin.vid, origin.category) == (
            "s4",
            record.split,
            record.vid,
            record.category,
        )
    assert set(Label.objects.filter(project=project).values_list("name", flat=True)) == {r.category for r in records}
    job = Job.objects.get(project=project, kind=Job.Kind.IMPORT)
    assert job.status == Job.Status.SUCCEEDED and "6 imported" in job.message


def test_importing_the_same_folder_again_reports_the_existing_clips(project, datasets, import_dataset):
    root = datasets("s4")
    import_dataset(project, root, "s4")
    ids = dict(Clip.objects.filter(project=project).values_list("name", "pk"))

    out, error = import_dataset(project, root, "s4")

    assert error is None
    assert "0 imported, 6 already in the project, 0 failed" in out
    for name, pk in ids.items():
        assert f"/{name}: already in the project as clip {pk}" in out
    assert Clip.objects.filter(project=project).count() == 6


def test_split_option_imports_only_that_split(project, datasets, import_dataset):
    root = datasets("s4")
    test_vids = {r.vid for r in read_layout(root, protocol="s4", split="test")}

    out, error = import_dataset(project, root, "s4", "--split", "test")

    assert error is None, out
    assert set(Clip.objects.filter(project=project).values_list("name", flat=True)) == test_vids


def test_avss_colour_masks_become_one_instance_per_class_with_palette_coloured_labels(
    project, datasets, import_dataset
):
    root = datasets("avss")
    records = read_layout(root, protocol="avss")

    out, error = import_dataset(project, root, "avss")

    assert error is None, out
    names = class_names()
    palette = voc_palette(256)
    seen: set[str] = set()
    for record in records:
        clip = Clip.objects.get(project=project, name=record.vid)
        assert clip.frames.first().image.name.endswith(".jpg")  # AVSS frames stay JPEG
        for annotation in Annotation.objects.filter(clip=clip).select_related("frame"):
            truth = read_color_mask(record.mask_paths[annotation.frame.index])
            rebuilt = np.zeros_like(truth)
            labels = [i["label"] for i in annotation.instances]
            assert len(labels) == len(set(labels))  # one instance per class
            for instance in annotation.instances:
                rebuilt[rle_decode(instance["mask"]).astype(bool)] = names.index(instance["label"]) + 1
                seen.add(instance["label"])
            assert np.array_equal(rebuilt, truth)
    for label in Label.objects.filter(project=project):
        index = names.index(label.name) + 1
        assert label.color == "#{:02x}{:02x}{:02x}".format(*palette[index])
    assert {label.name for label in Label.objects.filter(project=project)} == seen


def test_ms3_masks_are_labelled_sounding_object(project, datasets, import_dataset):
    out, error = import_dataset(project, datasets("ms3"), "ms3")

    assert error is None, out
    labels = {i["label"] for a in Annotation.objects.filter(clip__project=project) for i in a.instances}
    assert labels == {"sounding object"}
    assert Annotation.objects.filter(clip__project=project).count() == 30  # MS3 labels every frame


def test_audio_is_resampled_to_the_project_rate(datasets, import_dataset, media_root):
    project = ProjectFactory(audio_sample_rate=8000)

    out, error = import_dataset(project, datasets("ms3"), "ms3", "--split", "test")

    assert error is None, out
    for audio in AudioTrack.objects.filter(clip__project=project):
        assert (audio.sample_rate, audio.num_samples, audio.duration) == (8000, 40000, 5.0)
        with wave.open(str(media_root / audio.file.name)) as f:
            assert (f.getframerate(), f.getnchannels(), f.getsampwidth()) == (8000, 1, 2)


def test_bad_files_are_reported_one_by_one_and_their_clips_leave_nothing_behind(
    project, dataset_copy, import_dataset, media_root
):
    root = dataset_copy("s4")
    records = {r.vid: r for r in read_layout(root, protocol="s4")}
    val_or_test = [r for r in records.values() if r.split != "train"]
    missing_frame, bad_mask, small_mask = (
        val_or_test[0],
        val_or_test[1],
        records[next(v for v, r in records.items() if r.split == "train")],
    )
    missing_frame.frame_paths[2].unlink()  # a frame in the middle: read_layout alone would see 2 frames
    bad_mask.mask_paths[3].write_bytes(b"this is not a PNG")
    Image.new("L", (SIZE // 2, SIZE // 2)).save(small_mask.mask_paths[0])

    out, error = import_dataset(project, root, "s4")

    assert error is not None and "3 of 6 clips could not be imported" in str(error)
    assert "3 imported, 0 already in the project, 3 failed (of 6 clips)" in out
    assert f"{missing_frame.frame_paths[2]}: missing frame 2" in out
    assert f"{bad_mask.mask_paths[3]}: unreadable mask" in out
    assert f"{small_mask.mask_paths[0]}: size mismatch: the mask is 32x32 but the frames are 64x64 (WxH)" in out
    imported = set(Clip.objects.filter(project=project).values_list("name", flat=True))
    assert imported == set(records) - {missing_frame.vid, bad_mask.vid, small_mask.vid}
    # Nothing of the failed clips: no rows, and files only in the folders of the imported clips.
    assert DatasetClip.objects.count() == 3 and Frame.objects.count() == 15
    folders = {"/".join(name.split("/")[:4]) for name in stored_files(media_root)}
    assert folders == {f"projects/{project.pk}/clips/{pk}" for pk in Clip.objects.values_list("pk", flat=True)}
    job = Job.objects.get(kind=Job.Kind.IMPORT)
    assert job.status == Job.Status.FAILED and f"{bad_mask.mask_paths[3]}: unreadable mask" in job.error


def test_missing_audio_and_unreadable_frame_are_reported(project, dataset_copy, import_dataset):
    root = dataset_copy("avss")
    first, second = read_layout(root, protocol="avss")[:2]
    first.audio_path.unlink()
    second.frame_paths[0].write_bytes(b"\xff\xd8 truncated jpeg")

    out, error = import_dataset(project, root, "avss")

    assert error is not None
    assert f"{first.audio_path}: missing audio" in out
    assert f"{second.frame_paths[0]}: unreadable frame" in out
    assert not Clip.objects.filter(name__in=[first.vid, second.vid]).exists()
    assert Clip.objects.count() == 4


class FailingStorage(FileSystemStorage):
    """Local storage that fails when it stores the audio of the clip named `fail_clip_pk`'s folder."""

    def __init__(self, *, fail_on: str):
        super().__init__()
        self.fail_on = fail_on

    def _save(self, name, content):
        if name.endswith(self.fail_on):
            raise OSError(28, "No space left on device")
        return super()._save(name, content)


def test_a_clip_whose_transaction_rolls_back_leaves_no_files(project, datasets, media_root):
    """Frames were written before the audio failed: they are deleted with the rolled-back rows."""
    report = avsbench_import(
        project=project, root=datasets("ms3"), protocol="ms3", storage=FailingStorage(fail_on="audio.wav")
    )

    assert report.failed == 6
    assert "could not be stored" in report.outcomes[0].problems[0]
    assert Clip.objects.count() == 0 and Frame.objects.count() == 0 and Annotation.objects.count() == 0
    assert stored_files(media_root) == []
    assert not (media_root / f"projects/{project.pk}/clips").exists() or not any(
        (media_root / f"projects/{project.pk}/clips").iterdir()
    )


def test_a_folder_that_is_not_the_layout_fails_with_a_readable_message(project, tmp_path, import_dataset):
    out, error = import_dataset(project, tmp_path, "s4")

    assert error is not None
    assert "is not an AVSBench S4 layout: s4_meta_data.csv is missing" in str(error)
    assert Clip.objects.count() == 0


def test_unknown_split_names_the_splits_present(project, datasets, import_dataset):
    out, error = import_dataset(project, datasets("s4"), "s4", "--split", "nope")

    assert error is not None and "splits present: test, train, val" in str(error)


def test_unknown_project_is_refused_unless_created(datasets, import_dataset, db):
    class Named:
        name = "fresh"

    _, error = import_dataset(Named, datasets("ms3"), "ms3", "--split", "test")
    assert error is not None and 'There is no project named "fresh"' in str(error)

    out, error = import_dataset(Named, datasets("ms3"), "ms3", "--split", "test", "--create")
    assert error is None, out
    assert Clip.objects.filter(project__name="fresh").exists()
