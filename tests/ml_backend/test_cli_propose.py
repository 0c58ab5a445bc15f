"""`python -m ml_backend propose`: AVSBench-layout probability PNGs + JSON per video, errors per file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ml_backend.__main__ import main
from ml_backend.media.synth import make_clips, write_mp4
from ml_backend.serving import rle_to_mask
from tests.media_files import make_video


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_videos")
    (clip,) = make_clips(clips=1, seed=21, layout="ms3", frames=3, size=64)
    return {"clip": write_mp4(folder / "clip.mp4", clip), "mute": make_video(folder / "mute.mp4", seconds=2.0)}


def error_lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r", "\n").splitlines() if "error:" in line]


def test_masks_are_written_as_probability_pngs_and_json_and_a_bad_video_is_skipped(
    videos, tiny_models, tmp_path, capsys
):
    out = tmp_path / "out"
    code = main(["propose", str(videos["mute"]), str(videos["clip"]), "--config", str(tiny_models), "--out", str(out)])
    assert code == 2
    stderr = capsys.readouterr().err
    assert error_lines(stderr) == [
        f"error: {videos['mute']}: The video has no audio track: audio-visual segmentation needs the sound."
    ]
    assert "running openavs(" in stderr
    assert not (out / "mute").exists() and not (out / "mute.json").exists()

    result = json.loads((out / "clip.json").read_text())
    assert result["model"]["kind"] == "openavs" and len(result["frames"]) == 3
    pngs = sorted(p.name for p in (out / "clip").iterdir())
    assert pngs == ["clip_1.png", "clip_2.png", "clip_3.png"]  # AVSBench numbering from 1
    for frame in result["frames"]:
        with Image.open(out / "clip" / f"clip_{frame['frame_index'] + 1}.png") as image:
            assert image.mode == "L" and image.size == (64, 64)
            values = np.asarray(image)
        union = np.zeros((64, 64), bool)
        for instance in frame["instances"]:
            union |= rle_to_mask(instance["mask"])
        assert union.any() and np.array_equal(values >= 128, union)  # p > 0.5 is the union of the masks
        assert len(np.unique(values[union])) > 1  # soft SAM probabilities, not a binary mask


def test_without_a_configuration_the_baseline_runs_and_says_so(videos, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["propose", str(videos["clip"]), "--out", str(out)]) == 0
    stderr = capsys.readouterr().err
    assert "running the synchrony baseline (synchrony-baseline): no models are configured" in stderr
    result = json.loads((out / "clip.json").read_text())
    assert result["model"]["kind"] == "baseline"
    assert len(list((out / "clip").glob("clip_*.png"))) == 3


def test_an_unreadable_file_and_an_invalid_configuration_are_one_line_errors(videos, tmp_path, capsys):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 100)
    assert main(["propose", str(junk), str(videos["clip"]), "--out", str(tmp_path / "a")]) == 2
    (line,) = error_lines(capsys.readouterr().err)
    assert line.startswith(f"error: {junk}: It could not be opened as a media container")
    assert (tmp_path / "a" / "clip.json").exists()

    bad = tmp_path / "config.json"
    bad.write_text("{")
    assert main(["propose", str(videos["clip"]), "--config", str(bad), "--out", str(tmp_path / "b")]) == 2
    (line,) = error_lines(capsys.readouterr().err)
    assert line.startswith(f"error: {bad}: not valid JSON")


def test_videos_are_proposed_in_chunks_with_the_same_output_and_no_files_left(videos, tmp_path, monkeypatch):
    import tempfile

    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))  # where decoded frames are spooled
    outputs = {}
    for chunk in ("1", "16"):
        out = tmp_path / f"out{chunk}"
        assert main(["propose", str(videos["clip"]), "--out", str(out), "--chunk-frames", chunk]) == 0
        outputs[chunk] = (
            json.loads((out / "clip.json").read_text())["frames"],
            [np.asarray(Image.open(out / "clip" / f"clip_{k}.png")).tolist() for k in (1, 2, 3)],
        )
    assert outputs["1"] == outputs["16"]
    assert list(spool.iterdir()) == []  # the decoded frames were removed
    assert main(["propose", str(videos["clip"]), "--out", str(tmp_path / "x"), "--chunk-frames", "0"]) == 2
