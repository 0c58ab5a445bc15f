"""Students: training throughput and memory, and inference time per frame against the teachers' (same run).

    .venv/bin/python benchmarks/training.py [--quick] [--device auto|cpu|cuda] [--train-frames 120]
        [--av2t-frames 8] [--epochs 2] [--clip-frames 5] [--size 224] [--repeat 3] [--json PATH]

Students (built with `student_config_from_dict` + `build_student`, as a training round builds them):
- compact, "tiny" (`ml_backend.students.compact.tiny_config`) and "default" (`CompactConfig()`'s settings);
- AV2T-SAM, "tiny" (a small head on the tiny random CLAP / CLIP / SAM of `ml_backend.foundation.tiny`) and
  "default" (`Av2tSamConfig()`'s settings on full-size random models: CLAP in the laion/clap-htsat-unfused
  shape, CLIP in the openai/clip-vit-base-patch32 shape, SAM vit_b; nothing downloaded).
Every configuration trains `--epochs` epochs (not its own `epochs`: throughput does not depend on it) on
seeded synthetic S4 frames (`ml_backend.media.synth`, `--size` px square, ground-truth masks as targets).

Measured per student and configuration, each in a fresh Python process of its own (so that its memory figures
are its own), after a warm-up fit on a few frames that pays the first-call costs:
- training: `fit` wall time; the training loop's own seconds (`TrainReport.seconds`) and, the rest, the
  features computed once per item before the loop (log-mels; for AV2T-SAM the frozen CLAP, CLIP and SAM passes);
  throughput = frames × epochs ÷ loop seconds (training) and ÷ fit seconds (end to end);
- memory of that fit: peak resident memory above the process's resident memory before it (Linux: the peak is
  reset through /proc/self/clear_refs and read as VmHWM; elsewhere `resource.getrusage` max RSS before/after,
  a lower bound), the Python-level peak of a second one-epoch fit under `tracemalloc` (NumPy arrays and other
  Python objects; torch's CPU tensors are not traced), and on CUDA `torch.cuda.max_memory_allocated`;
- inference: `predict` on a `--clip-frames` clip with its audio, seconds per frame (median of `--repeat` runs
  after a one-frame warm-up; one run for the full-size models).

Teachers, on the same clip: OpenAVS with full-size random models, built as `benchmarks/pipeline.py` builds them
(CLAP + Grounding DINO Swin-T + SAM vit_b, no LLM; its vocabulary's one-off CLAP text pass is not counted),
and the weight-free synchrony baseline. Printed: every student's time per frame ÷ each teacher's, and the
target: the compact student (default configuration) at least 20× faster per frame than OpenAVS on CPU.

`--quick` is a smoke run (about 20 s of CPU time): small frames, one epoch, no warm-up fit, tiny configurations
only (no full-size model is built; OpenAVS runs on the tiny random models): its ratios say nothing of the target.
`--in-process` runs every case in this process (faster to start; memory figures are then not isolated).
The machine's cores may be shared with other work: its load average is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_SPEEDUP = 20.0  # the compact student (default configuration) vs OpenAVS per frame, on CPU
MB = 1024 * 1024
STUDENT_CASES = ("compact:tiny", "compact:default", "av2t_sam:tiny", "av2t_sam:default")
TEACHER_CASES = ("openavs", "baseline")
QUICK_CASES = ("compact:tiny", "compact:default", "av2t_sam:tiny", "openavs", "baseline")
# AV2T-SAM "tiny": a small head on the tiny foundation models (the AV2T-SAM tests' sizes).
AV2T_TINY = {"input_size": 32, "width": 32, "mlp_hidden": 64, "batch_size": 4}
HEAVY = {"av2t_sam:default", "openavs"}  # full-size foundation models: one timed inference run


# ---------------------------------------------------------------- memory


def rss_bytes() -> int | None:
    """This process's resident memory now (Linux /proc), or None."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _vm_hwm() -> int | None:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def _ru_maxrss() -> int:
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value if platform.system() == "Darwin" else value * 1024  # bytes on macOS, KiB on Linux


class PeakMemory:
    """Peak resident memory of a block above the resident memory before it (see the module doc), and on CUDA the
    peak of torch's allocator above what it held before."""

    def __init__(self, device: str) -> None:
        self.device = device

    def __enter__(self) -> PeakMemory:
        import torch

        gc.collect()
        self.before = rss_bytes()
        self.ru_before = _ru_maxrss()
        self.reset = False
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
            self.reset = _vm_hwm() is not None and self.before is not None
        except OSError:
            pass
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
            self.cuda_before = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc: Any) -> None:
        import torch

        if self.reset:
            self.method = "VmHWM above RSS before"
            self.growth = max(0, (_vm_hwm() or 0) - (self.before or 0))
        else:
            self.method = "getrusage max RSS delta (lower bound)"
            self.growth = max(0, _ru_maxrss() - self.ru_before)
        self.cuda_peak = None
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
            self.cuda_peak = torch.cuda.max_memory_allocated() - self.cuda_before


# ---------------------------------------------------------------- data


def synthetic_items(count: int, *, size: int, seed: int) -> list:
    """`count` training frames of seeded synthetic S4 clips (5 frames each), their sounding masks as targets."""
    import numpy as np

    from ml_backend.media.synth import SAMPLE_RATE, make_clips
    from ml_backend.students.base import TrainItem

    items = []
    for clip in make_clips(clips=math.ceil(count / 5), seed=seed, layout="s4", frames=5, size=size):
        media = clip_media(clip)
        for k in range(clip.num_frames):
            items.append(
                TrainItem(
                    frame=media.frames[k],
                    audio=media.audio_window(k),
                    sample_rate=SAMPLE_RATE,
                    target=clip.sounding_mask(k).astype(np.float32),
                    label=clip.category,
                    clip_key=clip.vid,
                    frame_index=k,
                )
            )
    return items[:count]


def clip_media(clip: Any) -> Any:
    import numpy as np

    from ml_backend.media.synth import SAMPLE_RATE
    from ml_backend.types import ClipMedia

    frames = np.stack([clip.frame(k) for k in range(clip.num_frames)])
    timestamps = np.array([clip.kept_time(k) for k in range(clip.num_frames)])
    return ClipMedia(frames, timestamps, 1.0, clip.audio(), SAMPLE_RATE, clip.vid)


def inference_clip(frames: int, *, size: int, seed: int) -> Any:
    """The clip every model proposes: a synthetic S4 clip of `frames` frames with its audio (another seed)."""
    from ml_backend.media.synth import make_clips

    (clip,) = make_clips(clips=1, seed=seed + 1000, layout="s4", frames=frames, size=size)
    return clip_media(clip)


def first_frames(media: Any, count: int) -> Any:
    from ml_backend.types import ClipMedia

    audio = media.audio[: int(round(count / media.fps * media.sample_rate))]
    return ClipMedia(media.frames[:count], media.timestamps[:count], media.fps, audio, media.sample_rate, media.source)


# ---------------------------------------------------------------- models


def _benchmark_module(name: str) -> Any:
    """A sibling benchmark module (`pipeline`: the full-size random model builders)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    return __import__(name)


def params(model: Any, *, trainable: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable)


def build_clip_full() -> Any:
    """CLIP in the openai/clip-vit-base-patch32 shape (ViT-B/32, 224 px, projection 512), random weights."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    from ml_backend.foundation.clip_labels import ClipLabeller
    from ml_backend.foundation.tiny import _clip_tokenizer

    model = CLIPModel(CLIPConfig()).eval()
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=_clip_tokenizer(77))
    return ClipLabeller(model, processor, name="clip_vit_b32_random")


def foundation_models(size: str, device: str) -> Any:
    """`FoundationModels` (CLAP, CLIP, SAM) with random weights: "tiny" (the test fixtures' shapes) or "full"."""
    from ml_backend.foundation.audio_tagging import ClapTagger
    from ml_backend.foundation.clip_labels import ClipLabeller
    from ml_backend.foundation.sam import SamSegmenter
    from ml_backend.students.base import FoundationModels

    if size == "tiny":
        from ml_backend.foundation.tiny import build_tiny_clap, build_tiny_clip, build_tiny_sam

        clap = ClapTagger(*build_tiny_clap(0), name="clap_tiny")
        clip = ClipLabeller(*build_tiny_clip(0), name="clip_tiny")
        sam = SamSegmenter(build_tiny_sam(), name="sam_tiny")
    else:
        pipeline = _benchmark_module("pipeline")
        clap, clip, sam = pipeline.build_clap(), build_clip_full(), pipeline.build_sam()
    for facade in (clap, clip, sam):
        facade.model.to(device)  # the facades follow their model's device
    return FoundationModels(clap=clap, sam=sam, clip=clip)


def student_config(kind: str, variant: str, *, epochs: int, device: str) -> Any:
    from ml_backend.students.registry import student_config_from_dict, student_config_to_dict

    settings: dict[str, Any] = {"kind": kind}
    if variant == "tiny":
        if kind == "compact":
            from ml_backend.students.compact import tiny_config

            settings = student_config_to_dict(tiny_config())
        else:
            settings.update(AV2T_TINY)
    settings.update(epochs=epochs, device=device)
    return student_config_from_dict(settings, name=kind)


def openavs_pipeline(size: str, device: str, *, max_boxes: int) -> tuple[Any, list[str], str]:
    """(OpenAVS pipeline, its vocabulary, a description of its models): "full" as benchmarks/pipeline.py builds it,
    "tiny" on the tiny random models."""
    from ml_backend.foundation.prompt_translation import TreeTranslator, default_av_tree
    from ml_backend.pipelines.openavs import OpenAvsPipeline

    pipeline_bench = _benchmark_module("pipeline")
    if size == "full":
        tagger = pipeline_bench.build_clap()
        detector = pipeline_bench.build_grounding(max_boxes)
        segmenter = pipeline_bench.build_sam()
    else:
        from ml_backend.foundation.audio_tagging import ClapTagger
        from ml_backend.foundation.grounding import GroundingDinoDetector
        from ml_backend.foundation.sam import SamSegmenter
        from ml_backend.foundation.tiny import build_tiny_clap, build_tiny_grounding_dino, build_tiny_sam

        tagger = ClapTagger(*build_tiny_clap(0), name="clap_tiny")
        model, processor = build_tiny_grounding_dino(0)
        detector = GroundingDinoDetector(
            model, processor, box_threshold=0.0, text_threshold=0.0, max_boxes=max_boxes, name="grounding_dino_tiny"
        )
        segmenter = SamSegmenter(build_tiny_sam(), name="sam_tiny")
    for facade in (tagger, detector, segmenter):
        facade.model.to(device)
    tree = default_av_tree()
    vocabulary = list(pipeline_bench.VOCABULARY)
    pipeline = OpenAvsPipeline(
        tagger=tagger,
        translator=TreeTranslator(tree, max_nouns=3),
        detector=detector,
        segmenter=segmenter,
        tree=tree,
        options=pipeline_bench.EVERY_FRAME,
        vocabulary=vocabulary,
    )
    total = sum(params(f.model) for f in (tagger, detector, segmenter))
    described = f"CLAP + Grounding DINO + SAM ({size}, random, {total / 1e6:.1f}M params, {max_boxes} boxes/frame)"
    return pipeline, vocabulary, described


# ---------------------------------------------------------------- one case


def _timed(function: Any, repeat: int, device: str) -> list[float]:
    import torch

    seconds = []
    for _ in range(max(1, repeat)):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        function()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    return seconds


def run_case(case: str, options: dict[str, Any]) -> dict[str, Any]:
    """Measure one case ("compact:tiny", ..., "openavs", "baseline"); returns its figures (JSON-safe)."""
    import torch

    seed, device = options["seed"], options["device"]
    torch.manual_seed(seed)
    clip = inference_clip(options["clip_frames"], size=options["size"], seed=seed)
    repeat = 1 if case in HEAVY else options["repeat"]
    result: dict[str, Any] = {"case": case, "threads": torch.get_num_threads()}

    if case in TEACHER_CASES:
        if case == "openavs":
            start = time.perf_counter()
            teacher, vocabulary, described = openavs_pipeline(
                options["teacher_size"], device, max_boxes=options["max_boxes"]
            )
            result["build_s"] = time.perf_counter() - start
            start = time.perf_counter()
            teacher.tagger.embed_texts(vocabulary)  # once per process, cached: on neither side of the ratio
            result["text_pass_s"] = time.perf_counter() - start
            result["models"] = described
        else:
            from ml_backend.pipelines.synchrony import SynchronyProposer

            teacher = SynchronyProposer()
            result["models"] = "weight-free (audio energy × picture change)"
        teacher.propose(first_frames(clip, 1))  # warm-up
        seconds = _timed(lambda: teacher.propose(clip), repeat, device)
        result.update(infer_runs=len(seconds), infer_s_per_frame=statistics.median(seconds) / clip.num_frames)
        return result

    kind, variant = case.split(":")
    frames = options["av2t_frames"] if case == "av2t_sam:default" else options["train_frames"]
    items = synthetic_items(frames, size=options["size"], seed=seed)
    config = student_config(kind, variant, epochs=options["epochs"], device=device)

    from ml_backend.students.registry import build_student

    start = time.perf_counter()
    models = foundation_models("tiny" if variant == "tiny" else "full", device) if kind == "av2t_sam" else None
    student = build_student(config, models=models)
    result["build_s"] = time.perf_counter() - start
    network = student.net if hasattr(student, "net") else student.head
    result.update(trainable_params=params(network, trainable=True), params=params(network))
    if models is not None:
        result["frozen_params"] = sum(params(m.model) for m in (models.clap, models.clip, models.sam))

    # Warm-up: a one-epoch fit on a few frames (first-call costs: kernels, lazy imports, allocator growth).
    warm = dataclasses.replace(config, epochs=1)
    if options.get("warm_up", True):
        student.fit(items[: min(len(items), 4)], warm)

    with PeakMemory(device) as memory:
        start = time.perf_counter()
        report = student.fit(items, config)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        fit_s = time.perf_counter() - start
    steps = len(items) * config.epochs
    result.update(
        frames=len(items),
        epochs=config.epochs,
        input_size=config.input_size,
        batch_size=config.batch_size,
        fit_s=fit_s,
        loop_s=report.seconds,
        features_s_per_frame=max(0.0, fit_s - report.seconds) / len(items),
        train_fps=steps / report.seconds if report.seconds > 0 else None,
        end_to_end_fps=steps / fit_s,
        final_loss=report.curve[-1] if report.curve else None,
        rss_growth_mb=memory.growth / MB,
        rss_method=memory.method,
        cuda_peak_mb=memory.cuda_peak / MB if memory.cuda_peak is not None else None,
    )

    # Python-level peak of a one-epoch fit (tracemalloc slows Python down: not the timed fit).
    gc.collect()
    tracemalloc.start()
    try:
        student.fit(items, warm)
        result["python_peak_mb"] = tracemalloc.get_traced_memory()[1] / MB
    finally:
        tracemalloc.stop()

    student.predict(first_frames(clip, 1))  # warm-up
    seconds = _timed(lambda: student.predict(clip), repeat, device)
    result.update(infer_runs=len(seconds), infer_s_per_frame=statistics.median(seconds) / clip.num_frames)
    return result


def _run_isolated(case: str, options: dict[str, Any]) -> dict[str, Any]:
    """`run_case` in a fresh Python process (its memory figures its own)."""
    with tempfile.TemporaryDirectory(prefix="avs-bench-training-") as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--case", case, "--options", json.dumps(options)]
        completed = subprocess.run([*command, "--result", str(out)], capture_output=True, text=True)
        if completed.returncode != 0 or not out.is_file():
            raise SystemExit(f"case {case} failed (exit {completed.returncode}):\n{completed.stderr[-4000:]}")
        return json.loads(out.read_text())


# ---------------------------------------------------------------- report


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if value != 0 and abs(value) < 10 ** (-digits):
        return f"{value:.1e}"
    return f"{value:.{digits}f}"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "CPU"


def _load() -> str:
    try:
        return "/".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """{case: {teacher: the case's s/frame ÷ the teacher's s/frame}} for every case that proposed the clip."""
    return {
        case: {
            teacher: figures["infer_s_per_frame"] / results[teacher]["infer_s_per_frame"]
            for teacher in TEACHER_CASES
            if teacher in results and results[teacher]["infer_s_per_frame"] > 0
        }
        for case, figures in results.items()
    }


def _ratio_cell(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isclose(value, 1.0):
        return "1"
    if value < 1:
        return f"{_fmt(value, 4)} ({1 / value:.{1 if value > 0.1 else 0}f}x faster)"
    return f"{_fmt(value, 3)} ({value:.1f}x slower)"


def print_report(results: dict[str, dict[str, Any]], summary: dict[str, Any]) -> None:
    options = summary["options"]
    print()
    print(
        f"Training (each configuration's fit in its own process: {not options['in_process']}); "
        f"{options['epochs']} epoch(s), frames {options['size']}x{options['size']}"
    )
    header = (
        f"{'student':<18}{'trainable':>11}{'frames':>8}{'input':>7}{'fit s':>9}{'features s/frame':>18}"
        f"{'train frames/s':>16}{'end-to-end f/s':>16}{'peak RSS +MB':>14}{'Python peak MB':>16}"
    )
    if options["device"].startswith("cuda"):
        header += f"{'CUDA peak MB':>14}"
    print(header)
    for case in STUDENT_CASES:
        if case not in results:
            continue
        r = results[case]
        line = (
            f"{case:<18}{r['trainable_params'] / 1e6:>10.3f}M{r['frames']:>8}{r['input_size']:>7}{r['fit_s']:>9.1f}"
            f"{_fmt(r['features_s_per_frame'], 3):>18}{_fmt(r['train_fps'], 1):>16}{_fmt(r['end_to_end_fps'], 1):>16}"
            f"{r['rss_growth_mb']:>14.0f}{r['python_peak_mb']:>16.1f}"
        )
        if options["device"].startswith("cuda"):
            line += f"{_fmt(r['cuda_peak_mb'], 0):>14}"
        print(line)
    methods = {results[c]["rss_method"] for c in STUDENT_CASES if c in results}
    print(f"peak RSS +MB: {', '.join(sorted(methods))}; Python peak: tracemalloc over a one-epoch fit")
    for case in ("av2t_sam:tiny", "av2t_sam:default"):
        if case in results:
            print(
                f"{case}: frozen CLAP + CLIP + SAM {results[case]['frozen_params'] / 1e6:.1f}M params "
                f"(their per-frame passes are the 'features' column)"
            )

    print()
    print(f"Inference: seconds per frame on a {options['clip_frames']}-frame clip with audio (median, after warm-up)")
    print(f"{'model':<18}{'s/frame':>12}{'runs':>6}{'÷ OpenAVS':>28}{'÷ baseline':>28}")
    table = summary["ratios"]
    for case in (*TEACHER_CASES, *STUDENT_CASES):
        if case not in results:
            continue
        r = results[case]
        cells = [_ratio_cell(table[case].get(teacher)) for teacher in TEACHER_CASES]
        print(f"{case:<18}{_fmt(r['infer_s_per_frame'], 4):>12}{r['infer_runs']:>6}{cells[0]:>28}{cells[1]:>28}")
    if "openavs" in results:
        o = results["openavs"]
        print(
            f"OpenAVS: {o['models']}; built in {o['build_s']:.1f} s; its vocabulary's CLAP text pass "
            f"{o['text_pass_s']:.2f} s (once per process, not counted)"
        )
    print()
    print(summary["target"])


def target_line(results: dict[str, dict[str, Any]], options: dict[str, Any]) -> tuple[str, float | None]:
    if "compact:default" not in results or "openavs" not in results:
        return "Target (compact ≥ 20x faster per frame than OpenAVS on CPU): not assessed (case not run)", None
    speedup = results["openavs"]["infer_s_per_frame"] / results["compact:default"]["infer_s_per_frame"]
    if options["teacher_size"] != "full":
        why = "quick run: OpenAVS on tiny models"
    elif options["device"] != "cpu":
        why = f"device {options['device']}, the target is on CPU"
    else:
        verdict = "met" if speedup >= TARGET_SPEEDUP else f"MISSED by {TARGET_SPEEDUP / speedup:.1f}x"
        return (
            f"Target: compact student (default config) ≥ {TARGET_SPEEDUP:.0f}x faster per frame than OpenAVS on CPU: "
            f"{speedup:.0f}x, {verdict}"
        ), speedup
    return f"Target (compact ≥ 20x faster than OpenAVS on CPU): not assessed ({why}); speed-up {speedup:.1f}x", speedup


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="A smoke run (tiny configs, small frames).")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N].")
    parser.add_argument("--train-frames", type=int, help="Training frames per student (default 120; quick 12).")
    parser.add_argument("--av2t-frames", type=int, default=8, help="Training frames of AV2T-SAM on full models.")
    parser.add_argument("--epochs", type=int, help="Epochs of each timed fit (default 2; quick 1).")
    parser.add_argument("--clip-frames", type=int, help="Frames of the inference clip (default 5; quick 2).")
    parser.add_argument("--size", type=int, help="Frame side in pixels (default 224, AVSBench's; quick 64).")
    parser.add_argument("--repeat", type=int, help="Timed inference runs (median kept; 1 for full-size models).")
    parser.add_argument("--max-boxes", type=int, default=5, help="OpenAVS boxes per frame to SAM.")
    parser.add_argument("--cases", help=f"Comma-separated subset of {', '.join(STUDENT_CASES + TEACHER_CASES)}.")
    parser.add_argument("--in-process", action="store_true", help="Run every case in this process.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="Also write the figures to this JSON file.")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # a child process: one case
    parser.add_argument("--options", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.case:  # a child process of `_run_isolated`
        result = run_case(args.case, json.loads(args.options))
        args.result.write_text(json.dumps(result))
        return None

    import torch

    quick = args.quick
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {device}: no GPU is available to torch")

    def pick(given: int | None, quick_default: int, default: int) -> int:
        return given if given is not None else quick_default if quick else default

    options = {
        "seed": args.seed,
        "device": device,
        "train_frames": pick(args.train_frames, 12, 120),
        "av2t_frames": args.av2t_frames,
        "epochs": pick(args.epochs, 1, 2),
        "clip_frames": pick(args.clip_frames, 2, 5),
        "size": pick(args.size, 64, 224),
        "repeat": pick(args.repeat, 1, 3),
        "max_boxes": args.max_boxes,
        "teacher_size": "tiny" if quick else "full",
        "in_process": args.in_process,
        "warm_up": not quick,  # a smoke run's timings are no measure: no warm-up fit
    }
    for name in ("train_frames", "av2t_frames", "epochs", "clip_frames", "size", "repeat", "max_boxes"):
        if options[name] < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {options[name]}")
    cases = list(QUICK_CASES if quick else (*TEACHER_CASES, *STUDENT_CASES))
    if args.cases:
        known = set(STUDENT_CASES + TEACHER_CASES)
        cases = [c.strip() for c in args.cases.split(",") if c.strip()]
        unknown = [c for c in cases if c not in known]
        if unknown:
            parser.error(f"--cases: unknown {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        if quick and "av2t_sam:default" in cases:
            parser.error("--quick builds no full-size model: av2t_sam:default is not part of it")

    name = torch.cuda.get_device_name(device) if device.startswith("cuda") else cpu_name()
    started = time.perf_counter()
    load_start = _load()
    print(
        f"Student training and inference benchmark{' (quick smoke run)' if quick else ''}: device {device} ({name}), "
        f"{torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs, load average {load_start} at the start"
    )
    results: dict[str, dict[str, Any]] = {}
    for case in cases:
        case_start = time.perf_counter()
        results[case] = run_case(case, options) if args.in_process else _run_isolated(case, options)
        print(f"  {case}: done in {time.perf_counter() - case_start:.0f} s", flush=True)

    summary: dict[str, Any] = {"device": device, "device_name": name, "options": options, "results": results}
    summary["ratios"] = ratios(results)
    summary["target"], summary["compact_speedup_vs_openavs"] = target_line(results, options)
    summary["load_average"] = {"start": load_start, "end": _load()}
    summary["seconds"] = time.perf_counter() - started
    print_report(results, summary)
    print(
        f"load average {summary['load_average']['start']} at the start, {summary['load_average']['end']} at the end "
        f"(the cores may be shared with other work); benchmark wall time {summary['seconds']:.0f} s"
    )
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
