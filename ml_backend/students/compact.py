"""The compact AVS student: log-mel audio CNN + small visual CNN, fused by FiLM, into a U-shaped mask decoder.

Architecture (`CompactNet`), for frames resized to `input_size` × `input_size`:
- audio: the frame's window (resampled to `sample_rate`, cut or zero-padded to `audio_seconds`) → log-mel
  spectrogram (`LogMel`: `torch.stft` + a triangular mel filterbank built here, no torchaudio) → normalised per
  mel band with statistics of the training set → a small CNN → global average and max pooling → a linear layer + LayerNorm: an
  audio vector of `audio_dim`. With `audio = "clap"` the vector is a linear projection of the (frozen) CLAP audio embedding;
- visual: `depth` stages (3×3 conv, stride 2, GroupNorm, ReLU, then a 3×3 conv), channels `width`·2^i. With
  `visual = "sam"` the frozen SAM image embedding (pooled to the deepest stage's grid) is projected and added
  to the deepest stage;
- fusion: FiLM at the `film_scales` deepest stages: features · (1 + γ(a)) + β(a), γ and β linear in the audio
  vector a; plus a per-frame presence logit, linear in a, added to every pixel (silence → nothing sounds);
- decoder: from the deepest stage up, ×2 upsampling + a lateral 1×1 conv of the stage's features, a 3×3 conv;
  a 1×1 conv to one logit at half resolution, bilinear to `input_size`.

`predict` reads the clip in batches of `predict_batch` frames, upsamples the logits to each frame's resolution
and returns one instance per frame whose probability exceeds `threshold` somewhere (score = mean probability
inside the mask). The default configuration needs no weights; `visual = "sam"` / `audio = "clap"` need the
models given to `build_student(..., models=FoundationModels(sam=..., clap=...))` (when training and loading).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ml_backend.media.source import ClipSource, chunks
from ml_backend.students.base import (
    FoundationModels,
    ProgressFn,
    Student,
    StudentConfig,
    TrainItem,
    TrainReport,
)
from ml_backend.students.configs import CompactConfig  # the settings, defined without torch
from ml_backend.students.training import (
    TrainBatch,
    frames_to_tensor,
    resolve_device,
    seed_everything,
    train_loop,
)
from ml_backend.types import ClipMedia, ClipProposal, FrameInstances, Instance

KIND = "compact"
METHOD = "student-compact"
DEFAULT_LABEL = "sounding object"
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)


def tiny_config(**overrides: Any) -> CompactConfig:
    """A few-thousand-parameter configuration that trains in seconds on a CPU (tests, quick simulations)."""
    settings: dict[str, Any] = {
        "epochs": 12,
        "batch_size": 8,
        "learning_rate": 1e-2,
        "input_size": 32,
        "width": 4,
        "depth": 3,
        "film_scales": 3,
        "n_mels": 16,
        "n_fft": 256,
        "hop_length": 256,
        "audio_width": 4,
        "audio_dim": 8,
        "device": "cpu",
    }
    settings.update(overrides)
    return CompactConfig(**settings)


# ---------------------------------------------------------------- audio features


def mel_filterbank(n_fft: int, n_mels: int, sample_rate: int, f_min: float = 0.0, f_max: float | None = None):
    """(n_fft // 2 + 1) × n_mels triangular filters on the HTK mel scale (Slaney-style area normalisation)."""
    f_max = sample_rate / 2 if f_max is None else f_max

    def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)

    def mel_to_hz(mel: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)

    freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    lower, center, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None] - lower) / np.maximum(center - lower, 1e-9)
    falling = (upper - freqs[None]) / np.maximum(upper - center, 1e-9)
    weights = np.maximum(0.0, np.minimum(rising, falling))  # n_mels × bins
    weights *= 2.0 / np.maximum(upper - lower, 1e-9)  # equal area per filter
    return torch.from_numpy(weights.T.astype(np.float32))


class LogMel(nn.Module):
    """B×N waveform → B×1×n_mels×frames natural-log mel power (`torch.stft`, Hann window, centred)."""

    def __init__(self, *, sample_rate: int, n_fft: int, hop_length: int, n_mels: int) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer("mel", mel_filterbank(n_fft, n_mels, sample_rate), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(
            audio.float(),
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            window=self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        power = spec.real.square() + spec.imag.square()  # B × bins × frames
        mel = torch.einsum("bft,fm->bmt", power, self.mel)
        return torch.log(mel + 1e-8)[:, None]


def prepare_audio(window: np.ndarray | None, rate: int, config: CompactConfig) -> np.ndarray:
    """(audio_samples,) float32: `window` resampled from `rate` to `config.sample_rate` (linear), cut or padded."""
    length = max(1, int(round(config.sample_rate * config.audio_seconds)))
    out = np.zeros(length, dtype=np.float32)
    if window is None or rate <= 0:
        return out
    samples = np.asarray(window, dtype=np.float32).reshape(-1)
    if rate != config.sample_rate and len(samples) > 1:
        target = max(1, int(round(len(samples) * config.sample_rate / rate)))
        samples = np.interp(
            np.linspace(0.0, len(samples) - 1, target), np.arange(len(samples)), samples.astype(np.float64)
        ).astype(np.float32)
    samples = samples[:length]
    out[: len(samples)] = samples
    return out


# ---------------------------------------------------------------- the network


def _groups(channels: int) -> int:
    return math.gcd(channels, 4)


class _Stage(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.down = nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False)
        self.norm1 = nn.GroupNorm(_groups(cout), cout)
        self.conv = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.norm2 = nn.GroupNorm(_groups(cout), cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.norm1(self.down(x)))
        return F.relu(self.norm2(self.conv(x)))


class CompactNet(nn.Module):
    """The compact student's network; `forward(inputs)` with inputs a dict: "frames" B×3×S×S in [0, 1],
    "logmel" B×1×M×T (unless audio = "clap"), optional "clap" B×D and "sam" B×C×h×w. Returns B×1×S×S logits."""

    def __init__(self, config: CompactConfig, *, clap_dim: int = 0, sam_dim: int = 0) -> None:
        super().__init__()
        self.config = config
        widths = [config.width * 2**i for i in range(config.depth)]
        self.stages = nn.ModuleList(_Stage(cin, cout) for cin, cout in zip([3, *widths[:-1]], widths, strict=True))
        self.register_buffer("image_mean", torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("image_std", torch.tensor(IMAGE_STD).view(1, 3, 1, 1), persistent=False)
        a = config.audio_width
        if config.audio == "clap":
            self.audio_proj = nn.Sequential(nn.Linear(clap_dim, config.audio_dim), nn.LayerNorm(config.audio_dim))
        else:
            self.register_buffer("mel_mean", torch.zeros(config.n_mels))
            self.register_buffer("mel_std", torch.ones(config.n_mels))
            self.audio_convs = nn.ModuleList(
                [
                    nn.Conv2d(1, a, 3, stride=2, padding=1),
                    nn.Conv2d(a, 2 * a, 3, stride=2, padding=1),
                    nn.Conv2d(2 * a, 4 * a, 3, stride=2, padding=1),
                ]
            )
            self.audio_proj = nn.Sequential(nn.Linear(8 * a, config.audio_dim), nn.LayerNorm(config.audio_dim))
        self.sam_proj = nn.Conv2d(sam_dim, widths[-1], 1) if config.visual == "sam" else None
        film = widths[-config.film_scales :]
        self.films = nn.ModuleList(nn.Linear(config.audio_dim, 2 * c) for c in film)
        for layer in self.films:  # start as the identity modulation
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.presence = nn.Linear(config.audio_dim, 1)
        dec = widths[0]
        self.laterals = nn.ModuleList(nn.Conv2d(c, dec, 1) for c in widths)
        self.smooth = nn.ModuleList(nn.Conv2d(dec, dec, 3, padding=1) for _ in widths[:-1])
        self.head = nn.Conv2d(dec, 1, 1)

    def audio_vector(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.config.audio == "clap":
            return self.audio_proj(inputs["clap"].float())
        x = (inputs["logmel"] - self.mel_mean.view(1, 1, -1, 1)) / self.mel_std.view(1, 1, -1, 1)
        for conv in self.audio_convs:
            x = F.relu(conv(x))
        pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)
        return self.audio_proj(pooled)

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        frames = inputs["frames"]
        size = frames.shape[-2:]
        audio = self.audio_vector(inputs)
        x = (frames - self.image_mean) / self.image_std
        features = []
        first_film = len(self.stages) - len(self.films)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i == len(self.stages) - 1 and self.sam_proj is not None:
                sam = F.adaptive_avg_pool2d(inputs["sam"].float(), x.shape[-2:])
                x = x + self.sam_proj(sam)
            if i >= first_film:
                gamma, beta = self.films[i - first_film](audio).chunk(2, dim=1)
                x = x * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]
            features.append(x)
        y = self.laterals[-1](features[-1])
        for i in range(len(features) - 2, -1, -1):
            y = F.interpolate(y, size=features[i].shape[-2:], mode="bilinear", align_corners=False)
            y = F.relu(self.smooth[i](y + self.laterals[i](features[i])))
        logits = self.head(y) + self.presence(audio)[:, :, None, None]
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


# ---------------------------------------------------------------- the student


def _clip_source(clip: Any) -> ClipSource:
    if isinstance(clip, ClipSource):
        return clip
    if isinstance(clip, ClipMedia):
        return ClipSource.from_media(clip)
    raise TypeError(f"expected a ClipMedia or a ClipSource, got {type(clip).__name__}")


class CompactStudent(Student):
    """See the module doc. Build with `build_student(CompactConfig(...))` or `CompactStudent(config)`."""

    name = KIND
    config_class = CompactConfig

    def __init__(self, config: CompactConfig | None = None, *, models: FoundationModels | None = None) -> None:
        self.config = config or CompactConfig()
        self.models = models or FoundationModels()
        self.label = DEFAULT_LABEL
        self.device = resolve_device(self.config.device)
        self._check_models(self.config)
        self.net = self._build_net(self.config)
        self.net.to(self.device).eval()

    # ------------------------------------------------------------------ setup
    def _check_models(self, config: CompactConfig) -> None:
        if config.visual == "sam" and self.models.sam is None:
            raise ValueError("the compact student's visual = 'sam' needs a SAM model (models.sam is not configured)")
        if config.audio == "clap" and self.models.clap is None:
            raise ValueError("the compact student's audio = 'clap' needs a CLAP model (models.clap is not configured)")

    def _build_net(self, config: CompactConfig) -> CompactNet:
        seed_everything(config.seed)
        clap_dim = (
            int(self.models.clap.embed_audio([np.zeros(1600, np.float32)], sample_rate=16000).shape[-1])
            if (config.audio == "clap")
            else 0
        )
        sam_dim = int(self.models.sam.model.prompt_encoder.embed_dim) if config.visual == "sam" else 0
        seed_everything(config.seed)
        return CompactNet(config, clap_dim=clap_dim, sam_dim=sam_dim)

    @property
    def logmel(self) -> LogMel:
        cfg = self.config
        module = getattr(self, "_logmel", None)
        if module is None:
            module = LogMel(sample_rate=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length, n_mels=cfg.n_mels)
            self._logmel = module
        return module.to(self.device)

    # ------------------------------------------------------------------ features
    @torch.no_grad()
    def _audio_features(self, windows: Sequence[np.ndarray | None], rates: Sequence[int]) -> dict[str, torch.Tensor]:
        cfg = self.config
        if cfg.audio == "clap":
            prepared = [prepare_audio(w, r, cfg) for w, r in zip(windows, rates, strict=True)]
            embeddings = self.models.clap.embed_audio(prepared, sample_rate=cfg.sample_rate)
            return {"clap": embeddings.detach().float().to(self.device).clone()}
        prepared = np.stack([prepare_audio(w, r, cfg) for w, r in zip(windows, rates, strict=True)])
        return {"logmel": self.logmel(torch.from_numpy(prepared).to(self.device))}

    @torch.no_grad()
    def _sam_features(self, frames: Sequence[np.ndarray]) -> torch.Tensor:
        """B×C×g×g: each frame's SAM embedding over its valid (unpadded) area, pooled to the deepest stage's grid."""
        grid = self.config.input_size // 2**self.config.depth
        out = []
        for frame in frames:
            embedding = self.models.sam.embed(np.ascontiguousarray(frame))
            features = embedding.features.float()
            scale = features.shape[-1] / self.models.sam.model.image_encoder.img_size
            h = max(1, math.ceil(embedding.input_size[0] * scale))
            w = max(1, math.ceil(embedding.input_size[1] * scale))
            out.append(F.adaptive_avg_pool2d(features[:, :, :h, :w], (grid, grid)).clone())
        return torch.cat(out).to(self.device)

    def _inputs(self, frames: Sequence[np.ndarray], windows, rates) -> dict[str, torch.Tensor]:
        inputs = {"frames": frames_to_tensor(frames, self.config.input_size, self.device)}
        inputs.update(self._audio_features(windows, rates))
        if self.config.visual == "sam":
            inputs["sam"] = self._sam_features(frames)
        return inputs

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        train_items: Sequence[TrainItem],
        config: StudentConfig | None = None,
        progress: ProgressFn | None = None,
        checkpoint_dir: str | Path | None = None,
    ) -> TrainReport:
        """Train from scratch (seeded by `config.seed`) or resume from `checkpoint_dir`; see `training.train_loop`.

        `config` (a `CompactConfig`; None: the one the student was built with) replaces the student's own.
        Inputs are computed once per item (frames at `input_size` as uint8, log-mels or CLAP vectors, SAM
        embeddings of the frame and of its mirror image), then every epoch reads them."""
        if config is not None and not isinstance(config, CompactConfig):
            raise TypeError(f"the compact student trains with a CompactConfig, got {type(config).__name__}")
        cfg = config or self.config
        self.config = cfg
        self.device = resolve_device(cfg.device)
        self._check_models(cfg)
        self._logmel = None
        self.net = self._build_net(cfg).to(self.device)
        labels: Counter[str] = Counter()
        cached = self._training_inputs(train_items, labels)
        self.label = labels.most_common(1)[0][0] if labels else DEFAULT_LABEL
        if "logmel" in cached:  # per-band statistics of the training set normalise the audio CNN's input
            logmel = cached["logmel"]
            self.net.mel_mean.copy_(logmel.mean(dim=(0, 1, 3)))
            self.net.mel_std.copy_(logmel.std(dim=(0, 1, 3)).clamp_min(1e-3))

        def prepare_batch(batch: TrainBatch, device: torch.device) -> dict[str, torch.Tensor]:
            index = torch.tensor(batch.indices, dtype=torch.long)
            flipped = torch.tensor(batch.flipped, dtype=torch.bool)[:, None, None, None]
            frames = cached["frames"][index]
            frames = torch.where(flipped, frames.flip(-1), frames)
            inputs = {"frames": frames.to(device).float() / 255.0}
            for key in ("logmel", "clap"):
                if key in cached:
                    inputs[key] = cached[key][index].to(device)
            if "sam" in cached:
                sam = cached["sam"][index]
                if "sam_flipped" in cached:
                    sam = torch.where(flipped, cached["sam_flipped"][index], sam)
                inputs["sam"] = sam.to(device)
            return inputs

        report = train_loop(
            self.net, train_items, cfg, prepare_batch=prepare_batch, progress=progress, checkpoint_dir=checkpoint_dir
        )
        self.net.eval()
        return report

    def _training_inputs(self, items: Sequence[TrainItem], labels: Counter[str]) -> dict[str, torch.Tensor]:
        """Every item's network inputs, on the CPU, reading each item once: frames at `input_size` (uint8),
        log-mels or CLAP vectors, SAM embeddings of the frame and of its mirror image (when augmenting); the
        items' labels are counted into `labels`."""
        cfg = self.config
        parts: dict[str, list[torch.Tensor]] = {}
        batch: list[TrainItem] = []

        def flush() -> None:
            frames = [item.frame for item in batch]
            tensor = frames_to_tensor(frames, cfg.input_size, "cpu")
            parts.setdefault("frames", []).append((tensor * 255.0).round().to(torch.uint8))
            features = self._audio_features([i.audio for i in batch], [i.sample_rate for i in batch])
            for key, value in features.items():
                parts.setdefault(key, []).append(value.cpu())
            if cfg.visual == "sam":
                parts.setdefault("sam", []).append(self._sam_features(frames).cpu())
                if cfg.augment:
                    flipped = [np.ascontiguousarray(f[:, ::-1]) for f in frames]
                    parts.setdefault("sam_flipped", []).append(self._sam_features(flipped).cpu())
            batch.clear()

        for i in range(len(items)):
            batch.append(items[i])
            if batch[-1].label:
                labels[batch[-1].label] += 1
            if len(batch) == 32:
                flush()
        if batch:
            flush()
        return {key: torch.cat(values) for key, values in parts.items()}

    # ------------------------------------------------------------------ predict
    @torch.no_grad()
    def probabilities(self, clip: Any) -> tuple[list[int], list[np.ndarray]]:
        """(frame indexes, H×W float32 probability maps) of every frame of `clip`, `predict_batch` at a time."""
        source = _clip_source(clip)
        self.net.eval()
        indexes: list[int] = []
        maps: list[np.ndarray] = []
        rate = source.sample_rate if source.has_audio else 0
        height, width = source.size if source.num_frames else (0, 0)
        for chunk in chunks(source.num_frames, max(1, self.config.predict_batch)):
            frames = [source.frames.read(p) for p in chunk]
            windows = [source.audio_window(p) if rate else None for p in chunk]
            inputs = self._inputs(frames, windows, [rate] * len(chunk))
            del frames, windows  # a batch's pictures are released before the next batch is read
            logits = self.net(inputs)
            logits = F.interpolate(logits.float(), size=(height, width), mode="bilinear", align_corners=False)
            probs = torch.sigmoid(logits[:, 0]).cpu().numpy().astype(np.float32)
            for position, prob in zip(chunk, probs, strict=True):
                indexes.append(int(source.frames.indexes[position]))
                maps.append(prob)
        return indexes, maps

    def predict(self, clip: Any, *, labels: Sequence[str] = ()) -> ClipProposal:
        """One instance per frame where some pixel's probability exceeds `threshold` (see `Student.predict`).

        The instance's label is the student's (the most frequent label of its training items), or `labels[0]`
        when `labels` is given and does not contain it."""
        started = time.monotonic()
        source = _clip_source(clip)
        label = self.label if not labels or self.label in labels else labels[0]
        indexes, maps = self.probabilities(source)
        frames: list[FrameInstances] = []
        for frame_index, prob in zip(indexes, maps, strict=True):
            mask = prob > self.config.threshold
            instances = []
            if mask.any():
                score = float(prob[mask].mean())
                instances.append(
                    Instance(
                        mask=mask,
                        label=label,
                        score=score,
                        provenance={"method": METHOD, "student": KIND, "threshold": self.config.threshold},
                        probability=prob,
                    )
                )
            frames.append(FrameInstances(frame_index=frame_index, instances=instances))
        meta = {
            "student": KIND,
            "has_audio": source.has_audio,
            "seconds": round(time.monotonic() - started, 4),
        }
        return ClipProposal(frames=frames, model=METHOD, meta=meta)

    # ------------------------------------------------------------------ save / load
    def state_to_save(self) -> dict[str, torch.Tensor]:
        """The weights `save` writes: every parameter and persistent buffer (frozen foundation models excluded)."""
        return {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}

    def save(self, path: str | Path) -> None:
        from ml_backend.students.registry import write_student_folder

        write_student_folder(path, kind=KIND, config=self.config, label=self.label, weights=self.state_to_save())

    @classmethod
    def load(cls, path: str | Path, *, device: str = "auto", models: FoundationModels | None = None) -> CompactStudent:
        from dataclasses import replace

        from ml_backend.students.registry import read_student_folder

        meta, config, weights = read_student_folder(path, expected_kind=KIND)
        assert isinstance(config, CompactConfig)
        student = cls(replace(config, device=device), models=models)
        try:
            missing, unexpected = student.net.load_state_dict(weights, strict=False)
        except RuntimeError as exc:  # shapes that differ
            raise ValueError(f"{path}: the weights do not fit the compact student's configuration ({exc})") from None
        if missing or unexpected:
            raise ValueError(
                f"{path}: the weights do not fit the compact student's configuration "
                f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})"
            )
        student.label = str(meta.get("label") or DEFAULT_LABEL)
        student.net.to(student.device).eval()
        return student


STUDENT_CLASS = CompactStudent
