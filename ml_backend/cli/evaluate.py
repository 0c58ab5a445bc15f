"""`python -m ml_backend evaluate`: AVSBench-exact mIoU and F of a prediction folder against a layout."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ml_backend.evaluation.datasets import PROTOCOLS, DatasetError
from ml_backend.evaluation.runner import EvaluationResult, evaluate_predictions

NAME = "evaluate"
HELP = "Score predictions against an AVSBench S4/MS3/AVSS layout (official mIoU and F, plus F at 0.5)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gt", required=True, type=Path, help="layout root (holds the metadata csv)")
    parser.add_argument(
        "--pred",
        required=True,
        type=Path,
        help="prediction folder mirroring the mask paths (S4: {category}/{vid}/{vid}_{k}.npy|png)",
    )
    parser.add_argument("--protocol", required=True, choices=PROTOCOLS)
    parser.add_argument("--split", default="test", help="split to score, default test")
    parser.add_argument("--batch-clips", type=int, default=4, help="clips per batch of the official F/mIoU, default 4")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def format_table(result: EvaluationResult) -> str:
    """Human-readable summary of a result."""
    rows = [
        ("protocol / split", f"{result.protocol} / {result.split}"),
        ("clips / frames", f"{result.n_clips} / {result.n_frames}"),
        ("mIoU (J)", f"{result.miou:.4f}"),
        ("F-score (official)", f"{result.fscore:.4f}"),
        ("F-score at 0.5", f"{result.fscore_at_0_5:.4f}"),
    ]
    details = result.details
    if result.protocol == "avss":
        rows += [
            ("mIoU, all 71 classes", f"{details['miou_all_classes']:.4f}"),
            ("mIoU, OV-AVSS", f"{details['miou_ov']:.4f}"),
            ("classes present", str(details["n_classes_present"])),
        ]
    else:
        rows.append(("batches", f"{details['n_batches']} of {details['batch_clips']} clips"))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def run(args: argparse.Namespace) -> int:
    if args.batch_clips < 1:
        print("error: --batch-clips must be ≥ 1", file=sys.stderr)
        return 2
    try:
        result = evaluate_predictions(
            gt_root=args.gt, pred_dir=args.pred, protocol=args.protocol, split=args.split, batch_clips=args.batch_clips
        )
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.as_dict()))
    else:
        print(format_table(result))
    return 0
