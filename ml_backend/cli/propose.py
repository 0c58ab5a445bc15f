"""`python -m ml_backend propose VIDEO... --out DIR [--config FILE]`: sounding-object masks for video files.

Writes, per video `{vid}` (the file name without its extension):
- `DIR/{vid}/{vid}_{k}.png`, k = 1..T (AVSBench numbering, the MS3 prediction layout): 8-bit probability maps,
  value = round(255 × p), p the per-pixel maximum over the frame's instances (SAM's mask probability inside
  each OpenAVS mask, 1.0 inside a baseline mask), so p > 0.5 is the union of the instances' masks;
- `DIR/{vid}.json`: what `ml_backend.serving.propose_clip` returns (instances with COCO RLE masks + provenance).

Videos are decoded frame by frame (`ml_backend.media.clip.open_clip`: frames go to a temporary folder, not to
memory) and each frame's PNG is written as soon as its masks are ready, so long videos need no more memory than
short ones (`--chunk-frames` frames are read at once). Without `--config` the weight-free synchrony baseline runs,
and the command says so. A video that cannot be
used (unreadable, no audio track, silent audio) gets one error line naming the file; the other videos still
run, and the exit code is 2.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from ml_backend.foundation.config import ConfigError
from ml_backend.media.clip import open_clip
from ml_backend.media.video import MediaError
from ml_backend.types import FrameInstances

NAME = "propose"
HELP = "Propose sounding-object masks for videos (OpenAVS with --config, else the synchrony baseline)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("videos", nargs="+", type=Path, metavar="VIDEO", help="video files (with an audio track)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument(
        "--config", type=Path, default=None, help="model configuration JSON (see ml_backend.foundation.config)"
    )
    parser.add_argument("--fps", type=float, default=1.0, help="frames per second to propose on, default 1")
    parser.add_argument("--sample-rate", type=int, default=16_000, help="audio decoding rate in Hz, default 16000")
    parser.add_argument(
        "--max-side", type=int, default=None, help="downscale frames so the longer side is at most this"
    )
    parser.add_argument("--labels", default="", help="project labels, comma-separated (join the open vocabulary)")
    parser.add_argument("--chunk-frames", type=int, default=16, help="frames read at once, default 16")


def write_probability_png(path: Path, prob: np.ndarray) -> None:
    """H×W float32 map in [0, 1] -> 8-bit grey PNG at `path`, value round(255 p)."""
    Image.fromarray(np.round(np.clip(prob, 0.0, 1.0) * 255).astype(np.uint8), mode="L").save(path)


def run(args: argparse.Namespace) -> int:
    from ml_backend.serving.encoding import frame_probability
    from ml_backend.serving.proposals import load_proposer

    if args.fps <= 0:
        print("error: --fps must be positive", file=sys.stderr)
        return 2
    if args.chunk_frames < 1:
        print("error: --chunk-frames must be at least 1", file=sys.stderr)
        return 2
    labels = [label.strip() for label in args.labels.split(",") if label.strip()]
    try:
        loaded = load_proposer(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if loaded.kind == "baseline":
        print(f"note: running the synchrony baseline ({loaded.name}): {loaded.reason}", file=sys.stderr)
    else:
        print(f"note: running {loaded.name}", file=sys.stderr)

    args.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for video in tqdm(args.videos, desc="propose", unit="video", file=sys.stderr):
        vid = video.stem
        folder = args.out / vid
        fresh = not folder.exists()
        try:
            with open_clip(video, fps=args.fps, sample_rate=args.sample_rate, max_side=args.max_side) as clip:
                positions = {int(index): k for k, index in enumerate(clip.frames.indexes, start=1)}

                def write(frame: FrameInstances, clip=clip, positions=positions, folder=folder, vid=vid) -> None:
                    folder.mkdir(parents=True, exist_ok=True)
                    prob = frame_probability(frame, size=clip.size)
                    write_probability_png(folder / f"{vid}_{positions[frame.frame_index]}.png", prob)

                result = loaded.stream(clip, labels=labels, chunk_frames=args.chunk_frames, on_frame=write)
        except MediaError as exc:
            if fresh:
                shutil.rmtree(folder, ignore_errors=True)  # no half-written masks
            tqdm.write(f"error: {video}: {exc}", file=sys.stderr)
            failed += 1
            continue
        (args.out / f"{vid}.json").write_text(json.dumps(result) + "\n", encoding="utf-8")
    return 2 if failed else 0
