"""Entry points for self-training rounds (the server's `training` queue): plain data in, plain data out.

- `train_student(frames, student_config, progress=..., checkpoint_dir=..., output_dir=...) -> dict`: build the
  student `student_config` names (`ml_backend.students.registry`), fit it on `frames` (each a `TrainingFrame`: a
  stored picture, the clip's stored WAV track and a target as COCO RLE masks or an 8-bit probability map), resuming
  from `checkpoint_dir` when it holds a checkpoint of the same run, and save it to `output_dir`;
- `load_student_proposer(path) -> LoadedProposer`: a saved student behind the proposers' interface
  (`ml_backend.serving.proposals`), loaded once per process;
- `propose_stored_clip_student(student_path=..., frames=..., audio=..., fps=...) -> dict`: what
  `propose_stored_clip` returns, proposed by a saved student from a clip's stored frames and audio.

Training frames are built lazily: `TrainingFrames[i]` opens and decodes its picture, its audio window and its
target when the student asks for item i, and nothing is kept between two reads, so memory does not grow with the
number of frames (the student's own per-item caches aside).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ml_backend.media.clip import ClipInputError, require_frame_budget
from ml_backend.media.source import ClipSource, FrameReader, Opener, StoredFrame, StoredFrames, WavAudio, chunks
from ml_backend.types import ClipMedia, ClipProposal

logger = logging.getLogger(__name__)

SOURCE_HUMAN = "human"
SOURCE_PSEUDO = "pseudo"
STUDENT_CACHE_SIZE = 4  # saved students kept loaded per process (pre-annotation reuses them clip after clip)

ProgressFn = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class TrainingFrame:
    """One training frame, as stored: nothing is read until the student asks for it.

    frame: the stored picture (`StoredFrame`: its index, timestamp and an opener of the JPEG/PNG).
    audio: an opener of the clip's mono 16-bit WAV track (the frame's window [k/fps, (k+1)/fps) is read from it).
    fps: the clip's frame rate. masks: COCO RLE masks of the frame's size; the target is their union (no mask: an
    empty target, "nothing sounds here"). probability: an opener of an 8-bit greyscale picture (0–255 for [0, 1]) of
    the teacher's foreground probability, any size (resized to the frame's), used instead of `masks` when given.
    source: "human" (accepted annotation: ground truth) or "pseudo" (the teacher's proposal). clip_key names the
    clip in messages and checkpoints (stable over resumes). label: the frame's most prominent label ("" if none).
    """

    frame: StoredFrame
    audio: Opener
    fps: float
    source: str
    clip_key: str
    masks: tuple[Mapping[str, Any], ...] = ()
    probability: Opener | None = None
    label: str = ""


class TrainingFrames(Sequence):
    """A lazy sequence of `ml_backend.students.base.TrainItem`s over `TrainingFrame`s (see the module docstring)."""

    def __init__(self, frames: Sequence[TrainingFrame]) -> None:
        for frame in frames:
            if frame.source not in (SOURCE_HUMAN, SOURCE_PSEUDO):
                raise ValueError(f"{frame.clip_key} frame {frame.frame.index}: source must be human or pseudo")
        self.frames = list(frames)

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, position: int | slice) -> Any:
        if isinstance(position, slice):
            return [self[i] for i in range(*position.indices(len(self)))]
        return training_item(self.frames[position])


def training_item(spec: TrainingFrame) -> Any:
    """The `TrainItem` of one `TrainingFrame` (its picture, audio window and target decoded now)."""
    from ml_backend.serving.encoding import rle_to_mask
    from ml_backend.students.base import TrainItem

    with ClipSource(
        frames=StoredFrames([spec.frame], name=spec.clip_key),
        audio=WavAudio(spec.audio, name=f"audio track of {spec.clip_key}"),
        fps=float(spec.fps),
        source=spec.clip_key,
    ) as source:
        picture = np.array(source.frames.read(0))  # writable: students may hand it to torch as it is
        audio = source.audio_window(0)
        sample_rate = source.sample_rate
    height, width = picture.shape[:2]
    if spec.probability is not None:
        target = _probability_map(spec.probability, size=(height, width), where=f"{spec.clip_key} frame")
    else:
        target = np.zeros((height, width), dtype=np.float32)
        for k, rle in enumerate(spec.masks):
            mask = rle_to_mask(dict(rle))
            if mask.shape != (height, width):
                raise ValueError(
                    f"{spec.clip_key} frame {spec.frame.index}: mask {k} is {mask.shape[1]}×{mask.shape[0]} but the "
                    f"frame is {width}×{height}"
                )
            target[mask] = 1.0
    return TrainItem(
        frame=picture,
        audio=audio,
        sample_rate=sample_rate,
        target=target,
        source=spec.source,
        label=spec.label,
        clip_key=spec.clip_key,
        frame_index=int(spec.frame.index),
    )


def _probability_map(opener: Opener, *, size: tuple[int, int], where: str) -> np.ndarray:
    """H×W float32 in [0, 1] from an 8-bit greyscale picture of any size (bilinear to `size` = (H, W))."""
    from PIL import Image

    with opener() as handle:
        image = Image.open(handle)
        image.load()
    image = image.convert("L")
    if image.size != (size[1], size[0]):
        image = image.resize((size[1], size[0]), Image.BILINEAR)
    return np.asarray(image, dtype=np.float32) / 255.0


# --- training -----------------------------------------------------------------------------------------------


def student_config_check(student_config: Mapping[str, Any]) -> dict[str, Any]:
    """The student's full training settings (defaults filled in) as a plain dict; raises `ConfigError` naming the
    setting when `student_config` is not valid (e.g. "students.compact.epochs must be a positive integer").
    Imports no torch."""
    from ml_backend.students.configs import student_config_from_dict

    config = student_config_from_dict(dict(student_config))
    return _config_dict(config)


def check_student_settings(kind: str, settings: Mapping[str, Any], *, prefix: str = "student_config") -> dict[str, Any]:
    """The full training settings (defaults filled in, as a plain dict) of a `kind` student ("compact" |
    "av2t_sam") with `settings` over its defaults, as a training round would build them. Raises `ConfigError`
    naming the first bad setting as `<prefix>.<setting>` ("student_config.epochs must be a positive integer, got
    0"; an unknown one: "student_config.epoch is not a setting of the compact student (known: ...)"). Imports no
    torch: the web process checks settings with it when they are saved."""
    from ml_backend.foundation.config import ConfigError
    from ml_backend.students.configs import student_config_from_dict

    if not isinstance(settings, Mapping):
        raise ConfigError(f"{prefix} must be a JSON object, got {type(settings).__name__}")
    config = student_config_from_dict({**settings, "kind": kind}, prefix=prefix)
    return _config_dict(config)


def _config_dict(config: Any) -> dict[str, Any]:
    to_dict = getattr(config, "to_dict", None)
    return dict(to_dict()) if callable(to_dict) else dataclasses.asdict(config)


def needed_models(config: Mapping[str, Any]) -> tuple[str, ...]:
    """Which foundation components a student's settings (a plain dict with its `kind`) build on: AV2T-SAM on CLAP,
    CLIP and SAM; a compact student on SAM with `visual = "sam"` and on CLAP with `audio = "clap"`."""
    if config.get("kind") == "av2t_sam":
        return ("clap", "clip", "sam")
    names = []
    if config.get("visual") == "sam":
        names.append("sam")
    if config.get("audio") == "clap":
        names.append("clap")
    return tuple(names)


def foundation_models(config_path: str | os.PathLike[str] | None, names: Sequence[str]) -> Any:
    """A `FoundationModels` with the components `names` (of "clap", "clip", "sam") the model configuration at
    `config_path` names, loaded through the process cache under the process's model policy; None when `names` is
    empty. Raises `ValueError` naming the setting when one is needed but not configured, `ConfigError` for an
    invalid configuration, `ModelLoadError` when a model cannot be loaded."""
    if not names:
        return None
    if not config_path:
        raise ValueError(
            f"this student builds on {', '.join(names)}: a model configuration naming them is needed "
            "(the project's model_config or AVS_MODEL_CONFIG)"
        )
    from ml_backend.foundation.config import load_config
    from ml_backend.foundation.policy import current_policy
    from ml_backend.foundation.registry import load_context, process_cache
    from ml_backend.students.base import FoundationModels

    policy = current_policy()
    config = load_config(config_path, policy=policy)
    process_cache.apply(policy)
    context = load_context(config, policy)
    loaded = {}
    for name in names:
        settings = getattr(config.models, name, None)
        if settings is None:
            raise ValueError(f"this student builds on {name}, but models.{name} is not configured in {config_path}")
        loaded[name] = process_cache.get(name, settings, context)
    return FoundationModels(**loaded)


def train_student(
    frames: Sequence[TrainingFrame],
    student_config: Mapping[str, Any],
    *,
    progress: ProgressFn | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    output_dir: str | os.PathLike[str],
    model_config_path: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Train the student `student_config` names (`{"kind": "compact" | "av2t_sam", ...settings}`) on `frames`.

    `progress(dict)` is called within and after every epoch with `{"epoch", "epochs", "step", "steps", "loss",
    "seconds"}` (epoch 1-based; after an epoch, once its checkpoint is written to `checkpoint_dir`); whatever it
    raises stops training and propagates (cancellation), the finished epochs staying in `checkpoint_dir`, from which
    a later call with the same frames and settings resumes. `model_config_path`: the model configuration whose
    foundation models the student builds on (AV2T-SAM needs CLAP, CLIP and SAM).

    Returns `{"path": output_dir, "kind", "config": {...full settings}, "report": {"curve", "items",
    "human_items", "pseudo_items", "resumed_from_epoch", "seconds"}}`. Raises `ConfigError` for invalid settings,
    `ValueError` for no or malformed frames, `MediaError` for a picture or track that cannot be read.
    """
    from ml_backend.students.base import TrainProgress
    from ml_backend.students.registry import build_student, student_config_from_dict

    config = student_config_from_dict(dict(student_config))
    models = foundation_models(model_config_path, needed_models(_config_dict(config)))
    student = build_student(config, models=models)

    def report(p: TrainProgress) -> None:
        if progress is not None:
            progress(dataclasses.asdict(p))

    result = student.fit(TrainingFrames(frames), config, progress=report, checkpoint_dir=checkpoint_dir)
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    student.save(output_dir)
    return {
        "path": os.fspath(output_dir),
        "kind": config.kind,
        "config": _config_dict(config),
        "report": dataclasses.asdict(result),
    }


# --- proposing with a student -------------------------------------------------------------------------------


class _Positions(FrameReader):
    """Positions `positions` of another reader, as a reader of their own (nothing copied)."""

    def __init__(self, inner: FrameReader, positions: range) -> None:
        self.inner = inner
        self.positions = positions
        self.indexes = np.asarray(inner.indexes)[positions.start : positions.stop]
        self.timestamps = np.asarray(inner.timestamps)[positions.start : positions.stop]

    @property
    def size(self) -> tuple[int, int]:
        return self.inner.size

    def read(self, position: int) -> np.ndarray:
        return self.inner.read(self.positions[position])


class StudentProposer:
    """A trained student behind the `Proposer` interface of `ml_backend.serving.proposals`: it proposes a clip
    `chunk_frames` frames at a time, handing each frame out (`emit`) before the next chunk is read."""

    def __init__(self, student: Any) -> None:
        self.student = student

    def propose(self, clip: ClipMedia, *, labels: Sequence[str] = ()) -> ClipProposal:
        return self.student.predict(clip, labels=labels)

    def propose_source(
        self,
        source: ClipSource,
        *,
        labels: Sequence[str] = (),
        emit: Callable[[Any], None] | None = None,
        chunk_frames: int = 16,
    ) -> ClipProposal:
        kept = []
        model, meta = getattr(self.student, "name", "student"), {}
        for positions in chunks(source.num_frames, chunk_frames):
            part = ClipSource(
                frames=_Positions(source.frames, positions), audio=source.audio, fps=source.fps, source=source.source
            )
            proposal = self.student.predict(part, labels=labels)  # not closed: the readers are the caller's
            model, meta = proposal.model, proposal.meta
            for frame in proposal.frames:
                if emit is not None:
                    emit(frame)
                else:
                    kept.append(frame)
        return ClipProposal(frames=kept, model=model, meta=meta)


_STUDENTS: OrderedDict[tuple[str, int, str], Any] = OrderedDict()
_STUDENTS_LOCK = threading.Lock()


def _folder_stamp(path: Path) -> int:
    """Changes whenever a file of the saved student changes (its newest modification time, in ns)."""
    return max((entry.stat().st_mtime_ns for entry in path.iterdir() if entry.is_file()), default=0)


def load_student(
    path: str | os.PathLike[str],
    *,
    device: str = "auto",
    model_config_path: str | os.PathLike[str] | None = None,
) -> Any:
    """The student saved at `path` (its `student.json` names its kind), loaded once per process and reused while
    the folder is unchanged. Raises `ValueError` when the folder holds no loadable student."""
    from ml_backend.students.registry import load_student as registry_load

    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a saved student (no such folder)")
    key = (os.fspath(folder.resolve()), _folder_stamp(folder), device)
    with _STUDENTS_LOCK:
        if key in _STUDENTS:
            _STUDENTS.move_to_end(key)
            return _STUDENTS[key]
    try:
        saved = json.loads((folder / "student.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{folder} is not a saved student ({exc})") from exc
    settings = saved.get("config") if isinstance(saved, dict) else None
    models = foundation_models(model_config_path, needed_models(settings if isinstance(settings, dict) else {}))
    student = registry_load(folder, device=device, models=models)
    with _STUDENTS_LOCK:
        _STUDENTS[key] = student
        while len(_STUDENTS) > STUDENT_CACHE_SIZE:
            _STUDENTS.popitem(last=False)
    return student


def load_student_proposer(
    path: str | os.PathLike[str],
    *,
    name: str = "",
    config_hash: str = "",
    device: str = "auto",
    model_config_path: str | os.PathLike[str] | None = None,
) -> Any:
    """A `LoadedProposer` (kind "student") running the student saved at `path`; `name` and `config_hash` are what
    the result's `model` reports (the caller's identity of this student, e.g. its model version's)."""
    from ml_backend.serving.proposals import LoadedProposer

    student = load_student(path, device=device, model_config_path=model_config_path)
    return LoadedProposer(
        StudentProposer(student),
        kind="student",
        name=name or getattr(student, "name", "student"),
        config_hash=config_hash,
    )


def propose_stored_clip_student(
    *,
    student_path: str | os.PathLike[str],
    frames: Sequence[StoredFrame],
    audio: Opener | None,
    fps: float,
    name: str = "",
    labels: Sequence[str] = (),
    chunk_frames: int = 16,
    max_frames: int | None = None,
    model_name: str = "",
    model_hash: str = "",
    model_config_path: str | os.PathLike[str] | None = None,
    **stream_options: Any,
) -> dict[str, Any]:
    """`propose_stored_clip` with the student saved at `student_path` as the proposer (same arguments and result;
    `model_name`/`model_hash` are reported as the result's `model.name`/`model.config_hash`; `stream_options`, e.g.
    `write_file`, `probability_map_max_side`, `evidence_max_bytes`, `on_frame`, go to `LoadedProposer.stream`).
    A student does not fall back to the baseline: a student that cannot load raises `ValueError`.

    Raises `ClipTooLongError` (more than `max_frames` frames), `ClipInputError` (no audio track or silent audio),
    `MediaError` (a frame or the track cannot be read)."""
    require_frame_budget(len(frames), max_frames=max_frames)
    if audio is None:
        raise ClipInputError("the clip has no audio track: a student proposes from the sound and the pictures")
    loaded = load_student_proposer(
        student_path, name=model_name, config_hash=model_hash, model_config_path=model_config_path
    )
    stream_options.pop("cache", None)  # the process cache of the OpenAVS models: students keep their own
    reader = StoredFrames(frames, name=name)
    with ClipSource(frames=reader, audio=WavAudio(audio, name="audio track"), fps=float(fps), source=name) as clip:
        return loaded.stream(clip, labels=labels, chunk_frames=chunk_frames, **stream_options)
