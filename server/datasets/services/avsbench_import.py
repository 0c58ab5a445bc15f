"""Import an AVSBench dataset folder (S4, MS3, AVSS; REFERENCES.md §2) into a project.

Per clip of the metadata (optionally one split), in metadata order:

1. **Check** every file before anything is written: frames (present, decodable, one size), the audio (present,
   decodable by PyAV), the ground-truth masks of the frames the layout labels (present, readable, the frames'
   size; AVSS colours in the palette and in `label2idx.json`). Every problem is reported with its file.
2. **Skip** a clip the project already holds: `Clip.checksum` is the SHA-256 of the dataset's frame files (in
   frame order) followed by the audio file, so importing the same folder again reports the existing clips.
3. **Store** it in one transaction: the Clip (ready, fps 1, duration T s, frame size, has_audio), its frames
   (the dataset's files copied byte for byte — PNG stays PNG (S4, MS3), JPEG stays JPEG (AVSS), so masks align
   with the stored frames and nothing is re-encoded), its audio track (mono 16-bit WAV at the project's sample
   rate, resampled by PyAV when the wav differs), the ground truth as **accepted** annotations
   (`external_source` "avsbench", `external_id` "{protocol}:{split}:{vid}:{frame index}", 0-based, version 1,
   no author) and a `DatasetClip` recording where it came from. If anything fails, the transaction rolls back
   and every file written for the clip is deleted: nothing half-imported stays.

Labels: S4 masks get the clip's category; MS3 masks "sounding object" (or the metadata's `category` column,
when the CSV has one); AVSS colour masks become one instance
per class via `label2idx.json` (the 71 AVSBench classes when the file is missing), and new labels take the
class's palette colour. Labels join the project's vocabulary case-insensitively ("Dog" reuses "dog").
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from PIL import Image

from ml_backend.serving.datasets import (
    BACKGROUND,
    FRAME_POSITION,
    PROTOCOLS,
    ClipRecord,
    DatasetError,
    colors_to_labels,
    complete_record,
    label2idx,
    read_binary_mask,
    read_label2idx,
    read_layout,
    read_split,
    voc_palette,
)
from ml_backend.serving.media import MediaError, iter_audio_mono, write_wav
from server.annotations.models import Annotation, AnnotationRevision
from server.annotations.services import (
    LABEL_PALETTE,
    PROPOSAL_FALLBACK_LABEL,
    clip_annotations_changing,
    project_labels_ensure,
)
from server.core.errors import ApplicationError
from server.core.masks import rle_encode
from server.datasets.models import DatasetClip
from server.media.models import AudioTrack, Clip, Frame, Label, Project
from server.media.services import clip_folder, clip_num_frames_refresh, project_clip_counts_refresh

logger = logging.getLogger(__name__)

EXTERNAL_SOURCE = "avsbench"
MS3_LABEL = PROPOSAL_FALLBACK_LABEL  # "sounding object": MS3 masks carry no class
IMPORT_FPS = 1.0  # AVSBench keeps one frame per second
FRAME_EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg"}


@dataclass
class ClipOutcome:
    """What happened to one clip of the dataset. status: imported | existing | failed."""

    vid: str
    split: str
    status: str
    clip_id: int | None = None
    problems: list[str] = field(default_factory=list)
    frames: int = 0
    annotations: int = 0

    def lines(self) -> list[str]:
        name = f"{self.split}/{self.vid}"
        if self.status == "imported":
            return [f"{name}: imported as clip {self.clip_id} ({self.frames} frames, {self.annotations} masks)"]
        if self.status == "existing":
            return [f"{name}: already in the project as clip {self.clip_id}"]
        return [f"{name}: not imported:"] + [f"  {problem}" for problem in self.problems]


@dataclass
class ImportReport:
    protocol: str
    root: str
    outcomes: list[ClipOutcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def failed(self) -> int:
        return self.count("failed")

    def summary(self) -> str:
        return (
            f"{self.count('imported')} imported, {self.count('existing')} already in the project, "
            f"{self.failed} failed (of {len(self.outcomes)} clips)."
        )


@dataclass
class _LoadedClip:
    """A clip's files, checked and read: ready to store."""

    record: ClipRecord
    frames: list[tuple[bytes, str]]  # (file bytes, storage extension) per frame index
    size: tuple[int, int]  # (H, W)
    audio: np.ndarray  # int16 mono at the project's sample rate
    sample_rate: int
    instances: dict[int, list[dict[str, Any]]]  # frame index → [{"mask": H×W bool, "label": str}]
    checksum: str
    size_bytes: int


def avsbench_import(
    *,
    project: Project,
    root: str | Path,
    protocol: str,
    split: str | None = None,
    storage: Storage | None = None,
    on_clip: Callable[[ClipOutcome, int, int], None] | None = None,
) -> ImportReport:
    """Import the clips of the AVSBench `protocol` layout at `root` (only `split` when given) into `project`.

    Returns an ImportReport with one ClipOutcome per clip (in metadata order); a failed clip lists its
    problems file by file and leaves no row and no file behind. `on_clip(outcome, done, total)` is called after
    each clip (progress). Raises ApplicationError when the folder is not such a layout (no metadata file,
    unknown split, unreadable label2idx.json) — then nothing is imported.
    """
    if protocol not in PROTOCOLS:
        raise ApplicationError(f"protocol must be one of {', '.join(PROTOCOLS)}, not {protocol}.")
    storage = storage or default_storage
    root = Path(root).expanduser()
    report = ImportReport(protocol=protocol, root=str(root))
    try:
        records = read_split(root, protocol=protocol, split=split) if split else read_layout(root, protocol=protocol)
        classes = _avss_classes(root, report) if protocol == "avss" else {}
    except DatasetError as exc:
        raise ApplicationError(str(exc)) from exc
    if not records:
        raise ApplicationError(f"{root} lists no clips in its metadata.")

    for done, record in enumerate(records, start=1):
        outcome = _import_one(
            project=project, record=complete_record(record), classes=classes, storage=storage, root=str(root)
        )
        report.outcomes.append(outcome)
        if on_clip is not None:
            on_clip(outcome, done, len(records))
    return report


def _avss_classes(root: Path, report: ImportReport) -> dict[int, str]:
    """{index: class name} of the dataset's label2idx.json (background excluded)."""
    mapping = read_label2idx(root)
    if mapping is None:
        mapping = label2idx()
        report.notes.append(f"{root / 'label2idx.json'} is missing: using the 71 AVSBench classes built in.")
    if max(mapping.values()) >= 256:
        raise DatasetError(f"{root / 'label2idx.json'}: indices above 255 have no palette colour")
    return {index: name for name, index in mapping.items() if name != BACKGROUND and index != 0}


# --- checking and reading ----------------------------------------------------------------------------


def _import_one(
    *, project: Project, record: ClipRecord, classes: dict[int, str], storage: Storage, root: str
) -> ClipOutcome:
    outcome = ClipOutcome(vid=record.vid, split=record.split, status="failed")
    loaded = _load(record=record, classes=classes, sample_rate=project.audio_sample_rate, problems=outcome.problems)
    if loaded is None:
        return outcome
    existing = Clip.objects.filter(project=project, checksum=loaded.checksum).values_list("pk", flat=True).first()
    if existing is not None:
        outcome.status, outcome.clip_id = "existing", existing
        return outcome
    try:
        clip = _store(project=project, loaded=loaded, storage=storage, root=root)
    except IntegrityError:  # imported concurrently (project, checksum is unique)
        existing = Clip.objects.filter(project=project, checksum=loaded.checksum).values_list("pk", flat=True).first()
        if existing is None:
            raise
        outcome.status, outcome.clip_id = "existing", existing
        return outcome
    except Exception as exc:
        logger.exception("storing clip %s of %s failed", record.vid, record.protocol)
        reason = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        outcome.problems.append(f"could not be stored ({reason}); nothing of it was kept")
        return outcome
    outcome.status, outcome.clip_id = "imported", clip.pk
    outcome.frames = len(loaded.frames)
    outcome.annotations = len(loaded.instances)
    return outcome


def _load(*, record: ClipRecord, classes: dict[int, str], sample_rate: int, problems: list[str]) -> _LoadedClip | None:
    """Read and check a clip's files; None (with `problems` filled, one per file) when any is bad."""
    digest = hashlib.sha256()
    frames: list[tuple[bytes, str]] = []
    size: tuple[int, int] | None = None
    for k, path in enumerate(record.frame_paths):
        data, reason = _read_bytes(path)
        if data is None:
            problems.append(
                f"{path}: missing frame {k}" if reason == "missing" else f"{path}: unreadable frame ({reason})"
            )
            continue
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                kind, frame_size = image.format or "", (image.height, image.width)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            problems.append(f"{path}: unreadable frame ({exc})")
            continue
        if kind not in FRAME_EXTENSIONS:
            problems.append(f"{path}: unreadable frame (a {kind or 'unknown'} image; PNG or JPEG expected)")
            continue
        if size is None:
            size = frame_size
        elif frame_size != size:
            problems.append(
                f"{path}: size mismatch: the frame is {frame_size[1]}x{frame_size[0]} but frame 0 is "
                f"{size[1]}x{size[0]} (WxH)"
            )
            continue
        digest.update(data)
        frames.append((data, FRAME_EXTENSIONS[kind]))

    audio: np.ndarray | None = None
    data, reason = _read_bytes(record.audio_path)
    if data is None:
        problems.append(
            f"{record.audio_path}: missing audio"
            if reason == "missing"
            else f"{record.audio_path}: unreadable audio ({reason})"
        )
    else:
        digest.update(data)
        try:
            chunks = list(iter_audio_mono(str(record.audio_path), sample_rate=sample_rate))
            audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        except MediaError as exc:
            problems.append(f"{record.audio_path}: unreadable audio ({exc})")

    instances: dict[int, list[dict[str, Any]]] = {}
    for k in record.labelled_frames:
        path = record.mask_paths[k]
        assert path is not None
        if not path.is_file():
            problems.append(f"{path}: missing mask of frame {k}")
            continue
        try:
            instances[k] = _read_instances(record=record, path=path, classes=classes, size=size)
        except DatasetError as exc:
            problems.append(str(exc))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            problems.append(f"{path}: unreadable mask ({exc})")

    if problems or size is None or audio is None:
        return None
    return _LoadedClip(
        record=record,
        frames=frames,
        size=size,
        audio=audio,
        sample_rate=sample_rate,
        instances=instances,
        checksum=digest.hexdigest(),
        size_bytes=sum(len(data) for data, _ in frames) + 2 * int(audio.size) + 44,
    )


def _read_bytes(path: Path) -> tuple[bytes | None, str]:
    if not path.is_file():
        return None, "missing"
    try:
        return path.read_bytes(), ""
    except OSError as exc:
        return None, exc.strerror or str(exc)


def _read_instances(
    *, record: ClipRecord, path: Path, classes: dict[int, str], size: tuple[int, int] | None
) -> list[dict[str, Any]]:
    """A mask file → instances `[{"mask": H×W bool, "label"}]` (empty list: nothing sounds)."""
    if record.protocol == "avss":
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"))
        _check_size(path, rgb.shape[:2], size)
        try:
            labels = colors_to_labels(rgb, num_classes=max(classes, default=0) + 1, source="")
        except DatasetError as exc:
            raise DatasetError(f"{path}: unreadable mask ({str(exc).removeprefix('mask: ')})") from exc
        present = [int(c) for c in np.unique(labels) if c != 0]
        unknown = [c for c in present if c not in classes]
        if unknown:
            raise DatasetError(f"{path}: unreadable mask (palette index {unknown[0]} is not a class of label2idx.json)")
        return [{"mask": labels == c, "label": classes[c], "index": c} for c in present]
    mask = read_binary_mask(path)
    _check_size(path, mask.shape, size)
    if not mask.any():
        return []
    label = record.category or record.meta.get("category", "").strip() or MS3_LABEL
    return [{"mask": mask, "label": label}]


def _check_size(path: Path, shape: tuple[int, ...], size: tuple[int, int] | None) -> None:
    if size is not None and tuple(shape[:2]) != size:
        raise DatasetError(
            f"{path}: size mismatch: the mask is {shape[1]}x{shape[0]} but the frames are {size[1]}x{size[0]} (WxH)"
        )


# --- storing -----------------------------------------------------------------------------------------


def _store(*, project: Project, loaded: _LoadedClip, storage: Storage, root: str) -> Clip:
    """One transaction for the clip's rows; the files written are deleted if it does not commit."""
    record = loaded.record
    written: list[str] = []
    folder = ""
    try:
        with transaction.atomic():
            height, width = loaded.size
            clip = Clip.objects.create(
                project=project,
                name=record.vid[:255],
                checksum=loaded.checksum,
                size_bytes=loaded.size_bytes,
                duration=len(loaded.frames) / IMPORT_FPS,
                fps=IMPORT_FPS,
                width=width,
                height=height,
                has_audio=True,
                status=Clip.Status.READY,
            )
            folder = clip_folder(clip=clip)
            frames = []
            for k, (data, ext) in enumerate(loaded.frames):
                name = storage.save(f"{folder}/frames/{k:05d}{ext}", ContentFile(data))
                written.append(name)
                frames.append(
                    Frame(
                        clip=clip,
                        index=k,
                        timestamp=(k + FRAME_POSITION) / IMPORT_FPS,
                        image=name,
                        width=width,
                        height=height,
                    )
                )
            Frame.objects.bulk_create(frames)
            clip_num_frames_refresh(clips=Clip.objects.filter(pk=clip.pk))
            with tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024) as wav:
                num_samples = write_wav(wav, loaded.audio, loaded.sample_rate)
                wav.seek(0)
                name = storage.save(f"{folder}/audio.wav", File(wav, name="audio.wav"))
                written.append(name)
            AudioTrack.objects.create(
                clip=clip,
                file=name,
                sample_rate=loaded.sample_rate,
                duration=num_samples / loaded.sample_rate,
                num_samples=num_samples,
            )
            vocabulary = _labels_ensure(project=project, record=record, loaded=loaded)
            by_index = {frame.index: frame for frame in Frame.objects.filter(clip=clip)}
            with clip_annotations_changing(clip_id=clip.pk):  # the clip's and project's counters
                for k, found in sorted(loaded.instances.items()):
                    instances = [{"mask": rle_encode(i["mask"]), "label": vocabulary[i["label"]]} for i in found]
                    annotation = Annotation.objects.create(
                        clip=clip,
                        frame=by_index[k],
                        instances=instances,
                        version=1,
                        status=Annotation.Status.ACCEPTED,
                        external_source=EXTERNAL_SOURCE,
                        external_id=f"{record.protocol}:{record.split}:{record.vid}:{k}",
                    )
                    AnnotationRevision.objects.create(
                        annotation=annotation, version=1, instances=instances, status=Annotation.Status.ACCEPTED
                    )
            DatasetClip.objects.create(
                clip=clip,
                protocol=record.protocol,
                split=record.split,
                vid=record.vid,
                category=record.category,
                subset=record.subset,
                metadata=record.meta,
                source_root=root[:1000],
            )
            project_clip_counts_refresh(project_id=project.pk)  # a ready clip more (done when all is accepted)
    except BaseException:
        _delete_files(storage, written, folder)
        raise
    return clip


def _labels_ensure(*, project: Project, record: ClipRecord, loaded: _LoadedClip) -> dict[str, str]:
    """{dataset label: vocabulary spelling}; AVSS classes new to the project take their palette colour."""
    names = sorted({i["label"] for found in loaded.instances.values() for i in found})
    if record.protocol != "avss":
        return project_labels_ensure(project_id=project.pk, names=names)
    palette = voc_palette(256)
    existing = {
        lowered: name
        for name, lowered in Label.objects.filter(project=project)
        .annotate(lowered=Lower("name"))
        .values_list("name", "lowered")
    }
    classes = {name: index for index, name in _classes_of(loaded).items()}
    vocabulary = {}
    for name in names:
        if name.lower() in existing:
            vocabulary[name] = existing[name.lower()]
            continue
        index = classes.get(name)
        colour = "#{:02x}{:02x}{:02x}".format(*palette[index]) if index is not None else LABEL_PALETTE[0]
        label, _ = Label.objects.get_or_create(project=project, name=name, defaults={"color": colour})
        vocabulary[name] = label.name
    return vocabulary


def _classes_of(loaded: _LoadedClip) -> dict[int, str]:
    """{palette index: class name} of the instances read from the clip's colour masks."""
    out: dict[int, str] = {}
    for found in loaded.instances.values():
        for instance in found:
            index = instance.get("index")
            if index is not None:
                out[int(index)] = instance["label"]
    return out


def _delete_files(storage: Storage, names: list[str], folder: str) -> None:
    for name in names:
        try:
            storage.delete(name)
        except Exception:
            logger.exception("could not delete %s from storage", name)
    if folder:
        for sub in (f"{folder}/frames", folder):
            try:
                os.rmdir(storage.path(sub))
            except (NotImplementedError, OSError):
                pass
