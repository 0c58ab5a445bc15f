"""The one entry point the server calls: plain data in, plain data out.

    propose_clip(*, video_path, fps=1.0, sample_rate=16000, config_path=None, labels=(), max_side=None) -> dict
    model_info(config_path=None) -> dict

Errors a person can act on: `MediaError` (unreadable video; `ClipInputError`: no audio track or silent audio)
and `ConfigError` (invalid configuration file). Models that fail to load do not raise: the synchrony baseline
runs and the result's `model.reason` says why.

Importing this package imports no torch (the web process imports `ml_backend.serving.media`): the names below
are loaded on first use. `model_info` never imports torch (`ml_backend.serving.info`): the web process may call it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "propose_clip": "ml_backend.serving.proposals",
    "model_info": "ml_backend.serving.info",
    "load_proposer": "ml_backend.serving.proposals",
    "LoadedProposer": "ml_backend.serving.proposals",
    "mask_to_rle": "ml_backend.serving.encoding",
    "rle_to_mask": "ml_backend.serving.encoding",
    "probability_maps": "ml_backend.serving.encoding",
    "ConfigError": "ml_backend.foundation.config",
    "ClipInputError": "ml_backend.media.clip",
    "MediaError": "ml_backend.media.video",
}
__all__ = [
    "ClipInputError",
    "ConfigError",
    "LoadedProposer",
    "MediaError",
    "load_proposer",
    "mask_to_rle",
    "model_info",
    "probability_maps",
    "propose_clip",
    "rle_to_mask",
]
assert sorted(__all__) == sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from ml_backend.foundation.config import ConfigError
    from ml_backend.media.clip import ClipInputError
    from ml_backend.media.video import MediaError
    from ml_backend.serving.encoding import mask_to_rle, probability_maps, rle_to_mask
    from ml_backend.serving.info import model_info
    from ml_backend.serving.proposals import LoadedProposer, load_proposer, propose_clip


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
