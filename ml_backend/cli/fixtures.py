"""`python -m ml_backend fixtures --out DIR [--seed 0]`: tiny random models + a config.json, for offline tests/demos."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "fixtures"
HELP = "Write tiny random CLAP, Grounding DINO, OWLv2, SAM, LLM and CLIP models and a config.json pointing at them."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the weights, default 0")


def run(args: argparse.Namespace) -> int:
    from ml_backend.foundation.tiny import write_fixtures

    config = write_fixtures(args.out, seed=args.seed)
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"wrote tiny models ({size / 1e6:.1f} MB) and {config}")
    print(f"try: python -m ml_backend propose VIDEO --config {config} --out OUT")
    return 0
