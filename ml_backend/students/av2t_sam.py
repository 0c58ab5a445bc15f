"""The AV2T-SAM student (REFERENCES.md §1): audio-visual prompts for SAM's mask decoder.

Feature (per frame): the L2-normalised CLAP audio embedding of the frame's audio window and the L2-normalised CLIP
image embedding of the frame, each linearly projected to `width`, multiplied element-wise (f_CLIP ⊙ f_CLAP). An MLP
maps that feature to `prompt_tokens` sparse prompt embeddings in SAM's prompt-embedding space (SAM's
`prompt_encoder.embed_dim`), which SAM's mask decoder takes in place of point/box prompts:

    mask_decoder(image_embeddings, image_pe=prompt_encoder.get_dense_pe(), sparse_prompt_embeddings=tokens,
                 dense_prompt_embeddings=no_mask_embed + adapter(feature), multimask_output=False)

SAM has no text encoder, so the feature goes straight to prompt tokens (the paper's "pseudo text tokens").
Trained: the two projections, the MLP, a light dense adapter (a linear map of the feature added to SAM's "no mask"
dense embedding, i.e. to every position of the image embedding as the decoder sees it; zero at initialisation) and
a copy of SAM's mask decoder. Frozen: CLAP, CLIP and SAM's image encoder and prompt encoder (the process's
foundation models are never modified: the student trains its own copy of the decoder). The paper's adapters
inside the image encoder's blocks are not implemented: they would make the encoder trainable and its embeddings
impossible to cache, the encoder being most of SAM's cost.

Training (`fit`, with the shared loop `ml_backend.students.training.train_loop`): frozen features are computed once
per item (SAM image embeddings cached in memory in `cache_dtype`), then the trained parts learn with BCE + soft IoU
(AdamW, cosine decay) at `input_size`² (targets resized; SAM's logits upscaled as SAM's `postprocess_masks` does).
Prediction: probabilities at the frame's resolution, one instance per frame where any pixel passes `threshold`.

Entry points: `build_av2t_sam(config, *, clap, clip, sam)` and `load_av2t_sam(path, *, clap, clip, sam, device)`,
where clap/clip/sam are the loaded foundation components (`ClapTagger`, `ClipLabeller`, `SamSegmenter`, from
`ml_backend.foundation.registry`); through the student registry, `build_student(config, models=FoundationModels(...))`
and `load_student(path, models=...)`. The student runs where SAM is (CUDA when SAM is on it) unless `device` says
otherwise. `save` writes the trained parts only, in the registry's folder layout: `weights.safetensors` +
`student.json` (kind, config, label; meta: the feature sizes the weights depend on, checked on load, the foundation
models' names, the training report); no pickle.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ml_backend.foundation.audio_tagging import ClapTagger
from ml_backend.foundation.clip_labels import ClipLabeller
from ml_backend.foundation.sam import SamSegmenter
from ml_backend.media.clip import ClipInputError
from ml_backend.media.source import ClipSource, chunks
from ml_backend.students.base import (
    SOURCE_HUMAN,
    FoundationModels,
    ProgressFn,
    Student,
    StudentConfig,
    TrainItem,
    TrainReport,
)
from ml_backend.students.configs import Av2tSamConfig  # the settings, defined without torch
from ml_backend.types import ClipMedia, ClipProposal, FrameInstances, Instance

KIND = "av2t_sam"
DEFAULT_LABEL = "sounding object"  # when no training target had a label


# --- frozen features ---------------------------------------------------------------------------------------


@dataclass
class FrameFeatures:
    """Frozen features of T frames (CPU tensors, no autograd history).

    audio: T×Da float32 unit CLAP embeddings; visual: T×Dv float32 unit CLIP image embeddings; image: T SAM image
    embeddings, each C×h×w; input_sizes: (H', W') of each frame as resized for SAM's encoder; sizes: (H, W) of each
    frame.
    """

    audio: torch.Tensor
    visual: torch.Tensor
    image: list[torch.Tensor]
    input_sizes: list[tuple[int, int]]
    sizes: list[tuple[int, int]]


class Av2tFeaturizer:
    """Computes the frozen CLAP, CLIP and SAM features of frames (never with autograd, never modifying the models)."""

    def __init__(self, clap: ClapTagger, clip: ClipLabeller, sam: SamSegmenter) -> None:
        self.clap = clap
        self.clip = clip
        self.sam = sam

    @property
    def audio_dim(self) -> int:
        return int(self.clap.model.config.projection_dim)

    @property
    def visual_dim(self) -> int:
        return int(self.clip.model.config.projection_dim)

    def features(
        self,
        frames: Sequence[np.ndarray],
        windows: Sequence[np.ndarray],
        *,
        sample_rate: int | Sequence[int],
        image_dtype: str = "float32",
    ) -> FrameFeatures:
        """Features of frames (H×W×3 uint8 each) and their audio windows (mono float32 at `sample_rate` Hz: one
        rate for all, or one per window). SAM image embeddings are returned in `image_dtype`."""
        assert len(frames) == len(windows)
        rates = [int(sample_rate)] * len(frames) if isinstance(sample_rate, int) else [int(r) for r in sample_rate]
        audio = torch.empty((len(frames), self.audio_dim), dtype=torch.float32)
        for rate in sorted(set(rates)):  # CLAP resamples a batch of windows from one rate
            positions = [i for i, r in enumerate(rates) if r == rate]
            embedded = self.clap.embed_audio([windows[i] for i in positions], sample_rate=rate)
            audio[positions] = embedded.float().cpu()
        frames = [_writable(frame) for frame in frames]
        visual = self._clip_images(frames).float().cpu().clone()  # clone: out of inference mode
        image, input_sizes = [], []
        dtype = getattr(torch, image_dtype)
        for frame in frames:
            embedding = self.sam.embed(frame)
            image.append(embedding.features[0].to("cpu", dtype).clone())
            input_sizes.append(embedding.input_size)
        return FrameFeatures(audio, visual, image, input_sizes, [tuple(f.shape[:2]) for f in frames])

    @torch.inference_mode()
    def _clip_images(self, frames: Sequence[np.ndarray]) -> torch.Tensor:
        """T×Dv unit CLIP image embeddings of whole frames."""
        placement = self.clip.placement
        pixels = self.clip.processor.image_processor(images=list(frames), return_tensors="pt")["pixel_values"]
        pixels = pixels.to(placement.torch_device, placement.torch_dtype)
        with placement.autocast():
            output = self.clip.model.get_image_features(pixel_values=pixels)
        output = output.pooler_output if hasattr(output, "pooler_output") else output
        return F.normalize(output.float(), dim=-1)


# --- the trained parts -------------------------------------------------------------------------------------


class Av2tSamHead(nn.Module):
    """Projections + MLP + dense adapter + a copy of SAM's mask decoder: features -> low-resolution mask logits.

    `forward(audio B×Da, visual B×Dv, image B×C×h×w)` -> B×1×4h×4w logits (SAM's low-resolution masks, which cover
    SAM's padded img_size² input). image_pe (1×C×h×w) and no_mask_embed (C,) are SAM's frozen prompt-encoder
    outputs, kept as non-persistent buffers (not saved: they come from the SAM the student is loaded with).
    """

    def __init__(
        self,
        *,
        audio_dim: int,
        visual_dim: int,
        config: Av2tSamConfig,
        mask_decoder: nn.Module,
        image_pe: torch.Tensor,
        no_mask_embed: torch.Tensor,
    ) -> None:
        super().__init__()
        embed_dim = int(no_mask_embed.numel())
        self.prompt_tokens = config.prompt_tokens
        self.embed_dim = embed_dim
        self.audio_proj = nn.Linear(audio_dim, config.width)
        self.visual_proj = nn.Linear(visual_dim, config.width)
        self.mlp = nn.Sequential(
            nn.Linear(config.width, config.mlp_hidden),
            nn.GELU(),
            nn.Linear(config.mlp_hidden, config.prompt_tokens * embed_dim),
        )
        self.dense = nn.Linear(config.width, embed_dim) if config.dense_adapter else None
        if self.dense is not None:  # starts as SAM's own "no mask" embedding
            nn.init.zeros_(self.dense.weight)
            nn.init.zeros_(self.dense.bias)
        self.mask_decoder = mask_decoder
        self.register_buffer("image_pe", image_pe.detach().clone().float(), persistent=False)
        self.register_buffer("no_mask_embed", no_mask_embed.detach().clone().float().reshape(-1), persistent=False)

    def fused(self, audio: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        """B×width: projected f_CLIP ⊙ projected f_CLAP (both inputs L2-normalised first)."""
        return self.visual_proj(F.normalize(visual, dim=-1)) * self.audio_proj(F.normalize(audio, dim=-1))

    def forward(self, audio: torch.Tensor, visual: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        feature = self.fused(audio, visual)
        sparse = self.mlp(feature).view(-1, self.prompt_tokens, self.embed_dim)
        dense = self.no_mask_embed.view(1, -1, 1, 1).expand(len(feature), -1, *image.shape[-2:])
        if self.dense is not None:
            dense = dense + self.dense(feature)[:, :, None, None]
        return decode_batch(self.mask_decoder, image, self.image_pe, sparse, dense)


def decode_batch(
    decoder: nn.Module, image: torch.Tensor, image_pe: torch.Tensor, sparse: torch.Tensor, dense: torch.Tensor
) -> torch.Tensor:
    """SAM's `mask_decoder(image_embeddings, image_pe, sparse, dense, multimask_output=False)` for a batch of B
    images each with its own prompts, in one pass: image B×C×h×w, image_pe 1×C×h×w, sparse B×N×C, dense B×C×h×w
    -> B×1×4h×4w low-resolution logits. (SAM's decoder takes ONE image embedding per call and repeats it for each
    prompt set; this is its `predict_masks` with the image embeddings already batched, using the decoder's own
    modules, so the result equals B separate calls.)"""
    tokens = torch.cat([decoder.iou_token.weight, decoder.mask_tokens.weight], dim=0)
    tokens = torch.cat([tokens.unsqueeze(0).expand(len(sparse), -1, -1), sparse], dim=1)
    src = image + dense
    pos = image_pe.expand(len(src), -1, -1, -1)
    b, c, h, w = src.shape
    hs, src = decoder.transformer(src, pos, tokens)
    mask_token = hs[:, 1, :]  # the first mask token: SAM's single-mask output (multimask_output=False)
    upscaled = decoder.output_upscaling(src.transpose(1, 2).reshape(b, c, h, w))
    hyper = decoder.output_hypernetworks_mlps[0](mask_token)  # B×C'
    b, c, h, w = upscaled.shape
    return (hyper[:, None, :] @ upscaled.reshape(b, c, h * w)).reshape(b, 1, h, w)


def upscale_logits(
    low_res: torch.Tensor, *, img_size: int, input_size: tuple[int, int], out_size: tuple[int, int]
) -> torch.Tensor:
    """1×1×h×w low-resolution logits -> 1×1×H×W at `out_size`, as SAM's `postprocess_masks` does: upscale to the
    encoder's img_size², crop the frame's resized area `input_size` (the rest is padding), resize to `out_size`."""
    logits = F.interpolate(low_res, (img_size, img_size), mode="bilinear", align_corners=False)
    logits = logits[..., : input_size[0], : input_size[1]]
    return F.interpolate(logits, out_size, mode="bilinear", align_corners=False)


class _FrameLogits(nn.Module):
    """The head as the training loop sees it: `(audio, visual, image, input_sizes)` -> B×1×size×size logits of the
    frames' own area (SAM's padding cropped away), aligned with the loop's targets (frames resized to size²)."""

    def __init__(self, head: Av2tSamHead, *, img_size: int, size: int) -> None:
        super().__init__()
        self.head = head
        self.img_size = img_size
        self.size = size

    def forward(self, inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[tuple[int, int]]]) -> torch.Tensor:
        audio, visual, image, input_sizes = inputs
        low_res = self.head(audio, visual, image)
        return torch.cat(
            [
                upscale_logits(
                    low_res[i : i + 1], img_size=self.img_size, input_size=input_sizes[i], out_size=(self.size,) * 2
                )
                for i in range(len(input_sizes))
            ]
        )


class _FeatureCache:
    """Frozen features of training items, keyed by (position in the items, flipped), computed once each."""

    def __init__(self, featurizer: Av2tFeaturizer, items: Sequence[TrainItem], *, image_dtype: str) -> None:
        self.featurizer = featurizer
        self.items = items
        self.image_dtype = image_dtype
        self.entries: dict[tuple[int, bool], tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[int, int]]] = {}

    def fill(self, positions: Sequence[int], *, batch: int, flipped: Sequence[bool] | None = None) -> None:
        """Compute the missing entries of `positions` (flipped horizontally where `flipped[i]`), `batch` at a time."""
        flips = list(flipped) if flipped is not None else [False] * len(positions)
        todo = [(p, f) for p, f in zip(positions, flips, strict=True) if (p, f) not in self.entries]
        for part in chunks(len(todo), batch):
            keys = [todo[i] for i in part]
            items = [self.items[p] for p, _ in keys]  # once each: a lazy sequence decodes on every access
            features = self.featurizer.features(
                [item.frame[:, ::-1] if f else item.frame for item, (_, f) in zip(items, keys, strict=True)],
                [item.audio for item in items],
                sample_rate=[item.sample_rate for item in items],
                image_dtype=self.image_dtype,
            )
            for i, key in enumerate(keys):
                self.entries[key] = (features.audio[i], features.visual[i], features.image[i], features.input_sizes[i])

    def prepare_batch(
        self, batch: Any, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[tuple[int, int]]]:
        """`train_loop`'s `prepare_batch`: the cached features of the batch's items, on `device`."""
        self.fill(batch.indices, batch=len(batch.indices), flipped=batch.flipped)
        entries = [self.entries[(p, f)] for p, f in zip(batch.indices, batch.flipped, strict=True)]
        audio = torch.stack([e[0] for e in entries]).to(device)
        visual = torch.stack([e[1] for e in entries]).to(device)
        image = torch.stack([e[2] for e in entries]).to(device, torch.float32)
        return audio, visual, image, [e[3] for e in entries]


# --- the student -------------------------------------------------------------------------------------------


class Av2tSamStudent(Student):
    """The AV2T-SAM student. Build with `build_av2t_sam` (or the registry's `build_student`), reload with
    `load_av2t_sam` (or `load_student`)."""

    config_class = Av2tSamConfig

    name = KIND

    def __init__(
        self,
        config: StudentConfig | None = None,
        *,
        models: FoundationModels | None = None,
        clap: ClapTagger | None = None,
        clip: ClipLabeller | None = None,
        sam: SamSegmenter | None = None,
        device: str = "auto",
    ) -> None:
        """`config`: an `Av2tSamConfig` (a plain `StudentConfig` gets this student's defaults for its own settings).
        The foundation models come as `models` (the registry's `FoundationModels`) or as `clap`/`clip`/`sam`;
        `device` (else `config.device`) "auto": where SAM is. Raises ValueError when a model is missing."""
        config = as_av2t_config(config if config is not None else Av2tSamConfig())
        config.validate()
        given = {"clap": clap, "clip": clip, "sam": sam}
        found = {name: given[name] if given[name] is not None else getattr(models, name, None) for name in given}
        missing = [name for name, model in found.items() if model is None]
        if missing:
            raise ValueError(
                f"the AV2T-SAM student builds on CLAP, CLIP and SAM: models.{', models.'.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not configured"
            )
        self.config = config
        self.featurizer = Av2tFeaturizer(found["clap"], found["clip"], found["sam"])
        self.sam = found["sam"]
        self.device = _resolve_device(device if device != "auto" else config.device, self.sam)
        self.head = self._new_head(config)
        self.label = DEFAULT_LABEL
        self.report: TrainReport | None = None

    def _new_head(self, config: Av2tSamConfig) -> Av2tSamHead:
        """Fresh trained parts (seeded by `config.seed`) around a float32 copy of SAM's mask decoder."""
        prompt_encoder = self.sam.model.prompt_encoder
        with torch.no_grad():
            image_pe = prompt_encoder.get_dense_pe()
        decoder = copy.deepcopy(self.sam.model.mask_decoder).float()  # the shared SAM's own decoder stays as it is
        torch.manual_seed(config.seed)
        head = Av2tSamHead(
            audio_dim=self.featurizer.audio_dim,
            visual_dim=self.featurizer.visual_dim,
            config=config,
            mask_decoder=decoder,
            image_pe=image_pe,
            no_mask_embed=prompt_encoder.no_mask_embed.weight,
        ).to(self.device)
        head.mask_decoder.requires_grad_(config.train_decoder)
        return head.eval()

    # -- training --

    def fit(
        self,
        train_items: Sequence[TrainItem],
        config: StudentConfig,
        progress: ProgressFn | None = None,
        checkpoint_dir: str | Path | None = None,
    ) -> TrainReport:
        """Train fresh trained parts (seeded) on `train_items` with the shared loop (`training.train_loop`: BCE +
        soft IoU, AdamW, cosine decay, a checkpoint per epoch in `checkpoint_dir`, resumed when it holds one of the
        same run). The frozen features of every item are computed first (`feature_batch` frames at a time) and
        cached; with `augment`, those of a flipped frame are computed the first time it is drawn. A plain
        `StudentConfig` gets this student's defaults for its own settings."""
        from ml_backend.students.training import train_loop, validate_items

        config = as_av2t_config(config)
        config.validate()
        validate_items(train_items)
        self.config = config
        self.head = self._new_head(config)
        cache = _FeatureCache(self.featurizer, train_items, image_dtype=config.cache_dtype)
        cache.fill(range(len(train_items)), batch=config.feature_batch)
        net = _FrameLogits(self.head, img_size=int(self.sam.model.image_encoder.img_size), size=config.input_size)
        report = train_loop(
            net,
            train_items,
            dataclasses.replace(config, device=str(self.device)),
            prepare_batch=cache.prepare_batch,
            progress=progress,
            checkpoint_dir=checkpoint_dir,
        )
        self.head.eval()
        self.label = majority_label(train_items)
        self.report = report
        return report

    # -- prediction --

    @torch.no_grad()
    def predict(self, clip: Any, *, labels: Sequence[str] = ()) -> ClipProposal:
        """Per frame: the sounding-object probability at the frame's resolution; one instance (label: the most
        frequent label of the training targets) where any pixel passes `threshold`. `clip`: `ClipMedia` or
        `ClipSource`; frames are read `feature_batch` at a time. `labels` are not used (the student proposes the
        label it learned). Raises `ClipInputError` without an audio track."""
        source = ClipSource.from_media(clip) if isinstance(clip, ClipMedia) else clip
        if not source.has_audio:
            raise ClipInputError("The video has no audio track: audio-visual segmentation needs the sound.")
        start = time.perf_counter()
        frames: list[FrameInstances] = []
        for positions in chunks(source.num_frames, self.config.feature_batch):
            for position, probability in zip(positions, self._probabilities(source, positions), strict=True):
                frames.append(FrameInstances(int(source.frames.indexes[position]), self._instances(probability)))
        return ClipProposal(
            frames=frames,
            model=KIND,
            meta={
                "student": KIND,
                "models": self.model_names,
                "threshold": self.config.threshold,
                "seconds": round(time.perf_counter() - start, 3),
            },
        )

    def _probabilities(self, source: ClipSource, positions: range) -> Iterator[np.ndarray]:
        frames = [source.frames.read(p) for p in positions]
        windows = [source.audio_window(p) for p in positions]
        features = self.featurizer.features(
            frames, windows, sample_rate=source.sample_rate, image_dtype=self.config.cache_dtype
        )
        self.head.eval()
        img_size = int(self.sam.model.image_encoder.img_size)
        low_res = self.head(*self._batch(features, range(len(frames))))
        for i in range(len(frames)):
            logits = upscale_logits(
                low_res[i : i + 1], img_size=img_size, input_size=features.input_sizes[i], out_size=features.sizes[i]
            )
            yield logits[0, 0].sigmoid().float().cpu().numpy()

    def _instances(self, probability: np.ndarray) -> list[Instance]:
        mask = probability > self.config.threshold
        if not mask.any():
            return []
        return [
            Instance(
                mask=mask,
                label=self.label,
                score=float(probability[mask].mean()),
                provenance={"student": KIND, "models": self.model_names},
                probability=probability.astype(np.float32),
            )
        ]

    def _batch(self, features: FrameFeatures, index: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(audio, visual, image) of the items at `index`, on the student's device, float32."""
        audio = features.audio[list(index)].to(self.device)
        visual = features.visual[list(index)].to(self.device)
        image = torch.stack([features.image[i] for i in index]).to(self.device, torch.float32)
        return audio, visual, image

    # -- persistence --

    @property
    def model_names(self) -> dict[str, str]:
        return {"clap": self.featurizer.clap.name, "clip": self.featurizer.clip.name, "sam": self.sam.name}

    @property
    def dims(self) -> dict[str, Any]:
        """Sizes the saved weights depend on: checked against the models a saved student is loaded with."""
        return {
            "clap": self.featurizer.audio_dim,
            "clip": self.featurizer.visual_dim,
            "sam": self.head.embed_dim,
            "sam_image_pe": list(self.head.image_pe.shape),
        }

    def trained_state(self) -> dict[str, torch.Tensor]:
        """The saved tensors: projections, MLP, dense adapter, mask decoder (no buffers of the frozen models)."""
        return {k: v.detach().cpu().contiguous() for k, v in self.head.state_dict().items()}

    def save(self, path: str | Path) -> None:
        """Write `path/weights.safetensors` (the trained parts only) and `path/student.json` (kind, config, label;
        meta: the feature sizes the weights depend on, the foundation models' names, the training report)."""
        from ml_backend.students.registry import write_student_folder

        meta = {
            "dims": self.dims,
            "models": self.model_names,
            "report": asdict(self.report) if self.report is not None else None,
        }
        write_student_folder(
            path, kind=KIND, config=self.config, label=self.label, weights=self.trained_state(), meta=meta
        )

    @classmethod
    def load(cls, path: str | Path, *, device: str = "auto", models: FoundationModels | None = None) -> Av2tSamStudent:
        """`load_av2t_sam` with the foundation models of `models` (this student cannot run without them)."""
        found = {name: getattr(models, name, None) for name in ("clap", "clip", "sam")}
        missing = [name for name, model in found.items() if model is None]
        if missing:
            raise ValueError(
                f"the AV2T-SAM student at {path} needs the loaded foundation models (models.{', models.'.join(missing)}"
                " missing): configure models.clap, models.clip and models.sam"
            )
        return load_av2t_sam(path, clap=found["clap"], clip=found["clip"], sam=found["sam"], device=device)


STUDENT_CLASS = Av2tSamStudent


def build_av2t_sam(config: StudentConfig, *, clap: ClapTagger, clip: ClipLabeller, sam: SamSegmenter) -> Av2tSamStudent:
    """A new (untrained) AV2T-SAM student on the loaded foundation models. A plain `StudentConfig` gets this
    student's defaults for the settings it lacks."""
    return Av2tSamStudent(config, clap=clap, clip=clip, sam=sam)


def load_av2t_sam(
    path: str | Path, *, clap: ClapTagger, clip: ClipLabeller, sam: SamSegmenter, device: str = "auto"
) -> Av2tSamStudent:
    """The student saved at `path` (by `save`), on the given foundation models; `device` "auto": where SAM is.

    Raises `ValueError` when the folder is not a saved AV2T-SAM student or was trained on models of other sizes."""
    from ml_backend.students.registry import read_student_folder

    document, config, weights = read_student_folder(path, expected_kind=KIND)
    student = Av2tSamStudent(config, clap=clap, clip=clip, sam=sam, device=device)
    expected = dict(document.get("meta", {}).get("dims") or {})
    if expected != student.dims:
        differing = [k for k in student.dims if expected.get(k) != student.dims[k]]
        raise ValueError(
            f"the student at {path} was trained on other foundation models than those configured "
            f"({', '.join(differing)}: saved {[expected.get(k) for k in differing]}, "
            f"configured {[student.dims[k] for k in differing]})"
        )
    try:
        student.head.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"the weights at {path} do not fit this student ({str(exc).splitlines()[0]})") from exc
    student.head.to(student.device).eval()
    student.label = str(document.get("label") or DEFAULT_LABEL)
    return student


def as_av2t_config(config: StudentConfig) -> Av2tSamConfig:
    """`config` itself when it is an `Av2tSamConfig`, else its shared settings with this student's defaults for
    the rest (kind "av2t_sam")."""
    if isinstance(config, Av2tSamConfig):
        return config
    shared = {f.name: getattr(config, f.name) for f in fields(StudentConfig) if f.name != "kind"}
    return Av2tSamConfig(**shared)


def majority_label(items: Sequence[TrainItem]) -> str:
    """The most frequent non-empty label of the training targets, human ones first; else "sounding object"."""
    for pool in ([i for i in items if i.source == SOURCE_HUMAN], list(items)):
        counts = Counter(i.label for i in pool if i.label)
        if counts:
            return counts.most_common(1)[0][0]
    return DEFAULT_LABEL


def _writable(frame: np.ndarray) -> np.ndarray:
    """`frame` itself when contiguous and writable, else a copy (torch warns on read-only numpy memory)."""
    return frame if frame.flags.writeable and frame.flags.c_contiguous else np.array(frame, order="C")


def _resolve_device(preference: str, sam: SamSegmenter) -> torch.device:
    """ "auto": SAM's device; otherwise the device named (CUDA refused when absent)."""
    if preference == "auto":
        return sam.placement.torch_device
    device = torch.device(preference)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {preference!r} was asked for but no GPU is available to torch")
    return device
