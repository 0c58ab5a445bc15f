"""`python -m ml_backend simulate`: the learning loop measured on synthetic clips with a simulated annotator."""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from ml_backend.__main__ import main
from ml_backend.simulation import label_ratio, labels_to_reach
from ml_backend.simulation.data import SimulatedAnnotator, corrupt_mask


def _without_timings(document: dict) -> dict:
    """The result without what depends on the machine's speed."""
    out = json.loads(json.dumps(document))
    out.pop("seconds", None)
    for replicate in out["replicates"]:
        replicate.pop("timings", None)
    return out


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The tiny preset (two seeds) run once through the command line with --json: (printed JSON, output folder)."""
    out = tmp_path_factory.mktemp("simulation")
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(["simulate", "--out", str(out), "--preset", "tiny", "--seed", "3", "--json", "--quiet"])
    assert code == 0
    return json.loads(buffer.getvalue()), out


def test_tiny_preset_writes_the_documented_json_and_plots(tiny_run):
    printed, out = tiny_run
    written = json.loads((out / "simulation.json").read_text(encoding="utf-8"))
    assert written == printed  # --json prints the same document the file holds

    st = printed["self_training"]
    for key in ("teacher", "supervised", "self_trained"):
        assert 0.0 <= st[key] <= 1.0, key
    assert st["labelled_clips"] == 6 and st["pseudo_clips"] == 2  # tiny: 2 + 2 × 2 labelled of an 8-clip pool
    assert printed["label_ratio"]["strategy"] in ("entropy", "disagreement", "combined")
    assert 0.0 < printed["label_ratio"]["value"] <= 1.0
    assert printed["seeds"] == [3, 4]
    assert set(printed["active_learning"]["curves"]) == {"supervised", "self_training"}
    assert set(printed["active_learning"]["curves"]["supervised"]) == {"random", "entropy", "disagreement", "combined"}
    assert printed["active_learning"]["labelled"] == [2, 4, 6]
    assert set(printed["targets"]) == {"self_trained > supervised > teacher", "label_ratio <= 0.7"}

    for name in ("learning_curves.png", "self_training.png"):
        assert printed["plots"][name.removesuffix(".png")] == name
        with Image.open(out / name) as image:
            assert image.format == "PNG"
            assert image.width > 400 and image.height > 300
            assert len(np.unique(np.asarray(image.convert("RGB")).reshape(-1, 3), axis=0)) > 10  # something was drawn


def test_same_seed_same_result_other_seed_other_data(tiny_run, tmp_path, capsys):
    printed, _ = tiny_run
    assert (
        main(
            [
                "simulate",
                "--out",
                str(tmp_path / "a"),
                "--preset",
                "tiny",
                "--seed",
                "3",
                "--seeds",
                "1",
                "--json",
                "--quiet",
            ]
        )
        == 0
    )
    again = json.loads(capsys.readouterr().out)
    first = _without_timings(printed)["replicates"][0]
    assert _without_timings(again)["replicates"][0] == first  # seed 3 alone repeats seed 3 of the two-seed run

    assert (
        main(
            [
                "simulate",
                "--out",
                str(tmp_path / "b"),
                "--preset",
                "tiny",
                "--seed",
                "5",
                "--seeds",
                "1",
                "--json",
                "--quiet",
            ]
        )
        == 0
    )
    other = json.loads(capsys.readouterr().out)["replicates"][0]
    random_curve = [p["added"] for p in other["curves"]["supervised"]["random"]]
    assert random_curve != [p["added"] for p in first["curves"]["supervised"]["random"]] or (
        other["teacher"] != first["teacher"]
    )


def test_a_second_run_reads_finished_seeds_and_reruns_changed_settings(tiny_run, tmp_path, capsys):
    printed, out = tiny_run
    folder = tmp_path / "again"
    shutil.copytree(out, folder)
    assert sorted(p.name for p in (folder / "replicates").iterdir()) == ["seed-3.json", "seed-4.json"]

    assert main(["simulate", "--out", str(folder), "--preset", "tiny", "--seed", "4", "--seeds", "1", "--json"]) == 0
    captured = capsys.readouterr()
    assert "seed 4: read from" in captured.err  # not trained again
    assert json.loads(captured.out)["replicates"][0] == printed["replicates"][1]

    assert (
        main(
            [
                "simulate",
                "--out",
                str(folder),
                "--preset",
                "tiny",
                "--seed",
                "4",
                "--seeds",
                "1",
                "--noise",
                "0.5",
                "--json",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "read from" not in captured.err  # other settings: measured again
    rerun = json.loads(captured.out)
    assert rerun["config"]["noise"] == 0.5 and sum(rerun["replicates"][0]["label_noise"].values()) > 0


def test_random_curve_labels_more_clips_each_round_and_keeps_them(tiny_run):
    printed, _ = tiny_run
    for replicate in printed["replicates"]:
        for variant in ("supervised", "self_training"):
            points = replicate["curves"][variant]["random"]
            counts = [p["labelled"] for p in points]
            assert counts == sorted(set(counts)) and counts[0] == 2  # strictly increasing
            seen: list[int] = []
            for point in points:
                assert not set(point["added"]) & set(seen)  # a labelled clip is never chosen again
                seen += point["added"]
                assert len(seen) == point["labelled"]
            assert [p["selection"] for p in points[1:]] == ["top_k"] * (len(points) - 1)
            pseudo = [p["pseudo_clips"] for p in points]
            assert pseudo == ([8 - c for c in counts] if variant == "self_training" else [0] * len(points))
        for strategy in ("entropy", "disagreement", "combined"):
            points = replicate["curves"]["supervised"][strategy]
            assert points[0] == {**replicate["curves"]["supervised"]["random"][0]}  # the shared seed set
    summary = printed["active_learning"]["curves"]["supervised"]["random"]
    assert summary["labelled"] == [2, 4, 6]
    assert all(
        lo <= m <= hi for lo, m, hi in zip(summary["miou_min"], summary["miou_mean"], summary["miou_max"], strict=True)
    )


def test_label_ratio_of_hand_made_curves():
    replicates = [
        {
            "random": [(4, 0.30), (8, 0.40), (12, 0.50)],
            "good": [(4, 0.30), (8, 0.50), (12, 0.60)],  # reaches 0.50 at 8 labels: 8 / 12
            "fair": [(4, 0.30), (8, 0.45), (12, 0.55)],  # 0.50 halfway between 8 and 12: 10 / 12
            "poor": [(4, 0.30), (8, 0.35), (12, 0.45)],  # never: counts as 1.0, not reached
        },
        {
            "random": [(4, 0.20), (8, 0.40), (12, 0.60)],
            "good": [(4, 0.20), (8, 0.60), (12, 0.70)],  # exactly at 8: 8 / 12
            "fair": [(4, 0.20), (8, 0.40), (12, 0.60)],  # like random: 12 / 12
            "poor": [(4, 0.70), (8, 0.30), (12, 0.30)],  # already at the seed set: 4 / 12
        },
    ]
    result = label_ratio(replicates)
    assert result["strategy"] == "good"
    assert result["value"] == pytest.approx(8 / 12, abs=1e-4)
    per = result["per_strategy"]
    assert per["fair"]["values"] == pytest.approx([10 / 12, 1.0], abs=1e-4)
    assert per["poor"]["values"] == pytest.approx([1.0, 4 / 12], abs=1e-4)
    assert per["poor"]["reached"] == 1 and per["good"]["reached"] == 2
    assert per["random"]["mean"] == 1.0
    assert result["random_final_miou"]["mean"] == pytest.approx(0.55)
    assert result["random_labels"] == 12.0

    assert labels_to_reach([(2, 0.1), (6, 0.3)], 0.2) == pytest.approx(4.0)
    assert labels_to_reach([(2, 0.1), (6, 0.3)], 0.31) is None
    assert label_ratio([{"random": [(2, 0.1), (4, 0.2)]}])["strategy"] is None
    with pytest.raises(ValueError, match="random curve"):
        label_ratio([{"good": [(2, 0.1)]}])


def test_annotator_noise_corrupts_the_asked_fraction_reproducibly():
    from ml_backend.simulation.data import SimClip

    gt = np.zeros((40, 64, 64), dtype=bool)
    gt[:, 20:40, 20:40] = True
    gt[0] = False  # a silent frame stays empty whatever the noise
    media = type("Media", (), {"size": (64, 64)})()
    clip = SimClip(
        key=0, vid="c", media=media, gt=gt, teacher=gt.astype(np.float32), teacher_proposal=None, embedding=None
    )

    exact = SimulatedAnnotator(noise=0.0, seed=1).label(clip)
    assert np.array_equal(exact, gt)
    noisy = SimulatedAnnotator(noise=0.5, seed=1)
    labels = noisy.label(clip)
    changed = sum(not np.array_equal(a, b) for a, b in zip(labels, gt, strict=True))
    assert 10 <= changed <= 30 and sum(noisy.corrupted.values()) == changed
    assert not labels[0].any()
    assert np.array_equal(SimulatedAnnotator(noise=0.5, seed=1).label(clip), labels)  # same seed, same labels
    assert corrupt_mask(gt[1], "erode", radius=2).sum() < gt[1].sum() < corrupt_mask(gt[1], "dilate", radius=2).sum()
    shifted = corrupt_mask(gt[1], "shift", radius=2)
    assert shifted.sum() == gt[1].sum() and not np.array_equal(shifted, gt[1])


@pytest.mark.parametrize(
    "argv",
    [
        ["--strategies", "random,guess"],
        ["--noise", "1.5"],
        ["--preset", "huge"],
        ["--student", "av2t_sam"],
        ["--seeds", "0"],
    ],
)
def test_bad_arguments_are_refused(argv, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--out", str(tmp_path), *argv])
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "simulation.json").exists()


def test_a_file_as_output_folder_is_refused(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["simulate", "--out", str(target), "--preset", "tiny"]) == 2
    assert "not a folder" in capsys.readouterr().err
