"""The simulation's experiments: students trained on simulated labels (± the teacher's pseudo-labels), evaluated on
the held-out clips, inside an active-learning loop per acquisition strategy.

One replicate (`run_replicate`) generates its data, then for every strategy and for each variant ("supervised":
human labels only; "self_training": plus the teacher's pseudo-labels of the pool's unlabelled clips) runs the loop

    labelled = the replicate's seed set (the same random clips for every strategy)
    repeat rounds + 1 times:
        train a student from scratch on the labelled clips (+ pseudo-labels); evaluate it on the held-out clips
        (unless last) score the unlabelled pool clips with the strategy and label the chosen batch

The first point of every curve trains on the same clips, so it is computed once per variant and shared.
Acquisition goes through the product's entry points (`ml_backend.serving.score_clip` / `select_batch`): the
evidence of a clip is the current student's probability maps (entropy, temporal) and the teacher's masks as the
second proposal (disagreement = 1 − IoU, teacher vs current student); its embedding is the teacher's clip embedding.
Strategies other than "random" use the product's default selection (score first, near-duplicates skipped:
"diverse"); "random" is the uniform random baseline (its seeded per-clip draw, highest first: "top_k").
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ml_backend.acquisition.registry import RANDOM, get_strategy
from ml_backend.acquisition.types import ClipEvidence
from ml_backend.evaluation.metrics import BinaryEvaluator
from ml_backend.pipelines.synchrony import SynchronyProposer
from ml_backend.serving.acquisition import score_clip, select_batch
from ml_backend.serving.encoding import probability_maps
from ml_backend.simulation.config import SimulationConfig
from ml_backend.simulation.data import SimClip, SimulatedAnnotator, make_sim_clips
from ml_backend.students.base import SOURCE_HUMAN, SOURCE_PSEUDO, Student, StudentConfig, TrainItem
from ml_backend.students.compact import tiny_config
from ml_backend.students.registry import build_student, student_config_from_dict, student_config_to_dict

VARIANTS: tuple[str, ...] = ("supervised", "self_training")
POOL_STREAM = 1  # data streams of a replicate (`make_sim_clips`)
HELDOUT_STREAM = 2
_SEED_SET_STREAM = 31  # rng stream of the seed set
_PSEUDO_STREAM = 37  # rng stream of the pseudo-labelled subset (when capped)

Log = Callable[[str], None]


def student_config(config: SimulationConfig, *, seed: int) -> StudentConfig:
    """The student's validated configuration: the compact student's tiny settings, `config.student_settings` over
    them, `seed` as the training seed."""
    settings = student_config_to_dict(tiny_config())
    settings.update(config.student_settings)
    settings.update({"kind": config.student, "seed": int(seed)})
    return student_config_from_dict(settings, name=config.student)


# ---------------------------------------------------------------- training and evaluation


def train_items(
    clips: Sequence[SimClip],
    labels: dict[int, np.ndarray],
    pseudo: Sequence[SimClip] = (),
    pseudo_targets: dict[int, np.ndarray] | None = None,
) -> list[TrainItem]:
    """Every frame of the labelled `clips` (targets: the annotator's masks, source "human") and of the `pseudo`
    clips (targets: `pseudo_targets[key]`, default the teacher's probability maps; source "pseudo": the loss ignores
    their pixels between the student's `pseudo_low` and `pseudo_high`)."""
    items = []
    for clip, source in [(c, SOURCE_HUMAN) for c in clips] + [(c, SOURCE_PSEUDO) for c in pseudo]:
        if source == SOURCE_HUMAN:
            targets = labels[clip.key]
        else:
            targets = clip.teacher if pseudo_targets is None else pseudo_targets[clip.key]
        for k in range(clip.num_frames):
            items.append(
                TrainItem(
                    frame=clip.media.frames[k],
                    audio=clip.media.audio_window(k),
                    sample_rate=clip.media.sample_rate,
                    target=np.asarray(targets[k], dtype=np.float32),
                    source=source,
                    clip_key=clip.vid,
                    frame_index=k,
                )
            )
    return items


def fit_student(config: StudentConfig, items: list[TrainItem]) -> Student:
    student = build_student(config)
    student.fit(items, config)
    return student


def student_maps(student: Student, clip: SimClip) -> np.ndarray:
    """T×H×W float32: the student's per-pixel foreground probability on every frame of `clip`."""
    probabilities = getattr(student, "probabilities", None)
    if callable(probabilities):
        _, maps = probabilities(clip.media)
        return np.stack(maps).astype(np.float32)
    return probability_maps(student.predict(clip.media), size=clip.media.size)


def evaluate(maps: Sequence[np.ndarray], clips: Sequence[SimClip]) -> dict[str, float]:
    """AVSBench S4 scores of per-clip T×H×W probability maps against the clips' ground truth (official batches of
    4 clips, in held-out order): {"miou", "fscore", "fscore_at_0_5"}."""
    evaluator = BinaryEvaluator(batch_clips=4)
    for prob, clip in zip(maps, clips, strict=True):
        evaluator.add_clip(prob, clip.gt)
    report = evaluator.result()
    return {"miou": report.miou, "fscore": report.fscore, "fscore_at_0_5": report.fscore_at_0_5}


# ---------------------------------------------------------------- acquisition


def evidence(clip: SimClip, student_prob: np.ndarray) -> ClipEvidence:
    """What acquisition knows of an unlabelled clip: the current student's probability maps, the teacher's masks
    (second proposal) and the teacher's clip embedding."""
    return ClipEvidence(
        key=clip.key,
        probabilities=list(student_prob),
        second_masks=list(clip.teacher_masks()),
        embedding=clip.embedding,
    )


def choose_batch(
    strategy: str,
    candidates: Sequence[SimClip],
    maps: dict[int, np.ndarray],
    labelled: Sequence[int],
    k: int,
    seed: int,
) -> dict[str, Any]:
    """The next `k` clips to label among `candidates` (`select_batch`'s answer); `maps`: the current student's
    probability maps of the candidates (unused by "random")."""
    if strategy == RANDOM:
        settings = dataclasses.replace(get_strategy(RANDOM), seed=int(seed))
        scores = {c.key: score_clip(ClipEvidence(key=c.key), settings)["score"] for c in candidates}
        return select_batch(scores, k, strategy=settings, method="top_k", already_selected=labelled)
    settings = get_strategy(strategy)
    scores = {c.key: score_clip(evidence(c, maps[c.key]), settings)["score"] for c in candidates}
    embeddings = {c.key: c.embedding for c in candidates if c.embedding is not None}
    return select_batch(
        scores, k, embeddings=embeddings or None, strategy=settings, already_selected=labelled, fill=True
    )


# ---------------------------------------------------------------- one replicate


def seed_set(pool: Sequence[SimClip], count: int, seed: int) -> list[int]:
    """The `count` clips every strategy starts from (random, seeded)."""
    rng = np.random.default_rng([seed, _SEED_SET_STREAM])
    return sorted(int(k) for k in rng.choice([c.key for c in pool], size=count, replace=False))


def pseudo_subset(unlabelled: Sequence[SimClip], cap: int | None, seed: int) -> list[SimClip]:
    """The unlabelled clips whose pseudo-labels train (all, or `cap` of them drawn at random, seeded)."""
    if cap is None or cap >= len(unlabelled):
        return list(unlabelled)
    rng = np.random.default_rng([seed, _PSEUDO_STREAM, len(unlabelled)])
    chosen = set(int(i) for i in rng.choice(len(unlabelled), size=cap, replace=False))
    return [c for i, c in enumerate(unlabelled) if i in chosen]


def run_replicate(config: SimulationConfig, seed: int, *, log: Log = lambda _: None) -> dict[str, Any]:
    """One replicate: data, teacher, then every strategy's learning curve in each variant. Returns
    {"seed", "teacher": scores, "curves": {variant: {strategy: [point, ...]}}, "timings", "label_noise"} where a
    point is {"labelled", "miou", "fscore", "fscore_at_0_5", "train_items", "added": [keys], "selection"}."""
    started = time.monotonic()
    teacher = SynchronyProposer()
    pool = make_sim_clips(
        count=config.pool_clips, seed=seed, stream=POOL_STREAM, frames=config.frames, size=config.size, teacher=teacher
    )
    heldout = make_sim_clips(
        count=config.heldout_clips,
        seed=seed,
        stream=HELDOUT_STREAM,
        frames=config.frames,
        size=config.size,
        teacher=teacher,
    )
    data_seconds = time.monotonic() - started
    teacher_scores = evaluate([c.teacher for c in heldout], heldout)
    log(f"seed {seed}: {len(pool)} pool + {len(heldout)} held-out clips, teacher mIoU {teacher_scores['miou']:.3f}")
    annotator = SimulatedAnnotator(noise=config.noise, seed=seed)
    student_cfg = student_config(config, seed=seed)
    by_key = {c.key: c for c in pool}
    start_keys = seed_set(pool, config.seed_clips, seed)
    strategies_of = {"supervised": config.strategies, "self_training": config.self_training_curve_strategies}

    def pseudo_clips(labelled: Sequence[int]) -> list[SimClip]:
        return pseudo_subset([c for c in pool if c.key not in set(labelled)], config.pseudo_clips, seed)

    def train_and_score(
        labelled: Sequence[int], variant: str, pseudo_targets: dict[int, np.ndarray] | None = None
    ) -> tuple[dict[str, Any], Student]:
        clips = [by_key[k] for k in labelled]
        pseudo = pseudo_clips(labelled) if variant == "self_training" else []
        items = train_items(clips, annotator.label_all(clips), pseudo, pseudo_targets)
        student = fit_student(student_cfg, items)
        scores = evaluate([student_maps(student, c) for c in heldout], heldout)
        point = {"labelled": len(labelled), **scores, "train_items": len(items), "pseudo_clips": len(pseudo)}
        return point, student

    curves: dict[str, dict[str, list[dict[str, Any]]]] = {}
    last: dict[tuple[str, str], tuple[list[int], Student]] = {}
    fit_seconds = 0.0
    for variant in VARIANTS:
        curves[variant] = {}
        t0 = time.monotonic()
        first_point, first_student = train_and_score(start_keys, variant)
        fit_seconds += time.monotonic() - t0
        first_maps: dict[int, np.ndarray] | None = None
        for strategy in strategies_of[variant]:
            labelled = list(start_keys)
            points = [{**first_point, "added": list(start_keys), "selection": "seed set"}]
            student = first_student
            for round_index in range(1, config.rounds + 1):
                candidates = [c for c in pool if c.key not in set(labelled)]
                maps: dict[int, np.ndarray] = {}
                if strategy != RANDOM:
                    if round_index == 1:
                        if first_maps is None:
                            first_maps = {c.key: student_maps(first_student, c) for c in candidates}
                        maps = first_maps
                    else:
                        maps = {c.key: student_maps(student, c) for c in candidates}
                chosen = choose_batch(strategy, candidates, maps, labelled, config.batch_clips, seed)
                labelled += [int(k) for k in chosen["keys"]]
                t0 = time.monotonic()
                point, student = train_and_score(labelled, variant)
                fit_seconds += time.monotonic() - t0
                points.append({**point, "added": [int(k) for k in chosen["keys"]], "selection": chosen["method"]})
            curves[variant][strategy] = points
            last[(variant, strategy)] = (labelled, student)
            log(
                f"seed {seed} {variant} {strategy}: mIoU "
                + " → ".join(f"{p['miou']:.3f}@{p['labelled']}" for p in points)
            )
    two_stage = None
    if config.two_stage:
        # A second self-training stage (OpenAVS-ST's next round): pseudo-labels = the mean of the teacher's and the
        # stage-1 student's probability maps, so pixels where they disagree land in the ignored band.
        labelled, stage_one = last[("self_training", RANDOM)]
        targets = {c.key: (c.teacher + student_maps(stage_one, c)) / 2 for c in pseudo_clips(labelled)}
        t0 = time.monotonic()
        two_stage, _ = train_and_score(labelled, "self_training", targets)
        fit_seconds += time.monotonic() - t0
        log(f"seed {seed} self_training random, second stage: mIoU {two_stage['miou']:.3f}@{two_stage['labelled']}")
    return {
        "seed": seed,
        "teacher": teacher_scores,
        "curves": curves,
        "two_stage": two_stage,
        "label_noise": dict(annotator.corrupted),
        "timings": {
            "data_and_teacher": round(data_seconds, 2),
            "students": round(fit_seconds, 2),
            "total": round(time.monotonic() - started, 2),
        },
    }
