"""The one entry point the server calls: plain data in, plain data out.

    propose_stored_clip(*, frames=[StoredFrame(index, timestamp, open)], audio=open | None, fps, name="",
                        config_path=None, labels=(), chunk_frames=16, max_frames=None) -> dict
    propose_clip(*, video_path, fps=1.0, sample_rate=16000, config_path=None, labels=(), max_side=None,
                 chunk_frames=16, max_frames=None) -> dict
    model_info(config_path=None) -> dict; tracker_info(config_path) -> dict (torch-free: is mask propagation there?)
    propagate_stored_clip(config_path=, frames=, audio=, fps=, source_frame_index=, instances=, direction=,
                          end_frame_index=, labels=, max_frames=, progress=) -> iterator of per-frame results
        (`ml_backend.serving.propagation`: the annotator's mask propagation, audio-aware)
    check_config(data) -> dict
    decode_png(data) -> h×w uint8; read_evidence(data) -> EvidenceArrays
        (`ml_backend.serving.records`: what a proposal keeps besides masks; no torch)
    train_student(frames=[TrainingFrame], student_config, progress=, checkpoint_dir=, output_dir=) -> dict;
    check_student_settings(kind, settings, *, prefix="student_config") -> dict (full settings; `ConfigError`
        naming a bad one; no torch);
    propose_stored_clip_student(student_path=, frames=, audio=, fps=, ...) -> dict
        (`ml_backend.serving.training`: self-training rounds and students as proposers)
    score_clip(evidence, strategy="combined") -> dict; select_batch(scores, k, *, embeddings=None, ...) -> dict
        (`ml_backend.serving.acquisition`: active-learning scores and batches; no torch)

What a configuration may name (files outside a model folder, code, the network) is the caller's policy:
`set_policy_provider(lambda: ModelPolicy(...))` once per process (the server does it from its settings); every
entry point applies it, and refuses with `ConfigPolicyError` (a `ConfigError`).

Both propose functions read the clip a bounded chunk of frames at a time (`ml_backend.media.source`). Given
`write_file(name, data) -> path` (and `probability_map_max_side`, `evidence_max_bytes`), they hand it each frame's
8-bit probability map (PNG) as the frame comes out and the clip's evidence (`.npz`: audio tags, audio and visual
embeddings) at the end; formats in `ml_backend.serving.records`.
Errors a person can act on: `MediaError` (unreadable video, frame or audio track; `ClipInputError`: no audio
track or silent audio; `ClipTooLongError`: more frames than `max_frames`) and `ConfigError` (invalid
configuration file). Models that fail to load do not raise: the synchrony baseline
runs and the result's `model.reason` says why.

Importing this package imports no torch (the web process imports `ml_backend.serving.media`): the names below
are loaded on first use. `model_info` never imports torch (`ml_backend.serving.info`): the web process may call it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "propose_clip": "ml_backend.serving.proposals",
    "propose_stored_clip": "ml_backend.serving.proposals",
    "DEFAULT_CHUNK_FRAMES": "ml_backend.serving.proposals",
    "StoredFrame": "ml_backend.media.source",
    "ClipTooLongError": "ml_backend.media.clip",
    "model_info": "ml_backend.serving.info",
    "tracker_info": "ml_backend.serving.info",
    "propagate_stored_clip": "ml_backend.serving.propagation",
    "propagation_order": "ml_backend.serving.propagation",
    "prompts_check": "ml_backend.serving.propagation",
    "PropagationInputError": "ml_backend.serving.propagation",
    "TrackerUnavailableError": "ml_backend.serving.propagation",
    "ModelLoadError": "ml_backend.foundation.loading",
    "load_proposer": "ml_backend.serving.proposals",
    "LoadedProposer": "ml_backend.serving.proposals",
    "mask_to_rle": "ml_backend.serving.encoding",
    "rle_to_mask": "ml_backend.serving.encoding",
    "probability_maps": "ml_backend.serving.encoding",
    "ConfigError": "ml_backend.foundation.config",
    "ConfigPolicyError": "ml_backend.foundation.policy",
    "ModelPolicy": "ml_backend.foundation.policy",
    "set_policy_provider": "ml_backend.foundation.policy",
    "check_config": "ml_backend.serving.info",
    "ClipInputError": "ml_backend.media.clip",
    "MediaError": "ml_backend.media.video",
    "TrainingFrame": "ml_backend.serving.training",
    "train_student": "ml_backend.serving.training",
    "student_config_check": "ml_backend.serving.training",
    "check_student_settings": "ml_backend.serving.training",
    "load_student_proposer": "ml_backend.serving.training",
    "propose_stored_clip_student": "ml_backend.serving.training",
    "score_clip": "ml_backend.serving.acquisition",
    "select_batch": "ml_backend.serving.acquisition",
    "acquisition_strategies": "ml_backend.serving.acquisition",
    "check_strategy": "ml_backend.serving.acquisition",
    "ClipEvidence": "ml_backend.acquisition.types",
    "MissingEvidenceError": "ml_backend.acquisition.scores",
    "PROBABILITY_MAP_MAX_SIDE": "ml_backend.serving.records",
    "EVIDENCE_MAX_BYTES": "ml_backend.serving.records",
    "EvidenceArrays": "ml_backend.serving.records",
    "decode_png": "ml_backend.serving.records",
    "read_evidence": "ml_backend.serving.records",
    "frame_confidence_map": "ml_backend.serving.records",
    "instance_confidence": "ml_backend.serving.records",
}
__all__ = [
    "EVIDENCE_MAX_BYTES",
    "PROBABILITY_MAP_MAX_SIDE",
    "EvidenceArrays",
    "decode_png",
    "frame_confidence_map",
    "instance_confidence",
    "read_evidence",
    "TrainingFrame",
    "train_student",
    "student_config_check",
    "check_student_settings",
    "load_student_proposer",
    "propose_stored_clip_student",
    "ClipEvidence",
    "MissingEvidenceError",
    "acquisition_strategies",
    "check_strategy",
    "score_clip",
    "select_batch",
    "DEFAULT_CHUNK_FRAMES",
    "ClipInputError",
    "ClipTooLongError",
    "ConfigError",
    "ConfigPolicyError",
    "LoadedProposer",
    "MediaError",
    "ModelPolicy",
    "check_config",
    "load_proposer",
    "mask_to_rle",
    "model_info",
    "probability_maps",
    "propose_clip",
    "propose_stored_clip",
    "rle_to_mask",
    "set_policy_provider",
    "StoredFrame",
    "tracker_info",
    "propagate_stored_clip",
    "propagation_order",
    "prompts_check",
    "PropagationInputError",
    "TrackerUnavailableError",
    "ModelLoadError",
]
assert sorted(__all__) == sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from ml_backend.acquisition.scores import MissingEvidenceError
    from ml_backend.acquisition.types import ClipEvidence
    from ml_backend.foundation.config import ConfigError
    from ml_backend.foundation.loading import ModelLoadError
    from ml_backend.foundation.policy import ConfigPolicyError, ModelPolicy, set_policy_provider
    from ml_backend.media.clip import ClipInputError, ClipTooLongError
    from ml_backend.media.source import StoredFrame
    from ml_backend.media.video import MediaError
    from ml_backend.serving.acquisition import acquisition_strategies, check_strategy, score_clip, select_batch
    from ml_backend.serving.encoding import mask_to_rle, probability_maps, rle_to_mask
    from ml_backend.serving.info import check_config, model_info, tracker_info
    from ml_backend.serving.propagation import (
        PropagationInputError,
        TrackerUnavailableError,
        prompts_check,
        propagate_stored_clip,
        propagation_order,
    )
    from ml_backend.serving.proposals import (
        DEFAULT_CHUNK_FRAMES,
        LoadedProposer,
        load_proposer,
        propose_clip,
        propose_stored_clip,
    )
    from ml_backend.serving.records import (
        EVIDENCE_MAX_BYTES,
        PROBABILITY_MAP_MAX_SIDE,
        EvidenceArrays,
        decode_png,
        frame_confidence_map,
        instance_confidence,
        read_evidence,
    )
    from ml_backend.serving.training import (
        TrainingFrame,
        check_student_settings,
        load_student_proposer,
        propose_stored_clip_student,
        student_config_check,
        train_student,
    )


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
