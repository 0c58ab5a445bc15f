"""`python -m ml_backend evaluate` on synthetic layouts: perfect predictions score 1, mistakes are explained."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ml_backend.__main__ import main
from ml_backend.evaluation.datasets import read_layout, write_prediction
from ml_backend.media.synth import generate_dataset


@pytest.fixture(scope="module")
def s4_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("s4")
    generate_dataset(root, clips=5, seed=11, layout="s4", size=96, splits=(("train", 1), ("test", 4)))
    return root


def evaluate(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["evaluate", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_s4_ground_truth_against_itself_scores_one(s4_root, capsys):
    code, out, _ = evaluate(
        capsys, "--gt", str(s4_root), "--pred", str(s4_root / "gt_masks" / "test"), "--protocol", "s4", "--json"
    )
    assert code == 0
    result = json.loads(out)
    assert result["miou"] == pytest.approx(1.0, abs=1e-6)
    assert result["fscore"] == 1.0 and result["fscore_at_0_5"] == 1.0
    assert (result["n_clips"], result["n_frames"]) == (4, 20)
    assert result["protocol"] == "s4" and result["split"] == "test"
    assert result["n_batches"] == 1 and result["batch_clips"] == 4


def test_batch_clips_option_changes_the_batching(s4_root, capsys):
    args = ["--gt", str(s4_root), "--pred", str(s4_root / "gt_masks" / "test"), "--protocol", "s4", "--json"]
    code, out, _ = evaluate(capsys, *args, "--batch-clips", "1")
    assert code == 0 and json.loads(out)["n_batches"] == 4


def test_train_split_scores_only_the_first_frame(s4_root, capsys):
    code, out, _ = evaluate(
        capsys,
        *("--gt", str(s4_root), "--pred", str(s4_root / "gt_masks" / "train"), "--protocol", "s4"),
        *("--split", "train", "--json"),
    )
    assert code == 0 and json.loads(out)["n_frames"] == 1


def test_human_readable_table(s4_root, capsys):
    code, out, _ = evaluate(
        capsys, "--gt", str(s4_root), "--pred", str(s4_root / "gt_masks" / "test"), "--protocol", "s4"
    )
    assert code == 0
    assert "mIoU (J)            1.0000" in out and "F-score (official)  1.0000" in out and "F-score at 0.5" in out


@pytest.mark.parametrize("layout", ["ms3", "avss"])
def test_ms3_and_avss_ground_truth_against_itself(layout, tmp_path, capsys):
    root = tmp_path / layout
    generate_dataset(root, clips=3, seed=5, layout=layout, size=64, splits=(("test", 1.0),))
    pred = root / "gt_masks" / "test" if layout == "ms3" else root
    code, out, _ = evaluate(capsys, "--gt", str(root), "--pred", str(pred), "--protocol", layout, "--json")
    assert code == 0
    result = json.loads(out)
    assert result["miou"] == pytest.approx(1.0, abs=1e-6) and result["fscore"] == pytest.approx(1.0)
    assert result["fscore_at_0_5"] == pytest.approx(1.0) and result["n_frames"] == 15
    if layout == "avss":
        assert result["miou_ov"] == pytest.approx(1.0) and result["n_classes_present"] >= 2


def test_all_background_prediction_scores_the_empty_frames_only(s4_root, tmp_path, capsys):
    records = read_layout(s4_root, protocol="s4", split="test")
    for record in records:
        for k in record.labelled_frames:
            write_prediction(tmp_path, record, k, np.zeros((96, 96), np.float32))
    code, out, _ = evaluate(capsys, "--gt", str(s4_root), "--pred", str(tmp_path), "--protocol", "s4", "--json")
    result = json.loads(out)
    assert code == 0 and result["fscore_at_0_5"] == 0.0
    assert 0.0 < result["miou"] < 0.6  # 1 on frames with nothing sounding, 0 elsewhere


def test_missing_prediction_files_exit_2_with_a_list(s4_root, tmp_path, capsys):
    records = read_layout(s4_root, protocol="s4", split="test")
    write_prediction(tmp_path, records[0], 0, np.zeros((96, 96), np.float32))
    code, out, err = evaluate(capsys, "--gt", str(s4_root), "--pred", str(tmp_path), "--protocol", "s4")
    assert code == 2 and out == ""
    assert "19 of 20 prediction files are missing" in err
    assert f"{records[0].category}/{records[0].vid}/{records[0].vid}_2.npy|png" in err and "... and 14 more" in err


def test_mismatched_mask_size_exit_2(s4_root, tmp_path, capsys):
    for record in read_layout(s4_root, protocol="s4", split="test"):
        for k in record.labelled_frames:
            write_prediction(tmp_path, record, k, np.zeros((50, 60), np.float32))
    code, _, err = evaluate(capsys, "--gt", str(s4_root), "--pred", str(tmp_path), "--protocol", "s4")
    assert code == 2 and "prediction is 60×50 (W×H) but the ground truth" in err and "96×96" in err


def test_missing_root_metadata_or_split_exit_2(s4_root, tmp_path, capsys):
    code, _, err = evaluate(capsys, "--gt", str(tmp_path / "nope"), "--pred", str(tmp_path), "--protocol", "s4")
    assert code == 2 and "does not exist" in err
    code, _, err = evaluate(capsys, "--gt", str(tmp_path), "--pred", str(tmp_path), "--protocol", "ms3")
    assert code == 2 and "ms3_meta_data.csv is missing" in err
    code, _, err = evaluate(capsys, "--gt", str(s4_root), "--pred", str(tmp_path), "--protocol", "s4", "--split", "val")
    assert code == 2 and "split 'val'" in err and "splits present: test, train" in err
