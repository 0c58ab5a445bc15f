"""Mask propagation time against the tracker's own per-frame propagation, with a full-size random SAM 2 on CPU.

    .venv/bin/python benchmarks/propagation.py [--frames 10] [--rounds 2] [--height 360] [--width 640] [--seed 0]

The tracker is transformers' `Sam2VideoModel` in the hiera-tiny shape (`Sam2VideoConfig()`'s defaults: Hiera
blocks 1-2-7-2, widths 96-768, 1024 px inputs, 7 memory frames), random weights (nothing downloaded), saved with
`save_pretrained` and loaded by the project's real loader from a real config.json (`models.tracker`). The other
models of that configuration are the tiny random fixtures: the CLAP tagger that checks each frame's audio window runs
on them (its share is printed apart), so the ratio measures the propagation path around the tracker.

The clip: `--frames` frames of a synthetic clip (`ml_backend.media.synth`, a moving shape on a textured background,
`--height`×`--width`), stored as JPEG files and a 16 kHz WAV track, as ingest stores a clip. The prompt: the shape's
mask on the first frame; the range: the whole clip, forward.

- propagation: `ml_backend.serving.propagate_stored_clip` consumed to the end, per frame: each JPEG decoded when the
  tracker needs it, the processor's resize/normalise, the tracker's step, its masks upsampled to the frame, COCO RLE,
  the confidence, the audio check (CLAP over the range's windows first, then per frame the sounding rule);
- bare tracker: the model's own propagation on the very same inputs: a session holding the same preprocessed
  frames (the processor's output for each frame, computed beforehand and not timed), the same mask prompt on
  frame 0, then `model.propagate_in_video_iterator` to the end: the model's per-frame calls and nothing else.

Both include the source frame (the prompt's step) and divide by the frames of the range. The machine's cores are
shared, so the two are interleaved `--rounds` times (after a warm-up of each) and the medians compared; a second
ratio divides the propagation's time by the tracker forwards timed inside it (hooks around the model's own calls,
in the very same seconds: the machine's swings cancel out). Target: propagation / bare ≤ 1.2.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml_backend import serving  # noqa: E402
from ml_backend.foundation.config import load_config  # noqa: E402
from ml_backend.foundation.policy import ModelPolicy  # noqa: E402
from ml_backend.foundation.registry import ModelCache, load_context  # noqa: E402
from ml_backend.foundation.tiny import write_fixtures  # noqa: E402
from ml_backend.media.source import path_opener  # noqa: E402
from ml_backend.media.synth import make_clips  # noqa: E402
from ml_backend.media.video import write_wav  # noqa: E402
from ml_backend.serving.encoding import mask_to_rle  # noqa: E402

TARGET = 1.2


def save_full_size_tracker(folder: Path) -> int:
    """A random `Sam2VideoModel` of the hiera-tiny shape + its processor, saved to `folder`; returns its parameters."""
    from transformers import (
        Sam2ImageProcessor,
        Sam2VideoConfig,
        Sam2VideoModel,
        Sam2VideoProcessor,
        Sam2VideoVideoProcessor,
    )

    model = Sam2VideoModel(Sam2VideoConfig()).eval()
    processor = Sam2VideoProcessor(image_processor=Sam2ImageProcessor(), video_processor=Sam2VideoVideoProcessor())
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())


def store_clip(folder: Path, *, frames: int, height: int, width: int, seed: int) -> tuple[list, Any, np.ndarray]:
    """JPEG frames + a WAV of a synthetic clip (square frames of the synth, resized to height×width); returns the
    StoredFrames, the WAV's opener and the first frame's mask of its sounding object (the prompt)."""
    (spec,) = make_clips(clips=1, seed=seed, layout="s4", frames=frames, size=max(height, width))
    folder.mkdir(parents=True, exist_ok=True)
    stored = []
    for k in range(frames):
        path = folder / f"{k:05d}.jpg"
        Image.fromarray(spec.frame(k)).resize((width, height)).save(path, quality=95)
        stored.append(serving.StoredFrame(k, k + 0.94, path_opener(path)))
    audio = np.clip(spec.audio(sample_rate=16_000), -1, 1)
    write_wav(folder / "audio.wav", (audio * 32767).astype(np.int16), 16_000)
    mask = Image.fromarray(spec.sounding_mask(0).astype(np.uint8) * 255).resize((width, height), Image.NEAREST)
    prompt = np.asarray(mask) > 0
    if not prompt.any():  # nothing sounds on the first frame: a box in its middle
        prompt = np.zeros((height, width), dtype=bool)
        prompt[height // 4 : height // 2, width // 4 : width // 2] = True
    return stored, path_opener(folder / "audio.wav"), prompt


class ForwardClock:
    """Seconds spent in a module's forward calls (pre-hook to hook) and how many there were."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.seconds, self.calls, self._start = 0.0, 0, 0.0
        self._hooks = [module.register_forward_pre_hook(self._pre), module.register_forward_hook(self._post)]

    def _pre(self, *_: Any) -> None:
        self._start = time.perf_counter()

    def _post(self, *_: Any) -> None:
        self.seconds += time.perf_counter() - self._start
        self.calls += 1

    def remove(self) -> None:
        for hook in self._hooks:
            hook.remove()


def run_propagation(config: Path, frames: list, audio: Any, prompt: np.ndarray, cache: ModelCache) -> dict[str, float]:
    """The serving entry point over `frames`, consumed to the end: wall seconds, and the seconds inside the
    tracker's forwards and CLAP's audio forwards."""
    loaded = load_config(config)
    context = load_context(loaded, ModelPolicy())
    tracker = cache.get("tracker", loaded.models.tracker, context)
    tagger = cache.get("clap", loaded.models.clap, context)
    forwards, tagging = ForwardClock(tracker.model), ForwardClock(tagger.model.audio_model)
    start = time.perf_counter()
    results = list(
        serving.propagate_stored_clip(
            config_path=config,
            frames=frames,
            audio=audio,
            fps=1.0,
            source_frame_index=0,
            instances=[{"mask": mask_to_rle(prompt), "label": "dog"}],
            labels=["dog"],
            cache=cache,
        )
    )
    wall = time.perf_counter() - start
    forwards.remove()
    tagging.remove()
    assert len(results) == len(frames) and forwards.calls == len(frames)
    return {"wall": wall, "forwards": forwards.seconds, "clap": tagging.seconds}


def run_bare(tracker: Any, pixels: list[torch.Tensor], prompt: np.ndarray) -> float:
    """The model's own propagation over the preprocessed frames, from the mask prompt on frame 0 (seconds)."""
    session = tracker.processor.init_video_session(
        inference_device=tracker.placement.torch_device, dtype=tracker.placement.torch_dtype
    )
    for k, values in enumerate(pixels):
        session.add_new_frame(values, frame_idx=k)
    tracker.processor.add_inputs_to_inference_session(
        session, frame_idx=0, obj_ids=[0], input_masks=[torch.from_numpy(prompt)], original_size=tuple(prompt.shape)
    )
    start = time.perf_counter()
    outputs = list(tracker.model.propagate_in_video_iterator(session, start_frame_idx=0))
    seconds = time.perf_counter() - start
    assert len(outputs) == len(pixels)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10, help="frames of the range (the source included)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        config_path = write_fixtures(root / "models", seed=args.seed)
        params = save_full_size_tracker(root / "models" / "sam2_hiera_tiny_random")
        data = json.loads(config_path.read_text())
        data["models"]["tracker"] = {"kind": "sam2_video", "path": "sam2_hiera_tiny_random"}
        data["pipeline"]["vocabulary"] = ["Dog", "Bark", "Speech", "Music", "Car", "Bird"]
        config = root / "models" / "config-benchmark.json"
        config.write_text(json.dumps(data))
        frames, audio, prompt = store_clip(
            root / "clip", frames=args.frames, height=args.height, width=args.width, seed=args.seed
        )
        setup = time.perf_counter() - start

        cache = ModelCache()
        loaded = load_config(config)
        tracker = cache.get("tracker", loaded.models.tracker, load_context(loaded, ModelPolicy()))
        pixels = []  # the bare side's inputs: the processor's output for each frame, not timed
        for frame in frames:
            with frame.open() as handle, Image.open(handle) as picture:
                pixels.append(tracker.pixel_values(np.asarray(picture.convert("RGB"))))

        start = time.perf_counter()
        run_propagation(config, frames[:2], audio, prompt, cache)  # first-call costs (both sides share the model)
        run_bare(tracker, pixels[:2], prompt)
        warm_up = time.perf_counter() - start

        ours, bare = [], []
        for _ in range(args.rounds):
            ours.append(run_propagation(config, frames, audio, prompt, cache))
            bare.append(run_bare(tracker, pixels, prompt))

    n = args.frames
    per_frame = statistics.median(r["wall"] for r in ours) / n
    bare_per_frame = statistics.median(bare) / n
    inside = statistics.median(r["wall"] / r["forwards"] for r in ours)
    clap = statistics.median(r["clap"] for r in ours)
    ratio = per_frame / bare_per_frame
    print(
        f"Mask propagation benchmark: random SAM 2 (hiera-tiny shape, {params / 1e6:.1f}M params), CPU, "
        f"{torch.get_num_threads()} torch threads"
    )
    print(
        f"clip: {n} frames of {args.height}x{args.width} (JPEG) + 16 kHz WAV; set-up {setup:.1f} s, "
        f"warm-up {warm_up:.1f} s; medians of {args.rounds} interleaved rounds"
    )
    print(
        f"propagation (serving entry point): {per_frame:.3f} s per frame "
        f"(runs: {', '.join(f'{seconds / n:.3f}' for seconds in (r['wall'] for r in ours))})"
    )
    print(
        f"bare tracker (model's own propagation, same inputs): {bare_per_frame:.3f} s per frame "
        f"(runs: {', '.join(f'{b / n:.3f}' for b in bare)})"
    )
    print(
        f"ratio propagation / bare tracker: {ratio:.3f} (target <= {TARGET}) -> {'OK' if ratio <= TARGET else 'OVER'}"
    )
    print(f"ratio propagation / its own tracker forwards (same seconds): {inside:.3f}")
    print(f"of which CLAP audio tagging of the {n} windows (tiny CLAP): {clap:.3f} s")
    print(f"time to propagate a {n}-frame range: {statistics.median(r['wall'] for r in ours):.2f} s")


if __name__ == "__main__":
    main()
