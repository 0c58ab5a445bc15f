"""Interactive SAM: embed a frame once, then answer every click on it with the prompt encoder + mask decoder.

The server's SAM click endpoint is the one web request allowed to reach a model (ARCHITECTURE.md, "the
seam"). What makes it affordable is this module's process-level session:

    session = sam_session(config_path, cache_bytes=512 * 2**20)
    session.predict(key="frame:12:...", image=read_jpeg, points=[{"x": 10.5, "y": 20, "positive": True}], box=None)
    -> {"mask": {"size": [H, W], "counts": str}, "score": float, "cached": bool}

- The SAM comes from the configuration file's `models.sam` (the loaders and process-level model cache of
  `ml_backend.foundation.registry`), so the click endpoint and pre-annotation share one loaded model.
- Image embeddings (1×C×h×w; vit_b: 1×256×64×64 float32 = 4 MiB) are kept in an LRU cache bounded by
  MEMORY (`cache_bytes`), keyed by the caller's `key`, which must change whenever the image does (the
  server uses the frame id and the image file's identity). `cached` tells whether the image encoder was
  skipped.
- Thread-safe: concurrent clicks on one uncached frame embed it once (the others wait for that embedding);
  different frames embed concurrently.
- Nothing here imports torch at import time: the web process imports torch at the first click, not before.

Prompt conventions (segment-anything's `SamPredictor`): points and boxes are in pixels of the original
frame, x to the right and y down, XYXY boxes; a positive point marks the object, a negative one marks
background. With exactly one point and no box, SAM's three candidate masks are computed and the one with
the highest predicted IoU is returned (a single click is ambiguous); otherwise one mask. `score` is SAM's
predicted IoU of the returned mask.
"""

from __future__ import annotations

import io
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from ml_backend.foundation.policy import ModelPolicy
    from ml_backend.foundation.registry import ModelCache
    from ml_backend.foundation.sam import SamImageEmbedding, SamSegmenter

ImageSource = Callable[[], "bytes | np.ndarray"]

DEFAULT_CACHE_BYTES = 512 * 1024**2


class SamUnavailableError(RuntimeError):
    """No usable SAM: the configuration file is missing or invalid, or its `models.sam` fails to load.
    The message says what is wrong and names the file or the setting."""


class PromptError(ValueError):
    """The prompt cannot be used (no point and no box, a malformed point or box)."""


@dataclass(frozen=True)
class Point:
    """A click in pixels of the original frame: x to the right, y down; `positive` marks the object."""

    x: float
    y: float
    positive: bool = True


def embedding_nbytes(embedding: SamImageEmbedding) -> int:
    """Bytes held by an embedding's feature tensor (what the cache budget counts)."""
    features = embedding.features
    return int(features.element_size() * features.nelement())


@dataclass
class EmbeddingCache:
    """Least-recently-used image embeddings, bounded by the bytes of their feature tensors.

    `put` evicts the least recently used entries until the new one fits; an embedding larger than the
    whole budget is not stored. Not thread-safe by itself: `SamSession` holds its lock around every call.
    """

    max_bytes: int
    nbytes_of: Callable[[Any], int] = embedding_nbytes
    _entries: OrderedDict[str, tuple[Any, int]] = field(default_factory=OrderedDict)
    nbytes: int = 0
    evictions: int = 0

    def get(self, key: str) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: str, embedding: Any) -> bool:
        """Store `embedding` as the most recently used; returns False when it alone exceeds the budget."""
        size = self.nbytes_of(embedding)
        self.discard(key)
        if size > self.max_bytes:
            return False
        self._entries[key] = (embedding, size)
        self.nbytes += size
        self._shrink()
        return True

    def discard(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.nbytes -= entry[1]

    def resize(self, max_bytes: int) -> None:
        """Change the budget, evicting least recently used entries if it shrank."""
        self.max_bytes = max_bytes
        self._shrink()

    def clear(self) -> None:
        self._entries.clear()
        self.nbytes = 0

    def keys(self) -> list[str]:
        """Least recently used first."""
        return list(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def _shrink(self) -> None:
        while self.nbytes > self.max_bytes and self._entries:
            _, (_, size) = self._entries.popitem(last=False)
            self.nbytes -= size
            self.evictions += 1


@dataclass
class SessionStats:
    """Counters since the session started: image encoder runs, clicks answered, clicks answered from cache."""

    embeds: int = 0
    predictions: int = 0
    cache_hits: int = 0


class SamSession:
    """One SAM and its embedding cache. `segmenter`: a `ml_backend.foundation.sam.SamSegmenter`."""

    def __init__(self, segmenter: SamSegmenter, *, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        if cache_bytes < 0:
            raise ValueError(f"cache_bytes must be >= 0, got {cache_bytes}")
        self.segmenter = segmenter
        self.cache = EmbeddingCache(cache_bytes)
        self.stats = SessionStats()
        self._lock = threading.Lock()  # guards cache, stats and _inflight
        self._inflight: dict[str, threading.Lock] = {}  # key -> held while that key is being embedded

    def resize_cache(self, cache_bytes: int) -> None:
        if cache_bytes < 0:
            raise ValueError(f"cache_bytes must be >= 0, got {cache_bytes}")
        with self._lock:
            self.cache.resize(cache_bytes)

    def clear_cache(self) -> None:
        with self._lock:
            self.cache.clear()

    def embedding(self, key: str, image: ImageSource) -> tuple[SamImageEmbedding, bool]:
        """(embedding of the image behind `key`, whether it came from the cache).

        `image()` is called only on a cache miss: encoded image bytes (JPEG, PNG...) or an H×W×3 uint8
        RGB array. One thread embeds a given key at a time; others asking for it meanwhile wait and reuse it.
        """
        while True:
            with self._lock:
                cached = self.cache.get(key)
                if cached is not None:
                    self.stats.cache_hits += 1
                    return cached, True
                pending = self._inflight.get(key)
                if pending is None:
                    pending = self._inflight[key] = threading.Lock()
                    pending.acquire()
                    break
            with pending:  # another thread is embedding this key: wait for it, then look again
                pass
        try:
            embedding = self.segmenter.embed(decode_image(image()))
            with self._lock:
                self.stats.embeds += 1
                self.cache.put(key, embedding)
            return embedding, False
        finally:
            with self._lock:
                del self._inflight[key]
            pending.release()

    def predict(
        self,
        *,
        key: str,
        image: ImageSource,
        points: Iterable[Point | Mapping[str, Any] | Sequence[Any]] = (),
        box: Sequence[float] | None = None,
    ) -> dict[str, Any]:
        """The mask a click prompt selects: `{"mask": COCO RLE of the frame's (H, W), "score", "cached"}`.

        points: `Point`s, `{"x", "y", "positive"}` dicts or `(x, y, positive)` tuples; box: XYXY or None (pixels
        of the original frame). Raises `PromptError` without a point or a box, or for a malformed one.
        """
        clicks = [_point(p, index) for index, p in enumerate(points)]
        frame_box = _box(box)
        if not clicks and frame_box is None:
            raise PromptError("a prompt needs at least one point or a box")
        embedding, cached = self.embedding(key, image)
        mask, score = predict_prompt(self.segmenter, embedding, clicks, frame_box)
        with self._lock:
            self.stats.predictions += 1
        from ml_backend.serving.encoding import mask_to_rle

        return {"mask": mask_to_rle(mask), "score": score, "cached": cached}


def predict_prompt(
    segmenter: SamSegmenter, embedding: SamImageEmbedding, points: Sequence[Point], box: np.ndarray | None
) -> tuple[np.ndarray, float]:
    """(H×W bool mask, predicted IoU) for points and/or an XYXY box on an embedded frame (SamPredictor's flow).

    Only the chosen mask is upscaled to the frame (SAM's `postprocess_masks`: 256² logits → 1024² → crop →
    original size), so a click costs the prompt encoder, the mask decoder and one upscale.
    """
    import torch

    model, transform, placement = segmenter.model, segmenter.transform, segmenter.placement
    device = placement.torch_device
    with torch.inference_mode(), placement.autocast():
        point_input = None
        if points:
            coords = np.array([[p.x, p.y] for p in points], dtype=np.float32)
            coords = transform.apply_coords(coords, embedding.original_size)
            labels = np.array([1 if p.positive else 0 for p in points], dtype=np.int64)
            point_input = (
                torch.as_tensor(coords, dtype=torch.float32, device=device)[None],
                torch.as_tensor(labels, device=device)[None],
            )
        box_input = None
        if box is not None:
            box_input = torch.as_tensor(
                transform.apply_boxes(box[None], embedding.original_size), dtype=torch.float32, device=device
            )
        sparse, dense = model.prompt_encoder(points=point_input, boxes=box_input, masks=None)
        low_res, iou = model.mask_decoder(
            image_embeddings=embedding.features,
            image_pe=model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=len(points) == 1 and box is None,
        )
        best = int(iou[0].argmax())
        logits = model.postprocess_masks(
            low_res[:, best : best + 1].float(), embedding.input_size, embedding.original_size
        )[0, 0]
        mask = (logits > model.mask_threshold).cpu().numpy()
        score = float(iou[0, best].float())
    return mask, score


def decode_image(image: bytes | np.ndarray) -> np.ndarray:
    """Encoded image bytes or an array -> H×W×3 uint8 RGB."""
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an H×W×3 uint8 RGB array, got {image.dtype} {image.shape}")
        return image
    from PIL import Image

    with Image.open(io.BytesIO(image)) as picture:
        return np.asarray(picture.convert("RGB"))


def _point(value: Point | Mapping[str, Any] | Sequence[Any], index: int) -> Point:
    try:
        if isinstance(value, Point):
            point = value
        elif isinstance(value, Mapping):
            point = Point(float(value["x"]), float(value["y"]), bool(value.get("positive", True)))
        else:
            x, y, *rest = value
            point = Point(float(x), float(y), bool(rest[0]) if rest else True)
    except (KeyError, TypeError, ValueError) as exc:
        raise PromptError(f"points[{index}] must be {{x, y, positive}} in pixels, got {value!r}") from exc
    if not (np.isfinite(point.x) and np.isfinite(point.y)):
        raise PromptError(f"points[{index}] must have finite coordinates, got {value!r}")
    return point


def _box(value: Sequence[float] | None) -> np.ndarray | None:
    if value is None:
        return None
    box = np.asarray(value, dtype=np.float32)
    if box.shape != (4,) or not np.isfinite(box).all() or box[2] <= box[0] or box[3] <= box[1]:
        raise PromptError(f"box must be [x0, y0, x1, y1] in pixels with x0 < x1 and y0 < y1, got {value!r}")
    return box


# --- the process-level sessions ----------------------------------------------------------------------------

_sessions: dict[tuple[str, ModelPolicy], SamSession] = {}
_sessions_lock = threading.Lock()


def sam_session(
    config_path: str | os.PathLike[str],
    *,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    cache: ModelCache | None = None,
    policy: ModelPolicy | None = None,
) -> SamSession:
    """The process's SAM session for a configuration file, created (SAM loaded) on first use.

    The SAM is `models.sam` of the file, loaded through `cache` (default: the process-level model cache).
    Later calls with the same path (and policy) return the same session; `cache_bytes` resizes its embedding
    cache. Changes to the file are seen after `sam_sessions_clear()` (or a restart). Raises `SamUnavailableError`
    when the file is missing or invalid, names what `policy` (default: `current_policy()`) refuses, or the SAM
    fails to load (nothing is kept: the next call retries).
    """
    from ml_backend.foundation.policy import current_policy

    path = os.fspath(config_path)
    policy = current_policy() if policy is None else policy
    with _sessions_lock:
        session = _sessions.get((path, policy))
        if session is None:
            segmenter = _load_segmenter(path, cache=cache, policy=policy)
            session = _sessions[(path, policy)] = SamSession(segmenter, cache_bytes=cache_bytes)
    if session.cache.max_bytes != cache_bytes:
        session.resize_cache(cache_bytes)
    return session


def sam_sessions_clear() -> None:
    """Forget every session (their embeddings go; loaded models stay in the model cache)."""
    with _sessions_lock:
        _sessions.clear()


def _load_segmenter(path: str, *, cache: ModelCache | None, policy: ModelPolicy) -> SamSegmenter:
    from ml_backend.foundation.config import ConfigError, load_config
    from ml_backend.foundation.loading import ModelLoadError
    from ml_backend.foundation.registry import load_context, process_cache

    try:
        config = load_config(path, policy=policy)
        if config.models.sam is None:
            raise SamUnavailableError(
                f"{path}: models.sam is not configured: SAM clicks need a SAM checkpoint (models.segmenter, SAM 3, "
                "serves pre-annotation only); add models.sam to the configuration"
            )
        cache = cache or process_cache
        cache.apply(policy)
        return cache.get("sam", config.models.sam, load_context(config, policy))
    except ConfigError as exc:
        raise SamUnavailableError(str(exc)) from exc
    except ModelLoadError as exc:
        raise SamUnavailableError(f"{path}: SAM failed to load: {exc}") from exc
