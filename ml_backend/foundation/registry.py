"""Model registry and the process-level model cache.

`model_registry` maps a model kind to its loader, `loader(settings, context) -> component`:

    "clap"      -> audio_tagging.build_clap_tagger        (ClapTagger)
    "grounding" -> grounding.build_grounding_detector     (GroundingDinoDetector | Owlv2Detector)
    "sam"       -> sam.build_sam_segmenter                (SamSegmenter)
    "llm"       -> prompt_translation.build_chat_llm      (ChatLlm)
    "clip"      -> clip_labels.build_clip_labeller        (ClipLabeller)
    "segmenter" -> concepts.build_concept_segmenter       (Sam3ConceptSegmenter | Sam3VideoSegmenter: SAM 3)
    "tracker"   -> tracking.build_video_tracker           (VideoTracker: mask propagation in the annotator)

`ModelCache.get(kind, settings, context)` loads each (kind, settings, context) once and keeps it, logging one line
per load ("loaded the sam model in 1.20 s (pid ...)"); `process_cache` is the one instance a process shares
(nothing is loaded before the first `get`). Loaders are injectable, so tests
count calls or swap a model without touching globals.

The cache is bounded by memory: `max_bytes` (None: unbounded; the server sets AVS_MODEL_CACHE_BYTES through
`ModelPolicy.model_cache_bytes`) caps the bytes of the parameters and buffers of the cached models
(`component_nbytes`), least recently used first out, so configurations that differ in one setting cannot pile up
models until the process runs out of memory. The model just loaded always stays (it is about to be used), even
alone above the budget. An evicted model's memory is freed once nothing else holds it.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ml_backend.foundation.audio_tagging import build_clap_tagger
from ml_backend.foundation.clip_labels import build_clip_labeller
from ml_backend.foundation.concepts import build_concept_segmenter
from ml_backend.foundation.config import BackendConfig
from ml_backend.foundation.grounding import build_grounding_detector
from ml_backend.foundation.loading import LoadContext, select_placement
from ml_backend.foundation.policy import ModelPolicy
from ml_backend.foundation.prompt_translation import build_chat_llm
from ml_backend.foundation.sam import build_sam_segmenter
from ml_backend.foundation.tracking import build_video_tracker

Loader = Callable[[Any, LoadContext], Any]

logger = logging.getLogger(__name__)

model_registry: dict[str, Loader] = {
    "clap": build_clap_tagger,
    "grounding": build_grounding_detector,
    "sam": build_sam_segmenter,
    "llm": build_chat_llm,
    "clip": build_clip_labeller,
    "segmenter": build_concept_segmenter,
    "tracker": build_video_tracker,
}


def component_nbytes(component: Any) -> int:
    """Bytes of the parameters and buffers of the torch modules a component is or holds (its attributes), each
    tensor counted once."""
    if isinstance(component, torch.nn.Module):
        modules = [component]
    else:
        modules = [v for v in getattr(component, "__dict__", {}).values() if isinstance(v, torch.nn.Module)]
    seen: set[int] = set()
    total = 0
    for module in modules:
        for tensor in itertools.chain(module.parameters(), module.buffers()):
            if id(tensor) not in seen:
                seen.add(id(tensor))
                total += tensor.nelement() * tensor.element_size()
    return total


def load_context(config: BackendConfig, policy: ModelPolicy) -> LoadContext:
    """The `LoadContext` of `config`'s models under `policy`: its device, its network setting, the policy's builders."""
    return LoadContext(
        select_placement(config.device),
        allow_network=config.allow_network,
        allow_custom_builders=policy.allow_custom_builders,
    )


class ModelCache:
    """Loaded models keyed by (kind, settings, context), least recently used out beyond `max_bytes` (None:
    unbounded). Thread-safe; a failed load is not cached."""

    def __init__(
        self,
        loaders: Mapping[str, Loader] | None = None,
        *,
        max_bytes: int | None = None,
        nbytes_of: Callable[[Any], int] = component_nbytes,
    ) -> None:
        self.loaders: dict[str, Loader] = dict(model_registry if loaders is None else loaders)
        self.load_counts: Counter[str] = Counter()  # kind -> loader calls (successful or not)
        self.max_bytes = max_bytes
        self.nbytes_of = nbytes_of
        self.evictions = 0
        self._models: OrderedDict[tuple[str, Any, LoadContext], tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, kind: str, settings: Any, context: LoadContext) -> Any:
        """The component for `settings` (a frozen settings dataclass), loading it on first use."""
        key = (kind, settings, context)
        with self._lock:
            entry = self._models.get(key)
            if entry is not None:
                self._models.move_to_end(key)
                return entry[0]
            if kind not in self.loaders:
                raise KeyError(f"unknown model kind {kind!r}; known: {', '.join(self.loaders)}")
            self.load_counts[kind] += 1
            start = time.perf_counter()
            component = self.loaders[kind](settings, context)
            self._models[key] = (component, self.nbytes_of(component))
            self._shrink()
            logger.info(
                "loaded the %s model in %.2f s (pid %d, %d model(s) cached, %.1f MiB)",
                kind,
                time.perf_counter() - start,
                os.getpid(),
                len(self._models),
                self.nbytes / 2**20,
            )
            return component

    @property
    def nbytes(self) -> int:
        """Bytes of the cached models (as `nbytes_of` counts them)."""
        return sum(size for _, size in self._models.values())

    def resize(self, max_bytes: int | None) -> None:
        """Change the budget (None: unbounded), evicting least recently used models if it shrank."""
        with self._lock:
            self.max_bytes = max_bytes
            self._shrink()

    def apply(self, policy: ModelPolicy) -> None:
        """Take the policy's budget (`model_cache_bytes`), when it sets one."""
        if policy.model_cache_bytes is not None and policy.model_cache_bytes != self.max_bytes:
            self.resize(policy.model_cache_bytes)

    def _shrink(self) -> None:
        if self.max_bytes is None:
            return
        evicted = 0
        while len(self._models) > 1 and self.nbytes > self.max_bytes:
            (kind, _, _), (_, size) = self._models.popitem(last=False)
            evicted += 1
            logger.info(
                "evicted the %s model (%.1f MiB) from the model cache (pid %d)", kind, size / 2**20, os.getpid()
            )
        if evicted:
            self.evictions += evicted
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        if self.nbytes > self.max_bytes:
            logger.warning(
                "the %s model alone (%.1f MiB) exceeds the model cache budget (%.1f MiB, AVS_MODEL_CACHE_BYTES): "
                "every other model was evicted; raise the budget or models will be loaded again and again",
                next(iter(self._models))[0],
                self.nbytes / 2**20,
                self.max_bytes / 2**20,
            )

    def keys(self) -> list[tuple[str, Any, LoadContext]]:
        """Cache keys, least recently used first."""
        with self._lock:
            return list(self._models)

    def clear(self) -> None:
        with self._lock:
            self._models.clear()

    def __len__(self) -> int:
        return len(self._models)


process_cache = ModelCache()
