"""Acquisition strategies by name, their settings, and scoring a clip with one.

A strategy is a weighted set of terms (the scores of `scores.py`, each in [0, 1]) plus the settings of their
reductions and of batch selection. As a dict (a project's setting, `strategy_from_dict`):

    {"name": "combined",                     # one of STRATEGY_NAMES
     "weights": {"topk_entropy": 0.35, ...}, # "combined" only; the listed terms are the terms (others weigh 0)
     "top_fraction": 0.05,                   # "topk_mean" pixel reduction: the fraction of pixels kept
     "frame_reduction": "mean",              # frames (and audio windows) -> clip: "mean" | "max"
     "temporal_mode": "iou",                 # "iou" (masks) | "probability" (mean abs change of p)
     "seed": 0,                              # "random" only
     "diverse": true,                        # batches skip near-duplicate clips (by clip embedding)
     "min_distance": null,                   # near-duplicate threshold; null: relative_distance × median, ≥ 0.05
     "relative_distance": 0.25}

Every setting but "name" may be left out (its default below).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from ml_backend.acquisition import scores
from ml_backend.acquisition.scores import MissingEvidenceError
from ml_backend.acquisition.select import DEFAULT_RELATIVE_DISTANCE
from ml_backend.acquisition.types import ClipEvidence, ClipScore, TermScore
from ml_backend.foundation.config import ConfigError

TERM_NAMES: tuple[str, ...] = ("entropy", "topk_entropy", "disagreement", "temporal", "audio_entropy")
RANDOM = "random"
COMBINED = "combined"
STRATEGY_NAMES: tuple[str, ...] = (RANDOM, *TERM_NAMES, COMBINED)
# Defaults of "combined": the most uncertain region weighs most; the mean entropy, diluted by certain background,
# and the audio tags (which only hint at the masks' quality) weigh least. Terms without evidence drop out.
DEFAULT_COMBINED_WEIGHTS: Mapping[str, float] = {
    "entropy": 0.15,
    "topk_entropy": 0.35,
    "disagreement": 0.25,
    "temporal": 0.15,
    "audio_entropy": 0.10,
}


@dataclass(frozen=True)
class Strategy:
    """An acquisition strategy: the terms it scores a clip with and how (see the module docstring)."""

    name: str  # one of STRATEGY_NAMES
    weights: Mapping[str, float] = field(default_factory=dict)  # term -> weight ≥ 0 ("random": {"random": 1})
    top_fraction: float = scores.DEFAULT_TOP_FRACTION  # "topk_entropy": fraction of each frame's pixels kept
    frame_reduction: str = "mean"  # frames / audio windows -> clip: "mean" | "max"
    temporal_mode: str = "iou"  # "iou": 1 − IoU of consecutive masks; "probability": mean |Δp|
    seed: int = 0  # "random": the seed of the per-clip draw
    diverse: bool = True  # select_batch skips near-duplicates (clip embeddings) when True
    min_distance: float | None = None  # near-duplicate threshold (chord distance, 0..2); None: relative, ≥ 0.05
    relative_distance: float = DEFAULT_RELATIVE_DISTANCE  # threshold = this × median pairwise distance

    def to_dict(self) -> dict[str, Any]:
        """The strategy as JSON-safe data that `strategy_from_dict` reads back to an equal strategy."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["weights"] = dict(self.weights)
        return data


def _default(name: str) -> Strategy:
    if name == RANDOM:
        return Strategy(name=RANDOM, weights={RANDOM: 1.0})
    if name == COMBINED:
        return Strategy(name=COMBINED, weights=dict(DEFAULT_COMBINED_WEIGHTS))
    return Strategy(name=name, weights={name: 1.0})


STRATEGIES: Mapping[str, Strategy] = {name: _default(name) for name in STRATEGY_NAMES}


def get_strategy(name: str) -> Strategy:
    """The named strategy with its default settings. Raises ConfigError for an unknown name."""
    if name not in STRATEGIES:
        raise ConfigError(f"acquisition.name must be one of {', '.join(STRATEGY_NAMES)}, not {name!r}")
    return STRATEGIES[name]


def _number(value: Any, setting: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{setting} must be a number, not {value!r}")
    return float(value)


def _choice(value: Any, setting: str, known: tuple[str, ...]) -> str:
    if value not in known:
        raise ConfigError(f"{setting} must be one of {', '.join(known)}, not {value!r}")
    return str(value)


def strategy_from_dict(data: Mapping[str, Any] | str, *, prefix: str = "acquisition") -> Strategy:
    """A validated `Strategy` from its dict (module docstring) or its bare name. Raises ConfigError whose message
    names the setting, e.g. "acquisition.weights.temporal must be a number ≥ 0, not -1"."""
    if isinstance(data, str):
        data = {"name": data}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix} must be an object or a strategy name, not {type(data).__name__}")
    known = [f.name for f in fields(Strategy)]
    for key in data:
        if key not in known:
            raise ConfigError(f"{prefix}.{key} is not an acquisition setting (known: {', '.join(known)})")
    if "name" not in data:
        raise ConfigError(f"{prefix}.name is required (one of {', '.join(STRATEGY_NAMES)})")
    name = _choice(data["name"], f"{prefix}.name", STRATEGY_NAMES)
    strategy = get_strategy(name)
    changes: dict[str, Any] = {}
    if "weights" in data and name != COMBINED and data["weights"] == strategy.weights:
        data = {key: value for key, value in data.items() if key != "weights"}  # `to_dict` of a one-term strategy
    if "weights" in data:
        if name != COMBINED:
            raise ConfigError(f"{prefix}.weights applies to the combined strategy only, not to {name!r}")
        weights = data["weights"]
        if not isinstance(weights, Mapping) or not weights:
            raise ConfigError(f"{prefix}.weights must be a non-empty object of term -> weight")
        checked = {}
        for term, weight in weights.items():
            setting = f"{prefix}.weights.{term}"
            if term not in TERM_NAMES:
                raise ConfigError(f"{setting} is not a term (known: {', '.join(TERM_NAMES)})")
            value = _number(weight, setting)
            if value < 0:
                raise ConfigError(f"{setting} must be a number ≥ 0, not {weight!r}")
            checked[term] = value
        if not any(checked.values()):
            raise ConfigError(f"{prefix}.weights must give at least one term a positive weight")
        changes["weights"] = checked
    if "top_fraction" in data:
        value = _number(data["top_fraction"], f"{prefix}.top_fraction")
        if not 0.0 < value <= 1.0:
            raise ConfigError(f"{prefix}.top_fraction must be a number in (0, 1], not {data['top_fraction']!r}")
        changes["top_fraction"] = value
    if "frame_reduction" in data:
        changes["frame_reduction"] = _choice(
            data["frame_reduction"], f"{prefix}.frame_reduction", scores.FRAME_REDUCTIONS
        )
    if "temporal_mode" in data:
        changes["temporal_mode"] = _choice(data["temporal_mode"], f"{prefix}.temporal_mode", scores.TEMPORAL_MODES)
    if "seed" in data:
        seed = data["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"{prefix}.seed must be an integer, not {seed!r}")
        changes["seed"] = seed
    if "diverse" in data:
        if not isinstance(data["diverse"], bool):
            raise ConfigError(f"{prefix}.diverse must be true or false, not {data['diverse']!r}")
        changes["diverse"] = data["diverse"]
    if data.get("min_distance") is not None:
        value = _number(data["min_distance"], f"{prefix}.min_distance")
        if value < 0:
            raise ConfigError(f"{prefix}.min_distance must be null or a number ≥ 0, not {data['min_distance']!r}")
        changes["min_distance"] = value
    if "relative_distance" in data:
        value = _number(data["relative_distance"], f"{prefix}.relative_distance")
        if value < 0:
            raise ConfigError(f"{prefix}.relative_distance must be a number ≥ 0, not {data['relative_distance']!r}")
        changes["relative_distance"] = value
    return replace(strategy, **changes)


TERM_FUNCTIONS: Mapping[str, Callable[[ClipEvidence, Strategy], float]] = {
    "entropy": lambda e, s: scores.mean_entropy(e, frame_reduction=s.frame_reduction),
    "topk_entropy": lambda e, s: scores.topk_entropy(e, top_fraction=s.top_fraction, frame_reduction=s.frame_reduction),
    "disagreement": lambda e, s: scores.disagreement(e, frame_reduction=s.frame_reduction),
    "temporal": lambda e, s: scores.temporal_inconsistency(e, mode=s.temporal_mode, frame_reduction=s.frame_reduction),
    "audio_entropy": lambda e, s: scores.audio_tag_entropy(e, frame_reduction=s.frame_reduction),
}


def score_evidence(evidence: ClipEvidence, strategy: Strategy) -> ClipScore:
    """Score one clip with a strategy: each term with a positive weight, then `scores.combine`.

    Terms whose evidence the clip lacks are left out and listed in `missing` (the other weights renormalised).
    Raises MissingEvidenceError when no term has evidence (for a one-term strategy: that term's message).
    """
    if strategy.name == RANDOM:
        value = scores.random_score(evidence.key, seed=strategy.seed)
        term = TermScore(value=value, weight=1.0, contribution=value)
        return ClipScore(key=evidence.key, score=value, strategy=RANDOM, terms={RANDOM: term}, top_term=RANDOM)
    values: dict[str, float] = {}
    missing: dict[str, MissingEvidenceError] = {}
    for name in sorted(strategy.weights):
        if strategy.weights[name] <= 0:
            continue
        try:
            values[name] = TERM_FUNCTIONS[name](evidence, strategy)
        except MissingEvidenceError as error:
            missing[name] = error
    if not values:
        if len(missing) == 1:
            raise next(iter(missing.values()))
        raise MissingEvidenceError(
            f"clip {evidence.key!r}: strategy {strategy.name!r} has no evidence for any of its terms "
            f"({', '.join(sorted(missing))})"
        )
    score, terms, top = scores.combine(values, strategy.weights)
    return ClipScore(
        key=evidence.key, score=score, strategy=strategy.name, terms=terms, top_term=top, missing=tuple(missing)
    )
