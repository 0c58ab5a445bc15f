"""`python -m ml_backend simulate --out DIR`: the learning loop (self-training, active learning) measured on
synthetic clips with a simulated annotator; writes `DIR/simulation.json` and PNG plots (`ml_backend.simulation`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from ml_backend.acquisition.registry import STRATEGY_NAMES
from ml_backend.foundation.config import ConfigError
from ml_backend.simulation import PRESETS, RESULT_FILE, preset, run_simulation
from ml_backend.simulation.config import STUDENTS

NAME = "simulate"
HELP = (
    "Measure self-training and active learning on synthetic clips with a simulated annotator "
    "(teacher: the synchrony baseline); writes simulation.json and PNG plots."
)


def _strategies(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in STRATEGY_NAMES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"expected strategy names separated by commas (known: {', '.join(STRATEGY_NAMES)}), got {text!r}"
        )
    return names


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text!r}")
    return value


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _positive(text: str) -> int:
    value = _non_negative(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help=f"output folder ({RESULT_FILE} and PNG plots)")
    parser.add_argument(
        "--preset",
        choices=list(PRESETS),
        default="quick",
        help="size of the run: tiny (seconds, a smoke test), quick (minutes on a 2-core CPU, default), full",
    )
    parser.add_argument(
        "--strategies",
        type=_strategies,
        default=None,
        help="acquisition strategies, comma-separated (random is the baseline and is always run); "
        "default random,entropy,disagreement,combined",
    )
    parser.add_argument("--student", choices=STUDENTS, default="compact", help="student model, default compact")
    parser.add_argument("--seed", type=_non_negative, default=None, help="first seed (default 0)")
    parser.add_argument(
        "--seeds", type=_positive, default=None, help="number of seeds (replicates), default per preset"
    )
    parser.add_argument(
        "--noise", type=_fraction, default=None, help="label noise: fraction of labelled masks corrupted, default 0"
    )
    parser.add_argument(
        "--threads",
        type=_positive,
        default=1,
        help="CPU threads of torch, default 1 (the students are small: more threads mostly wait on each other, "
        "and on a busy machine they slow everything down)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def _summary_lines(result: dict) -> list[str]:
    st = result["self_training"]
    metrics = st["metrics"]
    lines = [f"held-out mIoU, mean ± std over seeds {result['seeds']}:"]
    names = {"teacher": "teacher (synchrony baseline)", "supervised": "student, human labels only"}
    names["self_trained"] = "student, + teacher pseudo-labels"
    names["self_trained_two_stage"] = "  second stage (teacher+student)"
    for key, title in names.items():
        if metrics.get(key):
            miou, fscore = metrics[key]["miou"], metrics[key]["fscore"]
            lines.append(f"  {title:<34} mIoU {miou['mean']:.3f} ± {miou['std']:.3f}  F {fscore['mean']:.3f}")
    lines.append(f"  (students on {st['labelled_clips']} labelled clips, pseudo-labels of {st['pseudo_clips']} more)")
    for variant, curves in result["active_learning"]["curves"].items():
        labelled = result["active_learning"]["labelled"]
        lines.append(f"active learning ({variant}), mIoU at {', '.join(map(str, labelled))} labelled clips:")
        for name, curve in curves.items():
            points = "  ".join(f"{m:.3f}±{s:.3f}" for m, s in zip(curve["miou_mean"], curve["miou_std"], strict=True))
            lines.append(f"  {name:<13} {points}")
    for key in ("label_ratio", "label_ratio_self_training"):
        ratio = result.get(key)
        if ratio and ratio.get("strategy"):
            lines.append(
                f"{key.replace('_', ' ')}: {ratio['strategy']} {ratio['value']:.2f} "
                f"(reaches random's final mIoU in {ratio['per_strategy'][ratio['strategy']]['reached']} of "
                f"{ratio['replicates']} seeds)"
            )
    for target, met in result["targets"].items():
        lines.append(f"target {target}: {'met' if met else 'missed'}")
    return lines


def run(args: argparse.Namespace) -> int:
    out: Path = args.out
    if out.exists() and not out.is_dir():
        print(f"error: {out} exists and is not a folder", file=sys.stderr)
        return 2
    strategies = args.strategies
    if strategies is not None and "random" not in strategies:
        strategies = ("random", *strategies)
    try:
        config = preset(
            args.preset,
            strategies=strategies,
            student=args.student,
            seed=args.seed,
            seeds=args.seeds,
            noise=args.noise,
        )
        problems = config.problems()
        if problems:
            raise ValueError("; ".join(problems))
        log = (lambda _: None) if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
        threads = torch.get_num_threads()
        torch.set_num_threads(args.threads)
        try:
            result = run_simulation(config, out, log=log)
        finally:
            torch.set_num_threads(threads)
    except (ValueError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    else:
        print("\n".join(_summary_lines(result)))
        print(f"wrote {out / RESULT_FILE}, {', '.join(str(out / p) for p in result['plots'].values())}")
    return 0
