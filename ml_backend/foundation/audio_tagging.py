"""Audio -> text: CLAP zero-shot tags of each frame's audio window over an open vocabulary.

`ClapTagger` embeds a clip's windows in batches of at most `audio_batch_size` (ONE audio pass for a clip of up to
that many windows; memory bounded however long the clip) and compares them with text embeddings of the
vocabulary, which it computes once per label and keeps (a process-level cache when the tagger itself lives in
the model cache). Probabilities are a softmax over the vocabulary of CLAP's scaled cosine similarities.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, islice
from typing import Any

import numpy as np
import torch

from ml_backend.foundation.config import ClapSettings
from ml_backend.foundation.loading import (
    FollowsModel,
    LoadContext,
    Placement,
    load_pretrained,
    model_name,
)
from ml_backend.types import AudioTag, AudioTags

SETTING = "models.clap.path"


class ClapTagger(FollowsModel):
    """CLAP zero-shot audio tagger.

    model: a transformers `ClapModel` (eval mode); processor: its `ClapProcessor`
    (feature extractor at `processor.feature_extractor.sampling_rate`, usually 48 kHz). Inputs go to `placement`,
    by default where the model is.
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        placement: Placement | None = None,
        name: str = "clap",
        text_template: str = "This is a sound of {}.",
        text_batch_size: int = 64,
        audio_batch_size: int = 32,
    ) -> None:
        self.model = model
        self.processor = processor
        self.placement = placement  # None: follow the model
        self.name = name
        self.text_template = text_template
        self.text_batch_size = text_batch_size
        self.audio_batch_size = audio_batch_size  # windows per audio forward: a fixed size, so tags do not
        # depend on how a caller splits the clip (a window's embedding varies by ~1e-7 with its batch's size)
        self._text_embeddings: dict[str, torch.Tensor] = {}  # label -> (D,) unit vector on the model's device

    @property
    def sampling_rate(self) -> int:
        return int(self.processor.feature_extractor.sampling_rate)

    @torch.inference_mode()
    def embed_texts(self, labels: Sequence[str]) -> torch.Tensor:
        """L×D unit text embeddings of `labels`; labels seen before are not recomputed."""
        missing = [label for label in dict.fromkeys(labels) if label not in self._text_embeddings]
        for start in range(0, len(missing), self.text_batch_size):
            batch = missing[start : start + self.text_batch_size]
            prompts = [self.text_template.format(label) for label in batch]
            inputs = self.processor.tokenizer(prompts, padding=True, truncation=True, return_tensors="pt")
            inputs = inputs.to(self.placement.device)
            with self.placement.autocast():
                features = self.model.get_text_features(**inputs).pooler_output
            features = torch.nn.functional.normalize(features.float(), dim=-1)
            self._text_embeddings.update(zip(batch, features, strict=True))
        return torch.stack([self._text_embeddings[label] for label in labels])

    @torch.inference_mode()
    def embed_audio(self, windows: Sequence[np.ndarray], *, sample_rate: int) -> torch.Tensor:
        """T×D unit audio embeddings of T mono float32 windows at `sample_rate` Hz, in one batched pass."""
        resampled = [_resample(np.asarray(w, dtype=np.float32), sample_rate, self.sampling_rate) for w in windows]
        inputs = self.processor.feature_extractor(resampled, sampling_rate=self.sampling_rate, return_tensors="pt")
        inputs = {k: v.to(self.placement.device) for k, v in inputs.items()}
        inputs["input_features"] = inputs["input_features"].to(self.placement.torch_dtype)
        with self.placement.autocast():
            features = self.model.get_audio_features(**inputs).pooler_output
        return torch.nn.functional.normalize(features.float(), dim=-1)

    @torch.inference_mode()
    def tag(
        self, windows: Iterable[np.ndarray], *, sample_rate: int, vocabulary: Sequence[str], top_k: int = 5
    ) -> list[AudioTags]:
        """Top-k tags (best first, probabilities over `vocabulary`) for each of the T windows (frame order).

        `windows` may be any iterable (e.g. a generator reading a long track): it is consumed `audio_batch_size`
        windows at a time, so only one batch of windows and features is held at once."""
        return self.tag_and_embed(windows, sample_rate=sample_rate, vocabulary=vocabulary, top_k=top_k)[0]

    @torch.inference_mode()
    def tag_and_embed(
        self, windows: Iterable[np.ndarray], *, sample_rate: int, vocabulary: Sequence[str], top_k: int = 5
    ) -> tuple[list[AudioTags], np.ndarray]:
        """`tag`, and the T×D float32 unit audio embeddings the tags come from (one row per window, frame order;
        0×0 for no window): what a student or an acquisition function can reuse without running CLAP again."""
        if not vocabulary:
            raise ValueError("the audio vocabulary is empty")
        batches = _batches(windows, self.audio_batch_size)
        first = next(batches, None)
        if first is None:
            return [], np.zeros((0, 0), dtype=np.float32)
        texts = self.embed_texts(vocabulary)  # L×D
        scale = self.model.logit_scale_a.detach().float().exp()
        k = min(top_k, len(vocabulary))
        out: list[AudioTags] = []
        embeddings: list[np.ndarray] = []
        for batch in chain([first], batches):
            audio = self.embed_audio(batch, sample_rate=sample_rate)  # B×D
            embeddings.append(audio.cpu().numpy().astype(np.float32))
            probs = (scale * audio @ texts.T).softmax(dim=-1).cpu()  # B×L
            values, indices = probs.topk(k, dim=-1)
            for t in range(len(batch)):
                tags = [
                    AudioTag(vocabulary[i], float(v))
                    for v, i in zip(values[t].tolist(), indices[t].tolist(), strict=True)
                ]
                out.append(AudioTags(frame_index=len(out), tags=tags))
        return out, np.concatenate(embeddings)


def _batches(items: Iterable[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    if size < 1:
        raise ValueError(f"audio_batch_size must be at least 1, got {size}")
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    """(N,) float32 at `rate` Hz -> float32 at `target` Hz (polyphase filter)."""
    if rate == target:
        return audio
    from scipy.signal import resample_poly

    g = math.gcd(rate, target)
    return resample_poly(audio, target // g, rate // g).astype(np.float32)


def build_clap_tagger(settings: ClapSettings, context: LoadContext) -> ClapTagger:
    """Load CLAP (`ClapModel` + `ClapProcessor`) from `settings.path`; raises `ModelLoadError`."""
    model, processor = load_pretrained(
        settings.path,
        setting=SETTING,
        context=context,
        model_class="ClapModel",
        processor_class="ClapProcessor",
        vocab_size=lambda config: config.text_config.vocab_size,
    )
    return ClapTagger(
        model,
        processor,
        placement=context.placement,
        name=model_name(settings.path),
        text_template=settings.text_template,
    )
