"""AVSBench layout writers and readers round-trip; prediction folders are read or refused clearly."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from ml_backend.evaluation.classes import AVSBENCH_CLASSES, label2idx, read_classes_tsv, voc_palette
from ml_backend.evaluation.datasets import (
    DatasetError,
    LayoutClip,
    load_clip_media,
    prediction_paths,
    read_binary_prediction,
    read_ground_truth,
    read_layout,
    read_semantic_prediction,
    read_split,
    write_layout,
    write_prediction,
)


def make_clip(vid: str, split: str, *, seed: int, frames: int = 5, size: int = 16, **kwargs) -> LayoutClip:
    rng = np.random.default_rng(seed)
    labels = np.zeros((frames, size, size), dtype=np.uint8)
    labels[:, 2:7, 3:9] = 17  # "dog"
    labels[1:, 9:13, 9:14] = 11  # "car"
    labels[2] = 0  # a frame with nothing sounding
    return LayoutClip(
        vid=vid,
        split=split,
        frames=rng.integers(0, 256, size=(frames, size, size, 3), dtype=np.uint8),
        audio=(0.5 * np.sin(np.arange(16000 * frames) / 7.0)).astype(np.float32),
        labels=labels,
        **kwargs,
    )


def read_csv(path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_s4_round_trip(tmp_path):
    clips = [
        make_clip("vidA", "test", seed=1, category="dog"),
        make_clip("vidB", "train", seed=2, category="car"),
        make_clip("vidC", "test", seed=3, category="dog"),
    ]
    write_layout(tmp_path, clips, protocol="s4")
    assert read_csv(tmp_path / "s4_meta_data.csv") == [
        ["name", "start", "category", "split"],
        ["vidA", "0", "dog", "test"],
        ["vidB", "0", "car", "train"],
        ["vidC", "0", "dog", "test"],
    ]
    assert (tmp_path / "visual_frames/test/dog/vidA/vidA_5.png").is_file()
    assert (tmp_path / "audio_wav/train/car/vidB.wav").is_file()
    mask = np.asarray(Image.open(tmp_path / "gt_masks/test/dog/vidA/vidA_1.png"))
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 255}
    # train clips are labelled on frame 1 only
    assert sorted(p.name for p in (tmp_path / "gt_masks/train/car/vidB").iterdir()) == ["vidB_1.png"]

    records = read_layout(tmp_path, protocol="s4")
    assert [r.vid for r in records] == ["vidA", "vidB", "vidC"]  # metadata order
    assert [r.vid for r in read_layout(tmp_path, protocol="s4", split="test")] == ["vidA", "vidC"]
    a, b = records[0], records[1]
    assert a.labelled_frames == [0, 1, 2, 3, 4] and b.labelled_frames == [0]
    np.testing.assert_array_equal(read_ground_truth(a), clips[0].labels > 0)
    np.testing.assert_array_equal(read_ground_truth(b), clips[1].labels[:1] > 0)
    media = load_clip_media(a)
    np.testing.assert_array_equal(media.frames, clips[0].frames)
    assert media.timestamps.tolist() == pytest.approx([0.94, 1.94, 2.94, 3.94, 4.94])
    assert media.sample_rate == 16000
    np.testing.assert_allclose(media.audio, clips[0].audio, atol=1 / 32767)


def test_ms3_round_trip(tmp_path):
    clips = [make_clip("m1", "val", seed=4), make_clip("m2", "train", seed=5)]
    write_layout(tmp_path, clips, protocol="ms3")
    assert read_csv(tmp_path / "ms3_meta_data.csv")[0] == ["video_id", "split"]
    assert (tmp_path / "visual_frames/m1/m1.mp4_3.png").is_file()
    assert (tmp_path / "gt_masks/train/m2/m2_5.png").is_file()  # MS3 labels every frame, train too
    records = read_layout(tmp_path, protocol="ms3")
    assert [(r.vid, r.split, r.labelled_frames) for r in records] == [
        ("m1", "val", [0, 1, 2, 3, 4]),
        ("m2", "train", [0, 1, 2, 3, 4]),
    ]
    np.testing.assert_array_equal(read_ground_truth(records[1]), clips[1].labels > 0)


def test_avss_round_trip_with_palette_colours(tmp_path):
    clips = [
        make_clip("yt1", "test", seed=6, subset="v1m", a_obj="car_dog"),
        make_clip("yt2", "train", seed=7, subset="v1s", a_obj="dog"),
        make_clip("yt3", "test", seed=8, frames=10, subset="v2", a_obj="dog", start=75),
    ]
    write_layout(tmp_path, clips, protocol="avss")
    rows = read_csv(tmp_path / "metadata.csv")
    assert rows[0] == ["vid", "uid", "s_min", "s_sec", "a_obj", "split", "label"]
    assert rows[3] == ["yt3", "yt3_75", "1", "15", "dog", "test", "v2"]
    mapping = json.loads((tmp_path / "label2idx.json").read_text())
    assert len(mapping) == 71 and mapping["background"] == 0 and mapping["accordion"] == 1
    colour = np.asarray(Image.open(tmp_path / "v1m/yt1_0/labels_rgb/0.png").convert("RGB"))
    assert tuple(colour[3, 4]) == tuple(voc_palette()[17]) and tuple(colour[0, 0]) == (0, 0, 0)
    assert (tmp_path / "v1m/yt1_0/frames/4.jpg").is_file() and (tmp_path / "v1m/yt1_0/audio.wav").is_file()

    records = read_layout(tmp_path, protocol="avss")
    assert [(r.vid, r.subset, r.num_frames, r.labelled_frames[:2]) for r in records] == [
        ("yt1_0", "v1m", 5, [0, 1]),
        ("yt2_0", "v1s", 5, [0]),  # v1s train: first frame only
        ("yt3_75", "v2", 10, [0, 1]),
    ]
    np.testing.assert_array_equal(read_ground_truth(records[2]), clips[2].labels)


def test_classes_match_the_shared_tsv_format(tmp_path):
    tsv = tmp_path / "classes.tsv"
    tsv.write_text("class\tov_split\n" + "".join(f"{n}\t{s}\n" for n, s in AVSBENCH_CLASSES))
    assert read_classes_tsv(tsv) == list(AVSBENCH_CLASSES)
    assert sum(1 for _, s in AVSBENCH_CLASSES if s == "base") == 40
    assert label2idx()["woman"] == 70


def test_missing_root_metadata_and_empty_split_are_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        read_layout(tmp_path / "nope", protocol="s4")
    with pytest.raises(DatasetError, match="s4_meta_data.csv is missing"):
        read_layout(tmp_path, protocol="s4")
    write_layout(tmp_path, [make_clip("v", "train", seed=1, category="dog")], protocol="s4")
    with pytest.raises(DatasetError, match=r"split 'test' .* has no clips \(splits present: train\)"):
        read_split(tmp_path, protocol="s4", split="test")


def test_missing_predictions_are_listed_with_a_count(tmp_path):
    gt = tmp_path / "gt"
    clips = [make_clip(f"v{i}", "test", seed=i, category="dog") for i in range(3)]
    write_layout(gt, clips, protocol="s4")
    records = read_layout(gt, protocol="s4", split="test")
    pred = tmp_path / "pred"
    write_prediction(pred, records[0], 0, np.zeros((16, 16), np.float32))
    with pytest.raises(DatasetError) as info:
        prediction_paths(pred, records)
    message = str(info.value)
    assert "14 of 15 prediction files are missing" in message
    assert "dog/v0/v0_2.npy|png" in message and "... and 9 more" in message


def test_prediction_files_npy_and_png(tmp_path):
    path = tmp_path / "p.png"
    Image.fromarray(np.array([[0, 128], [255, 64]], dtype=np.uint8)).save(path)
    np.testing.assert_allclose(read_binary_prediction(path), [[0, 128 / 255], [1, 64 / 255]])
    np.save(tmp_path / "p.npy", np.array([[0.25, 1.0]], dtype=np.float64))
    assert read_binary_prediction(tmp_path / "p.npy").tolist() == [[0.25, 1.0]]
    np.save(tmp_path / "bad.npy", np.array([[1.5]]))
    with pytest.raises(DatasetError, match=r"in \[0, 1\]"):
        read_binary_prediction(tmp_path / "bad.npy")
    scores = np.zeros((71, 2, 2))
    scores[5] = 1.0
    np.save(tmp_path / "scores.npy", scores)
    assert read_semantic_prediction(tmp_path / "scores.npy").tolist() == [[5, 5], [5, 5]]
    Image.fromarray(voc_palette()[np.array([[0, 3], [70, 3]])]).save(tmp_path / "colours.png")
    assert read_semantic_prediction(tmp_path / "colours.png").tolist() == [[0, 3], [70, 3]]
    Image.fromarray(np.full((2, 2, 3), 7, dtype=np.uint8)).save(tmp_path / "odd.png")
    with pytest.raises(DatasetError, match="not one of the 71 palette colours"):
        read_semantic_prediction(tmp_path / "odd.png")
