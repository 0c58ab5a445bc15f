"""OpenAVS pipeline time against the bare forwards it cannot avoid, with full-size random models on CPU.

    .venv/bin/python benchmarks/pipeline.py [--frames 5] [--max-boxes 5] [--seed 0] [--sam3 [--sam3-frames 1]]

Models are built from configs with random weights (nothing downloaded): CLAP in the laion/clap-htsat-unfused
shape (HTSAT audio encoder without fusion, RoBERTa-base text encoder), Grounding DINO in the "tiny" shape
(Swin-T backbone, BERT-base text encoder, 900 queries, 800-1333 px inputs) and SAM vit_b (1024 px). No LLM: the
audio-visual tree translates. Tokenizers are byte/character-level ones generated here (ids fit the models'
vocabularies); they make text sequences a few times longer than the real BPE/WordPiece ones.

Random detectors score boxes arbitrarily, so the box threshold is 0 and `--max-boxes` boxes per frame go to
SAM (a typical count for OpenAVS); SAM's decoder and mask upsampling for them count as pipeline overhead.

The unavoidable forwards: one CLAP audio pass per clip (all windows in one batch), one Grounding DINO forward and
one SAM image-encoder forward per frame. The machine's cores are shared with other workers and its speed swings
by 2-3x from one forward to the next (the same Grounding DINO forward takes 7 s or 24 s), so two ratios are given:
- pipeline / bare forwards: each bare forward is timed right after the pipeline's own call, on the very same
  inputs (a forward hook re-runs the module once, alone); the re-runs are subtracted from the pipeline's time.
  Paired in time, but each pair still carries the machine's swings;
- pipeline / the same forwards timed inside it (hooks around the pipeline's own calls): what the pipeline adds
  around the forwards it cannot avoid, in the very same seconds, so the machine's swings cancel out.
A 1-frame warm-up run first pays the models' first-call costs.

`--sam3` adds the SAM 3 path (`models.segmenter`, mode "frame"): the same clip's first `--sam3-frames` frames through
the pipeline with a random full-size SAM 3 (the facebook/sam3 shapes: `Sam3Config()` defaults, 1008 px inputs; a
CLIP-layout byte tokenizer) in place of Grounding DINO + SAM 1, the same CLAP and tree. Its unavoidable forwards: the
CLAP audio pass, SAM 3's text encoder once per clip, and per frame its vision encoder and one batched detector +
mask-decoder call for the frame's nouns. It prints both paths' time per frame and SAM 3's two ratios, as above (the
same ≤ 1.15 target). SAM 3 is several times heavier than Grounding DINO tiny + SAM ViT-B: one frame is the default.

The CLAP text embeddings of the vocabulary are computed once per process and cached (`ClapTagger.embed_texts`):
they are computed first, timed and reported, and count on neither side of the ratio. A small vocabulary (24
AudioSet classes) keeps that one-off pass short; with the 543 AudioSet names and byte-level tokens it would take
minutes on this CPU.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml_backend.foundation.audio_tagging import ClapTagger  # noqa: E402
from ml_backend.foundation.grounding import GroundingDinoDetector  # noqa: E402
from ml_backend.foundation.prompt_translation import TreeTranslator, default_av_tree  # noqa: E402
from ml_backend.foundation.sam import SamSegmenter  # noqa: E402
from ml_backend.foundation.tiny import byte_level_roberta_tokenizer, wordpiece_tokenizer  # noqa: E402
from ml_backend.media.clip import load_clip  # noqa: E402
from ml_backend.media.synth import make_clips, write_mp4  # noqa: E402
from ml_backend.pipelines.openavs import OpenAvsOptions, OpenAvsPipeline  # noqa: E402
from ml_backend.types import ClipMedia  # noqa: E402

# random models: every frame is grounded and segmented, as with real models on a clip that sounds throughout
# (the per-frame gates, silent windows and tags below the floor, would skip frames and measure less)
EVERY_FRAME = OpenAvsOptions(min_tag_score=0.0, min_window_rms=0.0)

VOCABULARY = [
    "Dog", "Bark", "Cat", "Meow", "Speech", "Male speech, man speaking", "Female speech, woman speaking",
    "Baby cry, infant cry", "Guitar", "Piano", "Violin, fiddle", "Drum", "Trumpet", "Flute", "Accordion",
    "Car", "Motorcycle", "Train", "Helicopter", "Fixed-wing aircraft, airplane", "Horse", "Bird", "Duck", "Lawn mower",
]  # fmt: skip


def params(model: torch.nn.Module) -> str:
    return f"{sum(p.numel() for p in model.parameters()) / 1e6:.0f}M params"


def build_clap() -> ClapTagger:
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor

    model = ClapModel(ClapConfig()).eval()  # defaults: HTSAT (no fusion) + RoBERTa-base, projection 512
    features = ClapFeatureExtractor(truncation="rand_trunc")  # 48 kHz, 64 mel bins, 10 s, repeat-padded
    return ClapTagger(model, ClapProcessor(feature_extractor=features, tokenizer=byte_level_roberta_tokenizer(512)))


def build_grounding(max_boxes: int) -> GroundingDinoDetector:
    from transformers import (
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
    )

    model = GroundingDinoForObjectDetection(GroundingDinoConfig()).eval()  # defaults: the "tiny" (Swin-T) shape
    processor = GroundingDinoProcessor(image_processor=GroundingDinoImageProcessor(), tokenizer=wordpiece_tokenizer())
    return GroundingDinoDetector(model, processor, box_threshold=0.0, text_threshold=0.0, max_boxes=max_boxes)


def build_sam() -> SamSegmenter:
    from segment_anything import build_sam_vit_b

    return SamSegmenter(build_sam_vit_b(checkpoint=None), name="sam_vit_b")


class ForwardTimer:
    """Times a module's forwards inside the pipeline and, right after each, one bare re-run on the same inputs.

    `seconds`: the pipeline's own calls (pre-hook to hook, re-run excluded); `bare`: the re-runs.
    """

    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module
        self.seconds = self.bare = 0.0
        self.calls = 0
        self._start = 0.0
        self._rerunning = False
        self._hooks = [
            module.register_forward_pre_hook(self._pre),
            module.register_forward_hook(self._post, with_kwargs=True),
        ]

    def _pre(self, *_: Any) -> None:
        if not self._rerunning:
            self._start = time.perf_counter()

    def _post(self, module: torch.nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        if self._rerunning:
            return
        self.seconds += time.perf_counter() - self._start
        self.calls += 1
        self._rerunning = True
        start = time.perf_counter()
        with torch.inference_mode():
            module(*args, **kwargs)
        self.bare += time.perf_counter() - start
        self._rerunning = False

    def remove(self) -> None:
        for hook in self._hooks:
            hook.remove()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--max-boxes", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--sam3", action="store_true", help="also the SAM 3 path (models.segmenter), timed the same way"
    )
    parser.add_argument("--sam3-frames", type=int, default=1, help="frames through the SAM 3 path, default 1")
    args = parser.parse_args()
    torch.manual_seed(args.seed)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        (synth,) = make_clips(clips=1, seed=args.seed, layout="s4", frames=args.frames, size=224)
        path = write_mp4(Path(tmp) / f"{synth.vid}.mp4", synth)
        start = time.perf_counter()
        clip = load_clip(path, fps=1.0, sample_rate=16_000)
        decode = time.perf_counter() - start

    start = time.perf_counter()
    tagger, detector, segmenter = build_clap(), build_grounding(args.max_boxes), build_sam()
    build = time.perf_counter() - start
    tree = default_av_tree()
    pipeline = OpenAvsPipeline(
        tagger=tagger,
        translator=TreeTranslator(tree, max_nouns=3),
        detector=detector,
        segmenter=segmenter,
        tree=tree,
        options=EVERY_FRAME,
        vocabulary=VOCABULARY,
    )

    start = time.perf_counter()
    tagger.embed_texts(VOCABULARY)
    text_pass = time.perf_counter() - start

    start = time.perf_counter()
    pipeline.propose(ClipMedia(clip.frames[:1], clip.timestamps[:1], clip.fps, clip.audio, clip.sample_rate))
    warm_up = time.perf_counter() - start

    timers = {
        "audio_tagging": ForwardTimer(tagger.model.audio_model),
        "grounding": ForwardTimer(detector.model),
        "sam": ForwardTimer(segmenter.model.image_encoder),
    }
    start = time.perf_counter()
    proposal = pipeline.propose(clip)
    wall = time.perf_counter() - start
    for timer in timers.values():
        timer.remove()
    bare = {key: timer.bare for key, timer in timers.items()}
    total = wall - sum(bare.values())  # the pipeline's own time, without the bare re-runs
    stages = {key: seconds - bare.get(key, 0.0) for key, seconds in proposal.meta["timings"].items()}
    nouns = proposal.meta["translation"]["nouns"]

    boxes = [len(i.provenance["boxes"]) for f in proposal.frames for i in f.instances]
    h, w = clip.size
    print(f"OpenAVS pipeline benchmark: random full-size models, CPU, {torch.get_num_threads()} torch threads")
    print(
        f"clip: synthetic S4, {clip.num_frames} frames {w}x{h}, {len(clip.audio) / clip.sample_rate:.1f} s of audio at 16 kHz (decoded in {decode:.2f} s)"
    )
    print(
        f"models: CLAP HTSAT-unfused shape ({params(tagger.model)}), Grounding DINO Swin-T shape ({params(detector.model)}), "
        f"SAM vit_b ({params(segmenter.model)}), built in {build:.1f} s; LLM: none (audio-visual tree)"
    )
    print(
        f"vocabulary: {len(VOCABULARY)} AudioSet classes; its CLAP text embeddings, computed once per process and "
        f"cached: {text_pass:.2f} s (on neither side of the ratio)"
    )
    print(
        f"nouns: {', '.join(nouns)} ({proposal.meta['translation']['translator']}); boxes to SAM per frame: {sum(boxes) / clip.num_frames:.1f}"
    )
    print()
    print(f"warm-up run on 1 frame (untimed in the table): {warm_up:.1f} s")
    print(f"{'stage':<34}{'pipeline s':>12}{'bare forwards s':>17}{'same forwards in pipeline s':>29}")
    rows = [
        ("audio tagging (1 CLAP audio pass)", "audio_tagging"),
        ("prompt translation (tree)", "prompt_translation"),
        (f"grounding ({clip.num_frames} frames)", "grounding"),
        (f"SAM ({clip.num_frames} frames; bare: encoder)", "sam"),
    ]
    for title, key in rows:
        bare_s = f"{bare[key]:.2f}" if key in bare else "-"
        inside = f"{timers[key].seconds:.2f} ({timers[key].calls}x)" if key in timers else "-"
        print(f"{title:<34}{stages[key]:>12.2f}{bare_s:>17}{inside:>29}")
    inside_total = sum(t.seconds for t in timers.values())
    other = total - sum(stages[key] for _, key in rows)
    print(f"{'rest (merging, bookkeeping)':<34}{other:>12.2f}")
    print(f"{'total':<34}{total:>12.2f}{sum(bare.values()):>17.2f}{inside_total:>29.2f}")
    print()
    print(
        f"ratio pipeline / bare forwards (re-run beside each call): {total / sum(bare.values()):.3f} (target <= 1.15)"
    )
    print(
        f"ratio pipeline / the same forwards inside it: {total / inside_total:.3f} (target <= 1.15); "
        f"time outside them: {total - inside_total:.2f} s ({100 * (total - inside_total) / total:.1f} %)"
    )
    print(f"benchmark wall time: {time.perf_counter() - started:.0f} s")
    if args.sam3:
        frames = clip.num_frames
        classic = {  # Grounding DINO + SAM 1 per frame, from the run above
            "pipeline": (stages["grounding"] + stages["sam"]) / frames,
            "bare": (bare["grounding"] + bare["sam"]) / frames,
        }
        _sam3(clip, tagger, tree, frames=min(args.sam3_frames, frames), classic=classic)
        print(f"benchmark wall time, both paths: {time.perf_counter() - started:.0f} s")
    print()
    print("Weight-free baseline quality (the proposer that runs when no models are configured):")
    _baseline_quality()


def build_sam3() -> Any:
    """A random full-size SAM 3 (frame mode): `Sam3Config()` defaults, the facebook/sam3 shapes."""
    from transformers import Sam3Config, Sam3ImageProcessor, Sam3Model, Sam3Processor

    from ml_backend.foundation.concepts import Sam3ConceptSegmenter
    from ml_backend.foundation.tiny import _clip_tokenizer

    model = Sam3Model(Sam3Config()).eval()
    processor = Sam3Processor(image_processor=Sam3ImageProcessor(), tokenizer=_clip_tokenizer(32))
    return Sam3ConceptSegmenter(model, processor, name="sam3", score_threshold=0.0, mask_threshold=0.5)


def _sam3(clip: ClipMedia, tagger: ClapTagger, tree: Any, *, frames: int, classic: dict[str, float]) -> None:
    """The SAM 3 path on the clip's first `frames` frames, timed like the main table; prints per-frame times."""
    start = time.perf_counter()
    segmenter = build_sam3()
    build = time.perf_counter() - start
    pipeline = OpenAvsPipeline(
        tagger=tagger,
        translator=TreeTranslator(tree, max_nouns=3),
        concepts=segmenter,
        tree=tree,
        options=EVERY_FRAME,
        vocabulary=VOCABULARY,
    )
    part = ClipMedia(clip.frames[:frames], clip.timestamps[:frames], clip.fps, clip.audio, clip.sample_rate)
    start = time.perf_counter()
    pipeline.propose(ClipMedia(clip.frames[:1], clip.timestamps[:1], clip.fps, clip.audio, clip.sample_rate))
    warm_up = time.perf_counter() - start

    model = segmenter.model
    timers = {
        "audio_tagging": ForwardTimer(tagger.model.audio_model),
        "text": ForwardTimer(model.text_encoder),
        "vision": ForwardTimer(model.vision_encoder),
        "detector": ForwardTimer(model),  # DETR encoder/decoder + mask decoder, all the frame's nouns at once
    }
    start = time.perf_counter()
    proposal = pipeline.propose(part)
    wall = time.perf_counter() - start
    for timer in timers.values():
        timer.remove()
    bare = {key: timer.bare for key, timer in timers.items()}
    total = wall - sum(bare.values())
    stages = {key: seconds for key, seconds in proposal.meta["timings"].items()}
    stages["audio_tagging"] -= bare["audio_tagging"]
    stages["segmenter"] -= bare["text"] + bare["vision"] + bare["detector"]
    masks = sum(len(i.provenance["boxes"]) for f in proposal.frames for i in f.instances)
    inside = {key: timer.seconds for key, timer in timers.items()}

    print()
    print(
        f"SAM 3 path (models.segmenter, mode frame): random full-size SAM 3, Sam3Config() defaults ({params(model)}),"
    )
    print(
        f"built in {build:.1f} s; the same CLAP and tree; {frames} frame(s); nouns: "
        f"{', '.join(proposal.meta['translation']['nouns'])}; SAM 3 masks per frame (union members): {masks / frames:.1f}"
    )
    print(f"warm-up run on 1 frame (untimed in the table): {warm_up:.1f} s")
    print(f"{'stage':<34}{'pipeline s':>12}{'bare forwards s':>17}{'same forwards in pipeline s':>29}")
    segmenter_bare = bare["text"] + bare["vision"] + bare["detector"]
    segmenter_inside = inside["text"] + inside["vision"] + inside["detector"]
    calls = f"{timers['vision'].calls}+{timers['detector'].calls}+{timers['text'].calls}x"
    rows = [
        (
            "audio tagging (1 CLAP audio pass)",
            stages["audio_tagging"],
            bare["audio_tagging"],
            inside["audio_tagging"],
            "",
        ),
        ("prompt translation (tree)", stages["prompt_translation"], None, None, ""),
        (f"SAM 3 ({frames} frames; vision+heads+text)", stages["segmenter"], segmenter_bare, segmenter_inside, calls),
    ]
    for title, seconds, bare_s, inside_s, note in rows:
        bare_text = f"{bare_s:.2f}" if bare_s is not None else "-"
        inside_text = f"{inside_s:.2f}{f' ({note})' if note else ''}" if inside_s is not None else "-"
        print(f"{title:<34}{seconds:>12.2f}{bare_text:>17}{inside_text:>29}")
    other = total - sum(row[1] for row in rows)
    print(f"{'rest (merging, bookkeeping)':<34}{other:>12.2f}")
    print(f"{'total':<34}{total:>12.2f}{sum(bare.values()):>17.2f}{sum(inside.values()):>29.2f}")
    per_frame = stages["segmenter"] / frames
    print(
        f"per frame, text -> masks: SAM 3 {per_frame:.2f} s (bare: vision {bare['vision'] / frames:.2f} s + heads "
        f"{bare['detector'] / frames:.2f} s, text once per clip {bare['text']:.2f} s); Grounding DINO + SAM 1 "
        f"{classic['pipeline']:.2f} s (bare {classic['bare']:.2f} s); SAM 3 ÷ GD + SAM 1: "
        f"{per_frame / classic['pipeline']:.2f}"
    )
    print(
        f"ratio SAM 3 pipeline / bare forwards (re-run beside each call): {total / sum(bare.values()):.3f} (target <= 1.15)"
    )
    print(
        f"ratio SAM 3 pipeline / the same forwards inside it: {total / sum(inside.values()):.3f} (target <= 1.15); "
        f"time outside them: {total - sum(inside.values()):.2f} s"
    )


def _baseline_quality() -> None:
    """The synchrony baseline's mIoU and F on a seeded synthetic set (benchmarks/baseline_quality.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from baseline_quality import run as baseline_run

    with tempfile.TemporaryDirectory(prefix="avs-baseline-") as tmp:
        baseline_run(clips=12, seed=0, out=Path(tmp))


if __name__ == "__main__":
    main()
