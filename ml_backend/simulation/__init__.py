"""The learning loop measured on simulated annotation (`python -m ml_backend simulate`). Plain torch, no Django.

Seeded synthetic S4 clips (`ml_backend.media.synth`) form, per replicate, an unlabelled **pool** and a fixed
**held-out** set; the **teacher** is the weight-free synchrony baseline (`ml_backend.pipelines.synchrony`); a
**simulated annotator** labels pool clips with their ground truth, optionally with label noise
(`data.SimulatedAnnotator`); the **student** is the compact student (`ml_backend.students.compact`).

- Active learning (`experiment.run_replicate`): per strategy, a learning curve of held-out mIoU/F against the number
  of labelled clips: a random seed set, then rounds of a batch chosen by the strategy (through
  `ml_backend.serving.score_clip` / `select_batch`), the student retrained from scratch each round; once with human
  labels only ("supervised") and once adding the teacher's pseudo-labels of the pool's unlabelled clips
  ("self_training", OpenAVS-ST's round: the student's `pseudo_low`/`pseudo_high` band ignored by the loss).
- Self-training (`report.summarise`): held-out mIoU of the teacher, of the student on the random strategy's final
  labelled clips alone, and of the same student with the pseudo-labels.
- Label ratio (`report.label_ratio`): labels the best strategy needs to reach random's final mIoU ÷ random's labels.

`run_simulation(config, out)` writes `out/simulation.json` and the plots (`plots.write_plots`) and returns the JSON.
Each finished replicate is also kept as `out/replicates/seed-<seed>.json` with the settings it ran with; a later run
into the same folder with the same settings reads it instead of running it again (so an interrupted run resumes, and
seeds can run in separate processes: `--seed 1 --seeds 1`, then all seeds together to summarise). Delete the folder
to measure again after changing the code.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ml_backend.simulation.config import PRESETS, SimulationConfig, preset
from ml_backend.simulation.experiment import Log, run_replicate, student_config
from ml_backend.simulation.plots import write_plots
from ml_backend.simulation.report import label_ratio, labels_to_reach, summarise
from ml_backend.students.registry import student_config_to_dict

RESULT_FILE = "simulation.json"
REPLICATE_DIR = "replicates"  # one finished replicate per file: a run that stops resumes from them

__all__ = [
    "PRESETS",
    "RESULT_FILE",
    "SimulationConfig",
    "label_ratio",
    "labels_to_reach",
    "preset",
    "run_simulation",
]


def run_simulation(config: SimulationConfig, out: str | Path, *, log: Log = lambda _: None) -> dict[str, Any]:
    """Run every replicate of `config`, write `out/simulation.json` and the PNG plots, return the JSON document.
    Raises ValueError for settings that do not work together (`SimulationConfig.problems`)."""
    problems = config.problems()
    if problems:
        raise ValueError("; ".join(problems))
    student = student_config(config, seed=config.seed)  # validates the student settings before any work
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    replicates = []
    for seed in config.replicate_seeds:
        saved = read_replicate(out, config, seed)
        if saved is not None:
            log(f"seed {seed}: read from {replicate_path(out, seed)} (same settings)")
            replicates.append(saved)
            continue
        replicate = run_replicate(config, seed, log=log)
        write_json(replicate_path(out, seed), {"settings": _settings(config), "replicate": replicate})
        replicates.append(replicate)
    summary = summarise(config.as_dict(), replicates)
    summary["student"] = {"kind": config.student, "config": student_config_to_dict(student)}
    summary["plots"] = write_plots(out, summary)
    summary["seconds"] = round(time.monotonic() - started, 1)
    write_json(out / RESULT_FILE, summary)
    return summary


def write_json(path: Path, document: Any) -> None:
    """Write `document` to `path` atomically (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


def replicate_path(out: Path, seed: int) -> Path:
    return Path(out) / REPLICATE_DIR / f"seed-{seed}.json"


def _settings(config: SimulationConfig) -> dict[str, Any]:
    """What a replicate's result depends on besides its seed (the number of seeds and the preset's name aside)."""
    data = config.as_dict()
    for key in ("preset", "seed", "seeds"):
        data.pop(key)
    return json.loads(json.dumps(data))


def read_replicate(out: Path, config: SimulationConfig, seed: int) -> dict[str, Any] | None:
    """The replicate of `seed` saved in `out` by an earlier run with the same settings, else None."""
    path = replicate_path(out, seed)
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("settings") != _settings(config):
        return None
    replicate = saved.get("replicate")
    return replicate if isinstance(replicate, dict) and replicate.get("seed") == seed else None
