"""Settings of a simulation run and the named presets (`tiny` for tests, `quick`, `full`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ml_backend.acquisition.registry import RANDOM, STRATEGY_NAMES

DEFAULT_STRATEGIES: tuple[str, ...] = ("random", "entropy", "disagreement", "combined")
STUDENTS: tuple[str, ...] = ("compact",)  # the AV2T-SAM student needs SAM/CLIP/CLAP weights: not simulated here


@dataclass(frozen=True)
class SimulationConfig:
    """What one simulation run does (see `ml_backend.simulation` for the protocol).

    Data: per replicate, `pool_clips` synthetic S4 clips (the unlabelled pool the annotator labels from) and
    `heldout_clips` more (never trained on), `frames` frames of `size` × `size` pixels each.
    Active learning: `seed_clips` random clips labelled first, then `rounds` rounds of `batch_clips` clips chosen by
    each strategy; the curve has rounds + 1 points. Self-training: the same fits plus the teacher's pseudo-labels of
    (at most `pseudo_clips` of, None: all) the pool's unlabelled clips.
    Replicates: `seeds` runs with seeds `seed`, `seed` + 1, ... (each its own data, seed set, student init, noise).
    Student: the compact student's tiny configuration (`ml_backend.students.compact.tiny_config`) with
    `student_settings` over it, validated by `student_config_from_dict`.
    """

    preset: str = "quick"
    seed: int = 0
    seeds: int = 2
    size: int = 64
    frames: int = 5
    pool_clips: int = 40
    heldout_clips: int = 20
    seed_clips: int = 4
    batch_clips: int = 4
    rounds: int = 3
    pseudo_clips: int | None = None
    two_stage: bool = True  # also a second self-training stage on the random strategy's final labelled clips
    strategies: tuple[str, ...] = DEFAULT_STRATEGIES
    self_training_strategies: tuple[str, ...] | None = None  # curves with pseudo-labels: these (None: all)
    student: str = "compact"
    student_settings: dict[str, Any] = field(default_factory=dict)
    noise: float = 0.0

    @property
    def labelled_counts(self) -> list[int]:
        """Labelled clips at each point of a learning curve."""
        return [self.seed_clips + r * self.batch_clips for r in range(self.rounds + 1)]

    @property
    def self_training_curve_strategies(self) -> tuple[str, ...]:
        """The strategies whose curves are also run with the teacher's pseudo-labels (in `strategies` order)."""
        chosen = self.strategies if self.self_training_strategies is None else self.self_training_strategies
        return tuple(s for s in self.strategies if s in chosen)

    @property
    def replicate_seeds(self) -> list[int]:
        return [self.seed + i for i in range(self.seeds)]

    def problems(self) -> list[str]:
        """What is wrong with the settings (empty when they work together)."""
        found = []
        for name in ("seeds", "pool_clips", "heldout_clips", "seed_clips", "batch_clips", "frames"):
            if getattr(self, name) < 1:
                found.append(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.rounds < 0:
            found.append(f"rounds must be at least 0, got {self.rounds}")
        if self.seed < 0:
            found.append(f"seed must be at least 0, got {self.seed}")
        if self.size < 64 or self.size % 2:
            found.append(f"size must be an even number of pixels >= 64, got {self.size}")
        if self.seed_clips + self.rounds * self.batch_clips > self.pool_clips:
            found.append(
                f"the pool ({self.pool_clips} clips) is smaller than the clips the curves label "
                f"({self.seed_clips} + {self.rounds} × {self.batch_clips})"
            )
        if not 0.0 <= self.noise <= 1.0:
            found.append(f"noise must be a fraction between 0 and 1, got {self.noise}")
        unknown = [s for s in self.strategies if s not in STRATEGY_NAMES]
        if unknown:
            found.append(f"unknown strategy {unknown[0]!r} (known: {', '.join(STRATEGY_NAMES)})")
        if len(set(self.strategies)) != len(self.strategies):
            found.append("strategies must not repeat")
        if RANDOM not in self.strategies:
            found.append("strategies must include 'random' (the baseline of the label ratio)")
        if self.student not in STUDENTS:
            found.append(
                f"student must be one of {', '.join(STUDENTS)}, got {self.student!r} (the av2t_sam student needs "
                "SAM, CLIP and CLAP weights, which the simulation does not load)"
            )
        if self.self_training_strategies is not None:
            extra = [s for s in self.self_training_strategies if s not in self.strategies]
            if extra:
                found.append(f"self_training_strategies: {extra[0]!r} is not among the strategies")
            if RANDOM not in self.self_training_strategies:
                found.append("self_training_strategies must include 'random' (the self-training comparison)")
        if self.pseudo_clips is not None and self.pseudo_clips < 0:
            found.append(f"pseudo_clips must be at least 0, got {self.pseudo_clips}")
        return found

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["strategies"] = list(self.strategies)
        data["self_training_strategies"] = list(self.self_training_curve_strategies)
        return data


# Student settings of the presets: the compact student at the frames' resolution, three stages (a coarsest grid of
# 8 × 8 cells keeps the small shapes), FiLM at all three. On the synthetic clips this learns about as well as the
# default four-stage network at a third of its cost.
_STUDENT = {
    "input_size": 64,
    "width": 16,
    "depth": 3,
    "film_scales": 3,
    "learning_rate": 1e-2,
    "batch_size": 8,
    "device": "auto",
}

PRESETS: dict[str, SimulationConfig] = {
    # seconds: a smoke test of the whole protocol (tests); its figures mean nothing
    "tiny": SimulationConfig(
        preset="tiny",
        seeds=2,
        pool_clips=8,
        heldout_clips=4,
        seed_clips=2,
        batch_clips=2,
        rounds=2,
        student_settings={**_STUDENT, "input_size": 32, "width": 4, "epochs": 2},
    ),
    # a few minutes on a 2-core CPU: every strategy without pseudo-labels, random with them
    "quick": SimulationConfig(
        preset="quick",
        seeds=2,
        pool_clips=32,
        heldout_clips=20,
        seed_clips=4,
        batch_clips=4,
        rounds=3,
        self_training_strategies=("random",),
        two_stage=False,
        student_settings={**_STUDENT, "epochs": 15},
    ),
    # the figures the project reports (docs/simulation/): about 45 minutes per seed on one busy CPU core; seeds
    # run in parallel when the run is split with --seed S --seeds 1 into one folder, then combined by a last run
    # over the same folder. The labelled set grows to 50 clips, where the supervised student nears the teacher
    "full": SimulationConfig(
        preset="full",
        seeds=3,
        pool_clips=100,
        heldout_clips=40,
        seed_clips=20,
        batch_clips=10,
        rounds=3,
        pseudo_clips=40,
        self_training_strategies=("random",),
        student_settings={**_STUDENT, "batch_size": 16, "epochs": 50},
    ),
}


def preset(name: str, **overrides: Any) -> SimulationConfig:
    """The named preset with `overrides` (fields of `SimulationConfig`; None values are ignored)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r} (known: {', '.join(PRESETS)})")
    changes = {k: v for k, v in overrides.items() if v is not None}
    return dataclasses.replace(PRESETS[name], **changes)
