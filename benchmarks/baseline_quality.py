"""Quality of the weight-free synchrony baseline on a seeded synthetic S4 set, beside trivial guesses.

    .venv/bin/python benchmarks/baseline_quality.py [--clips 12] [--seed 0] [--out DIR]

Generates `--clips` synthetic S4 clips (all in the test split), runs the synchrony baseline on each clip's
layout frames + wav (and once more with 5 fps context frames decoded from the clip's mp4), writes every
method's predictions as `.npy` probability maps in the prediction-folder layout, and scores each folder
through the `python -m ml_backend evaluate --json` code path, with the official batches of 4 clips.
Guesses: all background (probability 0 everywhere) and all foreground (1 everywhere).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml_backend.__main__ import main as cli_main  # noqa: E402
from ml_backend.evaluation.datasets import load_clip_media, read_layout, write_prediction  # noqa: E402
from ml_backend.media.synth import generate_dataset  # noqa: E402
from ml_backend.pipelines.synchrony import SynchronyProposer, proposal_probabilities  # noqa: E402
from ml_backend.types import ClipMedia  # noqa: E402


def decode_context(path: Path, *, fps: float) -> ClipMedia:
    """Every picture of the mp4 whose time is a multiple of 1/fps, as context frames (no audio)."""
    with av.open(str(path)) as container:
        pictures = [(float(f.time), f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    kept = [(t, image) for t, image in pictures if abs(t * fps - round(t * fps)) < 1e-6]
    return ClipMedia(
        frames=np.stack([image for _, image in kept]),
        timestamps=np.array([t for t, _ in kept]),
        fps=fps,
        audio=None,
        sample_rate=16000,
        source=str(path),
    )


def evaluate(gt: Path, pred: Path) -> dict:
    """Run `python -m ml_backend evaluate ... --json` in-process and parse its output."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli_main(
            ["evaluate", "--gt", str(gt), "--pred", str(pred), "--protocol", "s4", "--split", "test", "--json"]
        )
    if code != 0:
        raise SystemExit(f"evaluate failed with exit code {code}")
    return json.loads(out.getvalue())


def run(*, clips: int, seed: int, out: Path) -> None:
    started = time.perf_counter()
    dataset = generate_dataset(out / "synthetic_s4", clips=clips, seed=seed, layout="s4", splits=(("test", 1.0),))
    generated = time.perf_counter()
    records = read_layout(dataset.root, protocol="s4", split="test")
    proposer = SynchronyProposer()
    preds = {name: out / "pred" / name for name in ("synchrony", "synchrony_ctx", "background", "foreground")}
    baseline_seconds = 0.0
    for record in records:
        clip = load_clip_media(record)
        t0 = time.perf_counter()
        prob = proposal_probabilities(proposer.propose(clip), size=clip.size)
        baseline_seconds += time.perf_counter() - t0
        context = decode_context(dataset.videos[record.vid], fps=5.0)
        prob_ctx = proposal_probabilities(proposer.propose(clip, context=context), size=clip.size)
        for k in record.labelled_frames:
            write_prediction(preds["synchrony"], record, k, prob[k])
            write_prediction(preds["synchrony_ctx"], record, k, prob_ctx[k])
            write_prediction(preds["background"], record, k, np.zeros(clip.size, dtype=np.float32))
            write_prediction(preds["foreground"], record, k, np.ones(clip.size, dtype=np.float32))
    results = {name: evaluate(dataset.root, path) for name, path in preds.items()}
    first = results["synchrony"]
    empty = sum(1 for c in dataset.clips for k in range(c.num_frames) if not c.sounding_mask(k).any())
    print(
        f"Synthetic S4: {first['n_clips']} clips, {first['n_frames']} frames ({empty} with empty ground truth), "
        f"seed {seed}, split test, official batches of {first['batch_clips']} clips ({first['n_batches']} batches)"
    )
    labels = {
        "synchrony": "synchrony baseline",
        "synchrony_ctx": "synchrony baseline + 5 fps context",
        "background": "all background (guess)",
        "foreground": "all foreground (guess)",
    }
    print(f"{'method':<36}{'mIoU':>8}{'F (official)':>14}{'F at 0.5':>10}")
    for name, result in results.items():
        print(f"{labels[name]:<36}{result['miou']:>8.4f}{result['fscore']:>14.4f}{result['fscore_at_0_5']:>10.4f}")
    print(
        f"generation {generated - started:.1f} s; baseline {baseline_seconds / len(records):.2f} s per clip "
        f"(5 frames at 224×224, CPU)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="keep the data and predictions here (default: temp)")
    args = parser.parse_args()
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        run(clips=args.clips, seed=args.seed, out=args.out)
        return
    with tempfile.TemporaryDirectory(prefix="avs-baseline-") as tmp:
        run(clips=args.clips, seed=args.seed, out=Path(tmp))


if __name__ == "__main__":
    main()
