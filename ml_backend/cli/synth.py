"""`python -m ml_backend synth`: write synthetic audio-visual clips with exact masks (mp4 + AVSBench layout)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from ml_backend.evaluation.datasets import PROTOCOLS
from ml_backend.media.synth import DEFAULT_SPLITS, generate_dataset

NAME = "synth"
HELP = "Generate synthetic AV clips (moving shapes that sound) with exact ground truth in an AVSBench layout."


def _splits(text: str) -> tuple[tuple[str, float], ...]:
    try:
        pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
        splits = tuple((name.strip(), float(weight)) for name, weight in pairs)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected NAME=WEIGHT[,NAME=WEIGHT...], got {text!r}") from exc
    if not splits or any(w < 0 for _, w in splits) or sum(w for _, w in splits) <= 0:
        raise argparse.ArgumentTypeError(f"split weights must be ≥ 0 with a positive sum, got {text!r}")
    return splits


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="output folder (the layout root)")
    parser.add_argument("--clips", required=True, type=int, help="number of clips")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same files)")
    parser.add_argument("--layout", required=True, choices=PROTOCOLS, help="AVSBench layout to write")
    parser.add_argument("--frames", type=int, default=5, help="frames (= seconds) per clip, default 5")
    parser.add_argument("--size", type=int, default=224, help="frame side in pixels (even), default 224")
    parser.add_argument(
        "--splits",
        type=_splits,
        default=DEFAULT_SPLITS,
        help="split weights, default train=0.6,val=0.2,test=0.2",
    )
    parser.add_argument("--force", action="store_true", help="write into a non-empty folder")


def run(args: argparse.Namespace) -> int:
    out: Path = args.out
    if out.exists() and not out.is_dir():
        print(f"error: {out} exists and is not a folder", file=sys.stderr)
        return 2
    if out.is_dir() and any(out.iterdir()) and not args.force:
        print(f"error: {out} is not empty (use --force to write into it)", file=sys.stderr)
        return 2
    try:
        dataset = generate_dataset(
            out,
            clips=args.clips,
            seed=args.seed,
            layout=args.layout,
            frames=args.frames,
            size=args.size,
            splits=args.splits,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    counts = Counter(clip.split for clip in dataset.clips)
    per_split = ", ".join(f"{name} {counts[name]}" for name, _ in args.splits if counts[name])
    print(f"wrote {len(dataset.clips)} {args.layout.upper()} clips ({per_split}) to {out}")
    return 0
