"""`python -m ml_backend fixtures --out DIR [--seed 0] [--sam3]`: tiny random models + a config.json, for offline
tests/demos; `--sam3` adds a tiny SAM 3 (`DIR/sam3/`) and `DIR/config.sam3.json`, which proposes with it."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "fixtures"
HELP = (
    "Write tiny random CLAP, Grounding DINO, OWLv2, SAM, LLM, CLIP and SAM 2 video models and a config.json "
    "pointing at them."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the weights, default 0")
    parser.add_argument(
        "--sam3",
        action="store_true",
        help="also a tiny SAM 3 (DIR/sam3, ~14 MB) and DIR/config.sam3.json using it in place of Grounding DINO",
    )


def run(args: argparse.Namespace) -> int:
    from ml_backend.foundation.tiny import write_fixtures

    config = write_fixtures(args.out, seed=args.seed, sam3=args.sam3)
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"wrote tiny models ({size / 1e6:.1f} MB) and {config}")
    if args.sam3:
        print(f"with SAM 3 in place of Grounding DINO + SAM: {config.with_name('config.sam3.json')}")
    print(f"try: python -m ml_backend propose VIDEO --config {config} --out OUT")
    return 0
