"""benchmarks/training.py runs end to end on tiny sizes (so that it cannot rot), and reports what it says."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_training", ROOT / "benchmarks" / "training.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_run_measures_every_student_and_teacher(bench, tmp_path, capsys):
    out = tmp_path / "training.json"
    summary = bench.main(["--quick", "--in-process", "--train-frames", "4", "--clip-frames", "1", "--json", str(out)])
    printed = capsys.readouterr().out

    results = summary["results"]
    assert set(results) == set(bench.QUICK_CASES)
    for case in ("compact:tiny", "compact:default", "av2t_sam:tiny"):
        figures = results[case]
        assert figures["frames"] == 4 and figures["epochs"] == 1
        assert figures["train_fps"] > 0 and figures["end_to_end_fps"] > 0
        assert figures["fit_s"] >= figures["loop_s"] > 0
        assert figures["python_peak_mb"] > 0 and figures["rss_growth_mb"] >= 0
        assert math.isfinite(figures["final_loss"])
        assert figures["infer_s_per_frame"] > 0 and figures["trainable_params"] > 0
    # The compact configurations really differ (tiny vs default sizes).
    assert results["compact:tiny"]["trainable_params"] < results["compact:default"]["trainable_params"]
    assert results["compact:tiny"]["input_size"] < results["compact:default"]["input_size"]

    # Ratios are student time per frame ÷ teacher time per frame, measured in this run.
    for case in ("compact:default", "av2t_sam:tiny"):
        for teacher in ("openavs", "baseline"):
            expected = results[case]["infer_s_per_frame"] / results[teacher]["infer_s_per_frame"]
            assert summary["ratios"][case][teacher] == pytest.approx(expected)
    assert summary["compact_speedup_vs_openavs"] == pytest.approx(1 / summary["ratios"]["compact:default"]["openavs"])
    assert "not assessed (quick run" in summary["target"]  # tiny teacher models say nothing about the target

    assert "train frames/s" in printed and "÷ OpenAVS" in printed and "÷ baseline" in printed
    assert "device cpu" in printed or "device cuda" in printed
    assert summary["target"] in printed
    assert json.loads(out.read_text())["ratios"] == json.loads(json.dumps(summary["ratios"]))


def test_cases_run_in_their_own_process(bench, capsys):
    summary = bench.main(["--quick", "--cases", "baseline", "--clip-frames", "1"])
    assert summary["options"]["in_process"] is False
    assert summary["results"]["baseline"]["infer_s_per_frame"] > 0
    assert "not assessed (case not run)" in summary["target"]
    assert "baseline" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--cases", "compact:huge"], "--cases: unknown compact:huge"),
        (["--quick", "--cases", "av2t_sam:default"], "builds no full-size model"),
        (["--epochs", "0"], "--epochs must be a positive integer, got 0"),
    ],
)
def test_bad_options_are_refused_with_a_message(bench, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
