"""The ML backend's model configuration: one JSON file, read into frozen dataclasses.

Layout (relative paths are relative to the file's folder; unknown keys are errors):

    {
      "device": "auto",                 # "auto" (CUDA + float16 when present, else CPU + float32), "cpu", "cuda"
      "allow_network": false,           # hub ids allowed only when true (and HF_HUB_OFFLINE is not set)
      "models": {
        "clap":      {"path": "clap"},                                   # ClapModel + ClapProcessor
        "grounding": {"kind": "grounding_dino", "path": "grounding_dino",  # or "owlv2"
                      "box_threshold": 0.25, "text_threshold": 0.25},
        "sam":       {"type": "vit_b", "checkpoint": "sam_vit_b_01ec64.pth"},  # or "builder": "module:function"
        "llm":       {"path": "qwen2.5-0.5b-instruct"},                  # optional: null -> audio-visual tree
        "clip":      {"path": "clip-vit-base-patch32"},                  # optional: OV-AVSS-style labels
        "tracker":   {"kind": "sam2_video", "path": "sam2.1-hiera-tiny",  # optional: mask propagation in the
                      "min_confidence": 0.5},                            # annotator (or "sam3_tracker_video")
        "segmenter": {"kind": "sam3", "path": "sam3", "mode": "frame",    # optional: SAM 3 replaces grounding + sam
                      "score_threshold": 0.5, "mask_threshold": 0.5}     # in the proposer ("mode": "video")
      },
      "pipeline": {"top_k": 5, "max_nouns": 5, "merge": "union", "bavs_filter": false, "clip_labels": false,
                   "min_tag_score": 0.05, "min_window_rms": 0.0056},
      "students": {                     # optional: named student training configurations (ml_backend.students)
        "compact": {"kind": "compact", "epochs": 8, "input_size": 128},
        "av2t": {"kind": "av2t_sam"}
      }
    }

Every setting has a dotted name (`models.clap.path`) that error messages use, so a person knows what to fix.

`models.grounding` and `models.sam` are required unless `models.segmenter` is configured: then the translator's nouns
prompt SAM 3 directly and the proposer neither loads nor needs Grounding DINO; `models.sam`, when also given, still
serves the annotator's SAM clicks and the students' SAM features (the proposer does not use it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ml_backend.foundation.policy import ModelPolicy

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # "org/name": a model hub id


def model_name(path: str) -> str:
    """A short name for provenance: the directory or file name (or the hub id)."""
    return path if HUB_ID.match(path) and not Path(path).exists() else Path(path).name


class ConfigError(ValueError):
    """The configuration file cannot be used; the message names the file and the setting."""


@dataclass(frozen=True)
class ClapSettings:
    """CLAP audio tagger (transformers `ClapModel` + `ClapProcessor`, e.g. the laion/clap-htsat-unfused layout)."""

    path: str  # directory written by save_pretrained(); a hub id only with allow_network
    text_template: str = "This is a sound of {}."  # CLAP zero-shot prompt for each vocabulary entry


@dataclass(frozen=True)
class GroundingSettings:
    """Open-vocabulary box detector: transformers Grounding DINO (default) or OWLv2."""

    path: str
    kind: str = "grounding_dino"  # "grounding_dino" | "owlv2"
    box_threshold: float = 0.25  # OpenAVS / Grounding DINO default
    text_threshold: float = 0.25  # a box's noun must score at least this (Grounding DINO: per token)
    max_boxes: int = 20  # per frame, best first, after non-maximum suppression
    nms_iou: float = 0.7  # boxes of the same noun overlapping more than this are suppressed


@dataclass(frozen=True)
class SamSettings:
    """segment-anything SAM: a registry size (`type`) or a `builder` ("module:function"), plus a checkpoint."""

    checkpoint: str  # a torch.save'd state_dict (.pth), e.g. sam_vit_b_01ec64.pth
    type: str | None = "vit_b"  # "vit_b" | "vit_l" | "vit_h" (segment_anything.sam_model_registry)
    builder: str | None = None  # "package.module:function" returning an uninitialised `Sam`; wins over `type`


@dataclass(frozen=True)
class LlmSettings:
    """A transformers causal LM whose tokenizer has a chat template (e.g. a 0.5-1.5B instruct model)."""

    path: str
    max_new_tokens: int = 64


@dataclass(frozen=True)
class ClipSettings:
    """CLIP (transformers `CLIPModel` + `CLIPProcessor`) to label masked crops, OV-AVSS style."""

    path: str
    template: str = "a photo of a {}."


TRACKER_KINDS = ("sam2_video", "sam3_tracker_video")


@dataclass(frozen=True)
class TrackerSettings:
    """Video mask tracker that propagates the annotator's masks through a clip (`ml_backend.foundation.tracking`):
    transformers SAM 2 video (`Sam2VideoModel` + `Sam2VideoProcessor`, e.g. facebook/sam2.1-hiera-tiny) or SAM 3's
    tracker (`Sam3TrackerVideoModel` + `Sam3TrackerVideoProcessor`: its own folder, or the facebook/sam3 layout whose
    tracker it reads). The folder's model must be of the kind, or loading says which kind to set. Not part of the
    proposer: it changes no proposal, and no proposer's identity (`BackendConfig.to_dict` leaves it out)."""

    path: str  # directory written by save_pretrained(); a hub id only with allow_network
    kind: str = "sam2_video"  # "sam2_video" | "sam3_tracker_video"
    # a propagated mask whose confidence (mean foreground probability inside it) is below this is flagged for a look
    min_confidence: float = 0.5


SEGMENTER_KINDS = ("sam3",)
SEGMENTER_MODES = ("frame", "video")


@dataclass(frozen=True)
class SegmenterSettings:
    """Concept segmenter that replaces Grounding DINO + SAM in the proposer (`ml_backend.foundation.concepts`): the
    translator's nouns prompt SAM 3 directly, per frame (transformers `Sam3Model` + `Sam3Processor`) or with SAM 3
    video over the clip, identities kept (`Sam3VideoModel`, the facebook/sam3 layout, which serves both modes)."""

    path: str  # directory written by save_pretrained(); a hub id only with allow_network
    kind: str = "sam3"  # "sam3"
    mode: str = "frame"  # "frame": each frame alone | "video": SAM 3 video streamed over the clip
    score_threshold: float = 0.5  # a detection counts from this score (instance × presence probability)
    mask_threshold: float = 0.5  # a pixel is in a mask when its probability exceeds this
    max_masks: int = 20  # per noun and frame, best first
    max_objects: int = 16  # mode "video": objects tracked at once over the clip (bounds the tracker's state)


@dataclass(frozen=True)
class ModelsSettings:
    clap: ClapSettings
    grounding: GroundingSettings | None = None  # required unless models.segmenter is configured
    sam: SamSettings | None = None  # required unless models.segmenter is configured
    llm: LlmSettings | None = None  # None: the deterministic audio-visual tree translates
    clip: ClipSettings | None = None  # needed by pipeline.clip_labels
    tracker: TrackerSettings | None = None  # None: no mask propagation in the annotator
    segmenter: SegmenterSettings | None = None  # None: Grounding DINO boxes + SAM masks (the default)


@dataclass(frozen=True)
class PipelineSettings:
    """OpenAVS options (see `ml_backend.pipelines.openavs`)."""

    top_k: int = 5  # audio tags kept per frame
    max_nouns: int = 5  # visual nouns per clip
    vocabulary: tuple[str, ...] | None = None  # CLAP sound vocabulary; None: the AudioSet class names
    merge: str = "union"  # masks of one noun on a frame: "union" (one instance) or "best" (highest score)
    bavs_filter: bool = False  # drop masks whose label meets no audio tag in the audio-visual tree
    clip_labels: bool = False  # relabel each mask with CLIP against the object vocabulary (needs models.clip)
    min_rms: float = 1e-3  # clips whose whole audio is quieter than this (about -60 dBFS) are refused (= SILENCE_RMS)
    # per-frame sounding sources: a frame's window keeps only its top-k tags scoring at least this (CLAP probability
    # over the vocabulary; 0 keeps all top_k), and a noun is searched for on a frame only when a kept tag supports it
    min_tag_score: float = 0.05
    # a frame whose window's RMS is below this (about -45 dBFS, the synchrony baseline's silence_db) is silent: no
    # masks, and its provenance says so (= WINDOW_SILENCE_RMS; 0 turns the gate off)
    min_window_rms: float = 0.0056


@dataclass(frozen=True)
class BackendConfig:
    models: ModelsSettings
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    device: str = "auto"
    allow_network: bool = False
    source: str = field(default="", compare=False)  # the file it was read from (not part of the hash)
    # name -> ml_backend.students StudentConfig (validated by ml_backend.students.registry); {} when not configured
    students: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe data (paths as resolved), without `source`; `students` only when configured (so the
        hash of a configuration without students does not change); without `models.tracker` (the annotator's
        tracker proposes nothing: adding one changes no proposer's identity)."""
        data = dataclasses.asdict(self)
        data.pop("source")
        data["models"].pop("tracker", None)
        if data["models"].get("segmenter", 0) is None:  # so configurations without one keep their hash
            data["models"].pop("segmenter")
        if not data["students"]:
            data.pop("students")
        return data

    def sha256(self) -> str:
        """SHA-256 of the canonical JSON of `to_dict()` (sorted keys, no spaces)."""
        return config_hash(self.to_dict())


def config_hash(data: Any) -> str:
    """SHA-256 hex digest of `data` as canonical JSON (sorted keys, compact separators, UTF-8)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


_PATH_FIELDS = {"path", "checkpoint"}


def load_config(path: str | Path, *, policy: ModelPolicy | None = None) -> BackendConfig:
    """Read a configuration file. Relative model paths become absolute (relative to the file's folder).

    Raises `ConfigError` for a missing or unreadable file, invalid JSON, an unknown or missing setting or a
    value of the wrong type; the message names the file and the dotted setting. With a `policy`
    (`ml_backend.foundation.policy`), a configuration naming what it refuses raises its `ConfigPolicyError`.
    """
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: the configuration file does not exist") from None
    except OSError as exc:
        raise ConfigError(f"{file}: the configuration file cannot be read ({exc.strerror or exc})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{file}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
    return config_from_dict(data, base_dir=file.resolve().parent, source=str(file), policy=policy)


def config_from_dict(
    data: Any, *, base_dir: str | Path | None, source: str = "<dict>", policy: ModelPolicy | None = None
) -> BackendConfig:
    """Build a `BackendConfig` from plain data (the parsed JSON file); see `load_config`.

    base_dir: the folder relative model paths are relative to; None: every model path must be absolute (data
    that comes from no file, e.g. a configuration sent to the server's API).
    """
    allow_network = bool(data.get("allow_network", False)) if isinstance(data, dict) else False
    resolver = _PathResolver(Path(base_dir) if base_dir is not None else None, allow_network=allow_network)
    students: dict[str, Any] = {}
    try:
        if isinstance(data, dict) and "students" in data:
            data = dict(data)
            students = _students(data.pop("students"))
        config = _build(BackendConfig, data, prefix="", resolver=resolver, skip={"source", "students"})
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    config = dataclasses.replace(config, students=students)
    if config.device not in ("auto", "cpu") and not config.device.startswith("cuda"):
        raise ConfigError(f"{source}: device: expected 'auto', 'cpu' or 'cuda[:N]', got {config.device!r}")
    _check_stages(config.models, source)
    if config.models.grounding is not None and config.models.grounding.kind not in ("grounding_dino", "owlv2"):
        raise ConfigError(
            f"{source}: models.grounding.kind: expected 'grounding_dino' or 'owlv2', got {config.models.grounding.kind!r}"
        )
    tracker = config.models.tracker
    if tracker is not None and tracker.kind not in TRACKER_KINDS:
        raise ConfigError(
            f"{source}: models.tracker.kind: expected {' or '.join(map(repr, TRACKER_KINDS))}, got {tracker.kind!r}"
        )
    if tracker is not None and tracker.min_confidence > 1.0:
        raise ConfigError(
            f"{source}: models.tracker.min_confidence: expected a probability in [0, 1], got {tracker.min_confidence!r}"
        )
    if config.models.sam is not None and config.models.sam.type is None and config.models.sam.builder is None:
        raise ConfigError(f"{source}: models.sam: give a 'type' (vit_b, vit_l, vit_h) or a 'builder' (module:function)")
    if config.pipeline.merge not in ("union", "best"):
        raise ConfigError(f"{source}: pipeline.merge: expected 'union' or 'best', got {config.pipeline.merge!r}")
    if config.pipeline.min_tag_score > 1.0:
        raise ConfigError(
            f"{source}: pipeline.min_tag_score: expected a probability in [0, 1], got {config.pipeline.min_tag_score!r}"
        )
    if config.pipeline.clip_labels and config.models.clip is None:
        raise ConfigError(f"{source}: pipeline.clip_labels is true but models.clip is not configured")
    config = dataclasses.replace(config, source=source)
    if policy is not None:
        policy.check(config)
    return config


def _check_stages(models: ModelsSettings, source: str) -> None:
    """The proposer's text -> masks stages: models.grounding + models.sam, or models.segmenter (SAM 3)."""
    segmenter = models.segmenter
    if segmenter is None:
        for name in ("grounding", "sam"):
            if getattr(models, name) is None:
                raise ConfigError(
                    f"{source}: models.{name}: required setting is missing "
                    "(or configure models.segmenter, SAM 3, which replaces models.grounding and models.sam)"
                )
        return
    if segmenter.kind not in SEGMENTER_KINDS:
        raise ConfigError(
            f"{source}: models.segmenter.kind: expected {' or '.join(map(repr, SEGMENTER_KINDS))}, got {segmenter.kind!r}"
        )
    if segmenter.mode not in SEGMENTER_MODES:
        raise ConfigError(
            f"{source}: models.segmenter.mode: expected {' or '.join(map(repr, SEGMENTER_MODES))}, got {segmenter.mode!r}"
        )
    for name in ("score_threshold", "mask_threshold"):
        if getattr(segmenter, name) > 1.0:
            raise ConfigError(
                f"{source}: models.segmenter.{name}: expected a probability in [0, 1], got {getattr(segmenter, name)!r}"
            )


def _students(data: Any) -> dict[str, Any]:
    """The `students` section, validated by `ml_backend.students.configs` (no torch; imported only when the section
    is there)."""
    if data is None:
        return {}
    from ml_backend.students.configs import students_from_dict

    return students_from_dict(data)


@dataclass(frozen=True)
class _PathResolver:
    base_dir: Path | None
    allow_network: bool

    def __call__(self, value: str, *, setting: str) -> str:
        """An absolute path, `..` and symlinks resolved; a relative value that names nothing on disk stays as given
        when hub ids are allowed. Without `base_dir`, a relative path (not a hub id) is an error."""
        candidate = Path(value).expanduser()
        if not candidate.is_absolute():
            local = self.base_dir / candidate if self.base_dir is not None else None
            if self.allow_network and (local is None or not local.exists()) and not value.startswith((".", "~")):
                return value  # perhaps a hub id ("org/name"); the loader decides
            if local is None:
                raise ConfigError(
                    f"{setting}: expected an absolute path (this configuration has no folder), got {value!r}"
                )
            candidate = local
        return str(candidate.resolve())


def _build(cls: type, data: Any, *, prefix: str, resolver: _PathResolver, skip: set[str] = frozenset()) -> Any:
    name = prefix.rstrip(".") or "the configuration"
    if not isinstance(data, dict):
        raise ConfigError(f"{name}: expected a JSON object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in skip}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{prefix}{unknown[0]}: unknown setting (known here: {', '.join(fields)})")
    kwargs: dict[str, Any] = {}
    for key, spec in fields.items():
        if key not in data:
            if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{prefix}{key}: required setting is missing")
            continue
        kwargs[key] = _convert(hints[key], data[key], setting=f"{prefix}{key}", resolver=resolver)
    return cls(**kwargs)


def _convert(hint: Any, value: Any, *, setting: str, resolver: _PathResolver) -> Any:
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, setting=setting, resolver=resolver)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, prefix=f"{setting}.", resolver=resolver)
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ConfigError(f"{setting}: expected a list of non-empty strings")
        return tuple(v.strip() for v in value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{setting}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{setting}: expected a positive integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{setting}: expected a number >= 0, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{setting}: expected a non-empty string, got {value!r}")
        return resolver(value, setting=setting) if setting.rsplit(".", 1)[-1] in _PATH_FIELDS else value
    raise AssertionError(f"unsupported setting type {hint!r} for {setting}")
