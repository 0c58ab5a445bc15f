"""Model registry and the process-level model cache.

`model_registry` maps a model kind to its loader, `loader(settings, context) -> component`:

    "clap"      -> audio_tagging.build_clap_tagger        (ClapTagger)
    "grounding" -> grounding.build_grounding_detector     (GroundingDinoDetector | Owlv2Detector)
    "sam"       -> sam.build_sam_segmenter                (SamSegmenter)
    "llm"       -> prompt_translation.build_chat_llm      (ChatLlm)
    "clip"      -> clip_labels.build_clip_labeller        (ClipLabeller)

`ModelCache.get(kind, settings, context)` loads each (kind, settings, context) once and keeps it, logging one line
per load ("loaded the sam model in 1.20 s (pid ...)"); `process_cache` is the one instance a process shares
(nothing is loaded before the first `get`). Loaders are injectable, so tests
count calls or swap a model without touching globals.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from ml_backend.foundation.audio_tagging import build_clap_tagger
from ml_backend.foundation.clip_labels import build_clip_labeller
from ml_backend.foundation.grounding import build_grounding_detector
from ml_backend.foundation.loading import LoadContext
from ml_backend.foundation.prompt_translation import build_chat_llm
from ml_backend.foundation.sam import build_sam_segmenter

Loader = Callable[[Any, LoadContext], Any]

logger = logging.getLogger(__name__)

model_registry: dict[str, Loader] = {
    "clap": build_clap_tagger,
    "grounding": build_grounding_detector,
    "sam": build_sam_segmenter,
    "llm": build_chat_llm,
    "clip": build_clip_labeller,
}


class ModelCache:
    """Loaded models keyed by (kind, settings, context). Thread-safe; a failed load is not cached."""

    def __init__(self, loaders: Mapping[str, Loader] | None = None) -> None:
        self.loaders: dict[str, Loader] = dict(model_registry if loaders is None else loaders)
        self.load_counts: Counter[str] = Counter()  # kind -> loader calls (successful or not)
        self._models: dict[tuple[str, Any, LoadContext], Any] = {}
        self._lock = threading.Lock()

    def get(self, kind: str, settings: Any, context: LoadContext) -> Any:
        """The component for `settings` (a frozen settings dataclass), loading it on first use."""
        key = (kind, settings, context)
        with self._lock:
            if key not in self._models:
                if kind not in self.loaders:
                    raise KeyError(f"unknown model kind {kind!r}; known: {', '.join(self.loaders)}")
                self.load_counts[kind] += 1
                start = time.perf_counter()
                self._models[key] = self.loaders[kind](settings, context)
                logger.info(
                    "loaded the %s model in %.2f s (pid %d, %d model(s) cached)",
                    kind,
                    time.perf_counter() - start,
                    os.getpid(),
                    len(self._models),
                )
            return self._models[key]

    def clear(self) -> None:
        with self._lock:
            self._models.clear()

    def __len__(self) -> int:
        return len(self._models)


process_cache = ModelCache()
