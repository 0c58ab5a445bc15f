"""`python -m ml_backend models fetch --out DIR [--set light|default|tracking]`: download the real models and a
config.json.

`models list [--set NAME]` prints what a set downloads (files, sizes, pinned revisions, whether a SHA-256 is
published). `models fetch` downloads it into DIR (resuming partial files, skipping complete ones, verifying sizes
and digests) and writes `DIR/config.json` for `AVS_MODEL_CONFIG` / `propose --config`. A mirror that serves the
same paths is used with `--base-url URL` or the `AVS_MODEL_MIRROR` variable. Any failure prints one line,
`error: ...`, naming what was tried and why, and the exit code is 2; Ctrl-C keeps partial files for the next run.
The `sam3` set's SAM 3 (facebook/sam3) is gated on the hub: accept its licence on its page while logged in, then
log in here with an access token of that account (`huggingface-cli login`, or HF_TOKEN); `list` marks it GATED and
a refused download says what to do.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ml_backend.foundation.fetch import DEFAULT_MANIFEST, MIRROR_ENV, FetchError, fetch_models, gated_hint, mirror_url

NAME = "models"
HELP = "Download the real models (CLAP, Grounding DINO tiny, SAM ViT-B, CLIP, an instruct LLM) and write a config."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    sets = list(DEFAULT_MANIFEST.sets)

    fetch = actions.add_parser(
        "fetch",
        help="download a model set into a folder and write its config.json",
        description="Download a model set into a folder (resumable, verified) and write its config.json.",
    )
    fetch.add_argument("--out", required=True, type=Path, help="output folder (keep it under AVS_MODEL_ROOT)")
    fetch.add_argument(
        "--set",
        dest="set_name",
        choices=sets,
        default="default",
        help="default: with the LLM; light: without it; tracking: default + SAM 2 (mask propagation); "
        "sam3: SAM 3 in place of Grounding DINO (gated: accept its licence on the hub and log in with a token first)",
    )
    fetch.add_argument(
        "--base-url",
        default=None,
        help=f"a mirror serving the same paths (default: ${MIRROR_ENV}, else huggingface.co and Meta's CDN)",
    )
    fetch.add_argument("--verify", action="store_true", help="re-hash files already downloaded")
    fetch.add_argument("--timeout", type=float, default=60.0, help="seconds without data before giving up, default 60")

    listing = actions.add_parser("list", help="print the files of a model set", description="Print a set's files.")
    listing.add_argument("--set", dest="set_name", choices=sets, default="default")
    listing.add_argument("--base-url", default=None, help=f"show the URLs of this mirror (default: ${MIRROR_ENV})")


def run(args: argparse.Namespace) -> int:
    base_url = args.base_url or os.environ.get(MIRROR_ENV, "").strip() or None
    if args.action == "list":
        return _list(args.set_name, base_url)
    if args.timeout <= 0:
        print("error: --timeout must be positive", file=sys.stderr)
        return 2
    try:
        report = fetch_models(
            args.out,
            set_name=args.set_name,
            base_url=base_url,
            verify=args.verify,
            timeout=args.timeout,
            progress=sys.stderr.isatty(),
        )
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a disk or permission problem not met above: still one line
        print(f"error: {exc.filename or args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"error: interrupted; run the same command again to resume into {args.out}", file=sys.stderr)
        return 130
    print(
        f"{len(report.downloaded)} file(s) downloaded ({report.bytes_downloaded / 1e6:.1f} MB), "
        f"{len(report.skipped)} already complete"
    )
    print(f"use it: AVS_MODEL_CONFIG={report.config}  or  python -m ml_backend propose VIDEO --config {report.config}")
    return 0


def _list(set_name: str, base_url: str | None) -> int:
    total = 0
    for source in DEFAULT_MANIFEST.select(set_name):
        print(f"{source.key}: {source.source} -> {source.folder}/")
        if source.gated:
            print(f"  GATED: {gated_hint(source)}")
        for file in source.files:
            size = f"{file.size:>11,d} B" if file.size is not None else "  size unknown"
            digest = "sha256 published" if file.sha256 else "sha256 unknown"
            digest += ", optional" if file.optional else ""
            print(f"  {size}  {digest:<16}  {mirror_url(source.url(file), base_url)}")
        total += source.size
    print(f"set {set_name!r}: at least {total / 1e9:.2f} GB")
    return 0
