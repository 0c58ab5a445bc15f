"""A new user's loop: synthesise a dataset, propose masks with the baseline, evaluate them."""

from __future__ import annotations

import json

from ml_backend.__main__ import main


def test_propose_output_is_evaluated_as_written(tmp_path, capsys):
    root = tmp_path / "synth"
    assert (
        main(["synth", "--out", str(root), "--clips", "3", "--seed", "3", "--layout", "s4", "--splits", "test=1.0"])
        == 0
    )
    videos = sorted(str(p) for p in (root / "videos").glob("*.mp4"))
    assert len(videos) == 3
    assert main(["propose", *videos, "--out", str(tmp_path / "pred")]) == 0
    capsys.readouterr()

    assert (
        main(
            [
                "evaluate",
                "--gt",
                str(root),
                "--pred",
                str(tmp_path / "pred"),
                "--protocol",
                "s4",
                "--split",
                "test",
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["n_clips"] == 3 and report["n_frames"] == 15
    # The baseline finds sounding objects: far better than an empty prediction's F of ~0.
    assert report["fscore"] > 0.3 and report["miou"] > 0.3
