"""From replicates to the figures: mean and spread per curve point, the self-training comparison, the label ratio.

**Label ratio** of a strategy, per replicate: random's final mIoU m* (at L labelled clips, the last point of its
curve) is the target; the labels the strategy needs to reach it are the first point of its curve with mIoU ≥ m*,
linearly interpolated from the point before (the first point when that one already reaches it); ratio = those
labels ÷ L. A strategy that never reaches m* within its curve needs more than L labels: its ratio counts as 1.0
(a lower bound) and the replicate is not counted in `reached`. The value is the mean over replicates; the best
strategy is the one (random aside) with the lowest mean, ties by name. Random's own ratio is 1.0 by definition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ml_backend.acquisition.registry import RANDOM

Curve = Sequence[tuple[float, float]]  # (labelled, mIoU) points, labelled ascending


def spread(values: Sequence[float]) -> dict[str, Any]:
    """{"mean", "std" (population), "min", "max", "values"} of replicate values (rounded to 4 decimals)."""
    array = np.asarray(values, dtype=np.float64)
    return {
        "mean": round(float(array.mean()), 4),
        "std": round(float(array.std()), 4),
        "min": round(float(array.min()), 4),
        "max": round(float(array.max()), 4),
        "values": [round(float(v), 4) for v in array],
    }


def labels_to_reach(curve: Curve, target: float) -> float | None:
    """Labelled count at which `curve` first reaches `target` mIoU (linear between points), None if it never does."""
    previous: tuple[float, float] | None = None
    for labelled, miou in curve:
        if miou >= target:
            if previous is None or miou == previous[1]:
                return float(labelled)
            x0, y0 = previous
            return float(x0 + (target - y0) / (miou - y0) * (labelled - x0))
        previous = (float(labelled), float(miou))
    return None


def label_ratio(curves: Sequence[Mapping[str, Curve]]) -> dict[str, Any]:
    """The label ratio (module doc) from per-replicate curve sets {strategy: [(labelled, mIoU), ...]}, each with a
    "random" curve. Returns {"strategy": best, "value": its mean ratio, "per_strategy": {name: {"mean", "values",
    "reached"}}, "random_final_miou": spread, "random_labels": L}; strategy and value are None without another
    strategy than random."""
    if not curves:
        raise ValueError("no curves")
    per: dict[str, list[float]] = {}
    reached: dict[str, int] = {}
    finals, labels = [], []
    for replicate in curves:
        if RANDOM not in replicate or not replicate[RANDOM]:
            raise ValueError("every replicate needs a random curve (the baseline)")
        final_labels, target = replicate[RANDOM][-1]
        finals.append(float(target))
        labels.append(float(final_labels))
        for name, curve in replicate.items():
            needed = labels_to_reach(curve, target) if name != RANDOM else float(final_labels)
            per.setdefault(name, []).append(1.0 if needed is None else needed / float(final_labels))
            reached[name] = reached.get(name, 0) + (needed is not None)
    per_strategy = {
        name: {
            "mean": round(float(np.mean(values)), 4),
            "values": [round(v, 4) for v in values],
            "reached": reached[name],
        }
        for name, values in sorted(per.items())
    }
    others = [name for name in per_strategy if name != RANDOM]
    best = min(others, key=lambda name: (per_strategy[name]["mean"], name)) if others else None
    return {
        "strategy": best,
        "value": per_strategy[best]["mean"] if best else None,
        "per_strategy": per_strategy,
        "random_final_miou": spread(finals),
        "random_labels": labels[0] if len(set(labels)) == 1 else labels,
        "replicates": len(curves),
    }


def curve_summary(runs: Sequence[Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
    """Mean and spread over replicates of one strategy's curve (points aligned by round)."""
    labelled = [int(p["labelled"]) for p in runs[0]]
    out: dict[str, Any] = {"labelled": labelled}
    for metric in ("miou", "fscore"):
        per_point = [[float(run[i][metric]) for run in runs] for i in range(len(labelled))]
        out[f"{metric}_mean"] = [round(float(np.mean(v)), 4) for v in per_point]
        out[f"{metric}_std"] = [round(float(np.std(v)), 4) for v in per_point]
        out[f"{metric}_min"] = [round(float(np.min(v)), 4) for v in per_point]
        out[f"{metric}_max"] = [round(float(np.max(v)), 4) for v in per_point]
    return out


def summarise(config_dict: Mapping[str, Any], replicates: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The simulation's JSON (without plots and timings) from the replicates of `run_replicate`."""
    variants = list(replicates[0]["curves"])
    strategies = {variant: list(replicates[0]["curves"][variant]) for variant in variants}
    teacher = {m: spread([r["teacher"][m] for r in replicates]) for m in ("miou", "fscore")}

    def final(variant: str, metric: str) -> dict[str, Any]:
        return spread([r["curves"][variant][RANDOM][-1][metric] for r in replicates])

    supervised = {m: final("supervised", m) for m in ("miou", "fscore")}
    self_trained = {m: final("self_training", m) for m in ("miou", "fscore")}
    last = replicates[0]["curves"]["self_training"][RANDOM][-1]
    self_training = {
        "teacher": teacher["miou"]["mean"],
        "supervised": supervised["miou"]["mean"],
        "self_trained": self_trained["miou"]["mean"],
        "labelled_clips": int(last["labelled"]),
        "pseudo_clips": int(last["pseudo_clips"]),
        "self_trained_two_stage": None,
        "metrics": {"teacher": teacher, "supervised": supervised, "self_trained": self_trained},
        "note": "held-out scores (mean over seeds); supervised / self_trained: the student on the random strategy's "
        "final labelled clips, without / with the teacher's pseudo-labels of the pool's other clips; "
        "self_trained_two_stage: a second stage on the same clips, its pseudo-labels the mean of the teacher's and "
        "the first student's probability maps",
    }
    if all(r.get("two_stage") for r in replicates):
        two_stage = {m: spread([r["two_stage"][m] for r in replicates]) for m in ("miou", "fscore")}
        self_training["self_trained_two_stage"] = two_stage["miou"]["mean"]
        self_training["metrics"]["self_trained_two_stage"] = two_stage
    curves = {
        variant: {
            strategy: curve_summary([r["curves"][variant][strategy] for r in replicates])
            for strategy in strategies[variant]
        }
        for variant in variants
    }
    ratios = {
        variant: label_ratio(
            [
                {s: [(p["labelled"], p["miou"]) for p in r["curves"][variant][s]] for s in strategies[variant]}
                for r in replicates
            ]
        )
        for variant in variants
    }
    st, sup, tea = self_training["self_trained"], self_training["supervised"], self_training["teacher"]
    ratio = ratios["supervised"]["value"]
    targets = {
        "self_trained > supervised > teacher": bool(st > sup > tea),
        "label_ratio <= 0.7": bool(ratio is not None and ratio <= 0.7),
    }
    return {
        "format": 1,
        "config": dict(config_dict),
        "seeds": [int(r["seed"]) for r in replicates],
        "teacher": "synchrony-baseline",
        "self_training": self_training,
        "label_ratio": {
            "strategy": ratios["supervised"]["strategy"],
            "value": ratios["supervised"]["value"],
            **{k: v for k, v in ratios["supervised"].items() if k not in ("strategy", "value")},
        },
        "label_ratio_self_training": ratios.get("self_training"),
        "active_learning": {"labelled": curves["supervised"][RANDOM]["labelled"], "curves": curves},
        "targets": targets,
        "replicates": [dict(r) for r in replicates],
    }
