"""Audio -> text: CLAP zero-shot tags of each frame's audio window over an open vocabulary.

`ClapTagger` embeds all of a clip's windows in ONE audio pass and compares them with text embeddings of the
vocabulary, which it computes once per label and keeps (a process-level cache when the tagger itself lives in
the model cache). Probabilities are a softmax over the vocabulary of CLAP's scaled cosine similarities.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ml_backend.foundation.config import ClapSettings
from ml_backend.foundation.loading import (
    LoadContext,
    Placement,
    load_pretrained,
    model_name,
)
from ml_backend.types import AudioTag, AudioTags

SETTING = "models.clap.path"


class ClapTagger:
    """CLAP zero-shot audio tagger.

    model: a transformers `ClapModel` (eval mode, on `placement`); processor: its `ClapProcessor`
    (feature extractor at `processor.feature_extractor.sampling_rate`, usually 48 kHz).
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
    ) -> None:
        self.model = model
        self.processor = processor
        self.placement = placement or Placement()
        self.name = name
        self.text_template = text_template
        self.text_batch_size = text_batch_size
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
        self, windows: Sequence[np.ndarray], *, sample_rate: int, vocabulary: Sequence[str], top_k: int = 5
    ) -> list[AudioTags]:
        """Top-k tags (best first, probabilities over `vocabulary`) for each of the T windows (frame order)."""
        if not vocabulary:
            raise ValueError("the audio vocabulary is empty")
        if not windows:
            return []
        texts = self.embed_texts(vocabulary)  # L×D
        audio = self.embed_audio(windows, sample_rate=sample_rate)  # T×D
        scale = self.model.logit_scale_a.detach().float().exp()
        probs = (scale * audio @ texts.T).softmax(dim=-1).cpu()  # T×L
        k = min(top_k, len(vocabulary))
        values, indices = probs.topk(k, dim=-1)
        return [
            AudioTags(
                frame_index=t,
                tags=[
                    AudioTag(vocabulary[i], float(v))
                    for v, i in zip(values[t].tolist(), indices[t].tolist(), strict=True)
                ],
            )
            for t in range(len(windows))
        ]


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
