"""Export a project's annotations: AVSBench layout, COCO instance segmentation (RLE), or the platform's JSON.

What is exported: the ready clips that have at least one accepted annotation (or submitted, with
`include_submitted`), all their frames, and the masks of the frames whose annotation is exported. Frames
without an exported annotation carry no mask (AVSBench), no COCO image, and `"annotation": null` (JSON).

Formats (files at the archive's root):

- `avsbench`: the layout of `protocol` (REFERENCES.md §2) — S4/MS3: frames as PNG, binary masks (the union
  of a frame's instances, 0/255), `audio_wav/...wav` and the metadata CSV; AVSS: frames as JPEG, colour masks
  (`labels_rgb/{i}.png`, VOC palette) with `label2idx.json` and `metadata.csv`. Label indices are the 70
  AVSBench classes first (matched case-insensitively, as in the official `label2idx.json`), then the
  project's other labels by name. Clips imported from an AVSBench dataset keep their video id, split,
  category, subset and metadata; other clips are named `{file stem}_{clip id}`, go to split `test`, and
  take their most frequent label as S4 category. Frames already in the wanted format are copied byte for
  byte, others converted (PNG lossless; JPEG quality 95). Audio: mono 16-bit WAV at 16 kHz (resampled when
  the project's rate differs).
- `coco`: `annotations/instances.json` + `images/{clip id}/{frame index:05d}.{png|jpg}`. One image per
  exported frame (`id` = frame id; `clip_id`, `clip_name`, `frame_index`, `timestamp` in seconds,
  `annotation_status`, `annotation_version` beside `file_name`, `width`, `height`); one annotation per
  instance with `segmentation` a compressed COCO RLE `{"size": [H, W], "counts": str}`, `iscrowd` 0, `area`,
  `bbox` [x, y, w, h]; categories are the project's labels (`id` = label id).
- `json`: `avs_studio.json`: project, labels, clips with frames, each frame's annotation (instances as RLE,
  status, version, author, reviews, revision history) or null.

Memory: no export is held whole. Clips, frames and annotations are read in the same order (clip, frame index),
`EXPORT_CHUNK` rows at a time, and merged clip by clip; frames and annotations as plain rows (`values()`, only
the columns written: no model instances, whose reference cycles would outlive their chunk until a full garbage
collection), reviews and revisions with each chunk of annotations; a frame's masks are decoded when its mask
file is written. JSON and COCO documents are written item by item into their file (the same text `json.dumps`
would give); an archive is written entry by entry. Revision masks are never read (the history exports
version, status, author and time). A zip export is written once, to a temporary file that then becomes the
target (or, for an export job, is saved to storage).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import shutil
import tempfile
import time
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO, Generic, Protocol, TextIO, TypeVar

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.files import File
from django.core.files.storage import Storage, default_storage
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from PIL import Image
from pycocotools import mask as mask_utils

from ml_backend.serving.datasets import (
    AUDIO_SAMPLE_RATE,
    LABEL2IDX_FILE,
    METADATA_COLUMNS,
    METADATA_FILES,
    PROTOCOLS,
    label2idx,
    layout_record,
    write_binary_mask,
    write_color_mask,
)
from ml_backend.serving.media import iter_audio_mono, write_wav
from server.annotations.models import Annotation, AnnotationRevision, Review
from server.core.errors import ApplicationError
from server.core.masks import rle_area, rle_decode
from server.datasets.models import DatasetClip, Export
from server.datasets.selectors import export_annotation_list, export_clip_list, export_frame_list
from server.jobs.models import Job
from server.jobs.services import job_create, job_fail, job_progress, job_start, job_succeed
from server.media.models import AudioTrack, Clip, Frame, Label, Project
from server.media.services import RETRYABLE_ERRORS

logger = logging.getLogger(__name__)

DEFAULT_SPLIT = "test"  # split of clips that were not imported from an AVSBench dataset
MAX_PALETTE_INDEX = 255
JSON_FILE = "avs_studio.json"
COCO_FILE = "annotations/instances.json"
STORED_SUFFIXES = (".png", ".jpg", ".jpeg", ".wav", ".zip")  # already compressed: stored as they are in the zip
EXPORT_CHUNK = 200  # rows (annotations with their masks, frames, clips) read from the database at a time
FRAME_COLUMNS = ("id", "clip_id", "index", "timestamp", "width", "height", "image")

Progress = Callable[[int, int], None]  # (clips done, clips in all)
T = TypeVar("T")


@dataclass
class ExportSelection:
    """What an export covers: the ready clips of `project` with an exported annotation (accepted; submitted too
    with `include_submitted`), their frames and those annotations — querysets, read in chunks when written."""

    project: Project
    include_submitted: bool
    n_clips: int  # clips when selected (for progress)

    def clips(self) -> QuerySet[Clip]:
        return export_clip_list(project_id=self.project.pk, include_submitted=self.include_submitted)

    def frames(self) -> QuerySet[Frame]:
        return export_frame_list(clips=self.clips())

    def annotations(self) -> QuerySet[Annotation]:
        return export_annotation_list(project_id=self.project.pk, include_submitted=self.include_submitted)

    def frame_rows(self) -> Iterator[dict[str, Any]]:
        """Every frame of the clips, by clip and index: `{id, clip_id, index, timestamp, width, height, image}`."""
        return _chunks(self.frames().values(*FRAME_COLUMNS))

    def annotation_rows(self, *columns: str, **expressions: Any) -> Iterator[dict[str, Any]]:
        """The exported annotations by clip and frame index, as `{"clip_id", *columns, *expressions}` rows."""
        return _chunks(self.annotations().values("clip_id", *columns, **expressions))


def export_select(*, project: Project, include_submitted: bool = False) -> ExportSelection:
    """What to export; ApplicationError when there is nothing."""
    n_clips = export_clip_list(project_id=project.pk, include_submitted=include_submitted).count()
    if not n_clips:
        which = "accepted or submitted" if include_submitted else "accepted"
        hint = "" if include_submitted else " (include_submitted also takes submitted ones)"
        raise ApplicationError(f'Project "{project.name}" has no {which} annotations to export{hint}.')
    return ExportSelection(project=project, include_submitted=include_submitted, n_clips=n_clips)


def export_protocol_resolve(*, selection: ExportSelection, protocol: str | None) -> str:
    """The AVSBench protocol to write: the one asked for, else the one every imported clip came from."""
    if protocol:
        if protocol not in PROTOCOLS:
            raise ApplicationError(f"protocol must be one of {', '.join(PROTOCOLS)}, not {protocol}.")
        return protocol
    clips = selection.clips()
    origins = set(
        DatasetClip.objects.filter(clip__in=clips.values("pk")).order_by().values_list("protocol", flat=True).distinct()
    )
    if len(origins) == 1 and not clips.filter(dataset_origin__isnull=True).exists():
        return origins.pop()
    raise ApplicationError(
        "Say which AVSBench protocol to export: s4 or ms3 (binary masks) or avss (class colour masks).",
        {"field": "protocol"},
    )


# --- where the files go ------------------------------------------------------------------------------------


class ExportSink(Protocol):
    """Where an export's files go: `open(name)` gives a writable binary file for the relative path `name`
    (one at a time); `large` marks a file that may exceed 2 GiB."""

    def open(self, name: str, *, large: bool = False) -> AbstractContextManager[BinaryIO]: ...


class FolderSink:
    """Files below a folder (created)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def open(self, name: str, *, large: bool = False) -> Iterator[BinaryIO]:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            yield handle


class ZipSink:
    """A zip archive written entry by entry (deflated; already-compressed files, `STORED_SUFFIXES`, stored)."""

    def __init__(self, path: Path) -> None:
        self._zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED)

    @contextmanager
    def open(self, name: str, *, large: bool = False) -> Iterator[BinaryIO]:
        info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
        stored = Path(name).suffix.lower() in STORED_SUFFIXES
        info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        with self._zip.open(info, "w", force_zip64=large) as handle:
            yield handle  # type: ignore[misc]

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> ZipSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def _text(sink: ExportSink, name: str, *, large: bool = False) -> Iterator[TextIO]:
    with sink.open(name, large=large) as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
        yield text


# --- JSON written item by item -------------------------------------------------------------------------------


class JsonStream:
    """A JSON array whose items an iterable yields while it is written (see `json_write`)."""

    def __init__(self, items: Iterable[Any]) -> None:
        self.items = items


def json_write(out: TextIO, value: Any, *, indent: int | None = None, depth: int = 0) -> None:
    """Write `value` as `json.dumps(value, indent=indent)` would, with every `JsonStream` (and every dict holding
    one) written piece by piece: only one item of a stream is in memory at a time."""
    pad = "" if indent is None else "\n" + " " * (indent * (depth + 1))
    if isinstance(value, JsonStream):
        opening, closing, parts = "[", "]", ((None, item) for item in value.items)
    elif isinstance(value, dict) and any(isinstance(v, JsonStream) for v in value.values()):
        opening, closing, parts = "{", "}", ((key, item) for key, item in value.items())
    else:
        text = json.dumps(value, indent=indent)
        out.write(text if indent is None else text.replace("\n", "\n" + " " * (indent * depth)))
        return
    out.write(opening)
    first = True
    for key, item in parts:
        out.write(("" if first else ",") + (pad if indent is not None else ("" if first else " ")))
        if key is not None:
            out.write(json.dumps(key) + ": ")
        json_write(out, item, indent=indent, depth=depth + 1)
        first = False
    if indent is not None and not first:
        out.write("\n" + " " * (indent * depth))
    out.write(closing)


# --- streams read clip by clip ---------------------------------------------------------------------------------


class _ByClip(Generic[T]):
    """Rows of a stream ordered by clip id, taken clip by clip; rows of clips never asked for are skipped."""

    def __init__(self, rows: Iterable[T], clip_of: Callable[[T], int]) -> None:
        self._rows = iter(rows)
        self._clip_of = clip_of
        self._head = next(self._rows, None)

    def of(self, clip_id: int) -> Iterator[T]:
        """The rows of `clip_id` (consume them before asking for a later clip)."""
        while self._head is not None and self._clip_of(self._head) < clip_id:
            self._head = next(self._rows, None)
        while self._head is not None and self._clip_of(self._head) == clip_id:
            row, self._head = self._head, next(self._rows, None)
            yield row


def _chunks(queryset: QuerySet[Any]) -> Iterator[Any]:
    return queryset.iterator(chunk_size=EXPORT_CHUNK)


def _clip_of(row: dict[str, Any]) -> int:
    return row["clip_id"]


def _username_field() -> str:
    return get_user_model().USERNAME_FIELD


# --- writing an export -----------------------------------------------------------------------------------------


def export_write(
    *,
    selection: ExportSelection,
    fmt: str,
    out: Path | ExportSink,
    protocol: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write the export of `selection` in format `fmt` into `out` (a folder, created, or a sink such as a
    `ZipSink`); returns a summary `{"format", "protocol", "include_submitted", "clips", "frames",
    "annotated_frames", "instances"}`."""
    sink = FolderSink(out) if isinstance(out, Path) else out
    if fmt == Export.Format.AVSBENCH:
        protocol = export_protocol_resolve(selection=selection, protocol=protocol)
        summary = _write_avsbench(selection, sink, protocol=protocol, progress=progress)
    elif fmt == Export.Format.COCO:
        summary = _write_coco(selection, sink, progress=progress)
    elif fmt == Export.Format.JSON:
        summary = _write_json(selection, sink, progress=progress)
    else:
        raise ApplicationError(f"format must be one of {', '.join(Export.Format.values)}, not {fmt}.")
    return {
        "format": fmt,
        "protocol": protocol if fmt == Export.Format.AVSBENCH else "",
        "include_submitted": selection.include_submitted,
        **summary,
    }


def export_to_path(
    *,
    project: Project,
    fmt: str,
    out: str | Path,
    include_submitted: bool = False,
    protocol: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Export into `out`: a zip archive when it ends in `.zip`, else a folder (which must not exist or be empty).

    Written once, beside `out` (a temporary archive or folder), and moved into place when complete.
    """
    out = Path(out).expanduser()
    is_zip = out.suffix.lower() == ".zip"
    if not is_zip and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ApplicationError(f"{out} exists and is not an empty folder; choose a new folder or a .zip path.")
    selection = export_select(project=project, include_submitted=include_submitted)
    if fmt == Export.Format.AVSBENCH:
        protocol = export_protocol_resolve(selection=selection, protocol=protocol)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="avs-export-", dir=out.parent) as tmp:
        if is_zip:
            partial_zip = Path(tmp) / "export.zip"
            with ZipSink(partial_zip) as sink:
                summary = export_write(selection=selection, fmt=fmt, out=sink, protocol=protocol, progress=progress)
            os.replace(partial_zip, out)
        else:
            build = Path(tmp) / "export"
            summary = export_write(selection=selection, fmt=fmt, out=build, protocol=protocol, progress=progress)
            if out.exists():
                out.rmdir()
            shutil.move(str(build), str(out))
    return summary


# --- the API's asynchronous export --------------------------------------------------------------------


def export_create(
    *, project: Project, user: Any, fmt: str, include_submitted: bool = False, protocol: str | None = None
) -> Export:
    """Queue an export of `project` (a Job of kind export; the archive is built by `export_run`).

    Checked now, so that the request fails with a readable 400 rather than the job: the format, that there is
    something to export, and (AVSBench) the protocol.
    """
    if fmt not in Export.Format.values:
        raise ApplicationError(f"format must be one of {', '.join(Export.Format.values)}.", {"field": "format"})
    selection = export_select(project=project, include_submitted=include_submitted)
    resolved = export_protocol_resolve(selection=selection, protocol=protocol) if fmt == Export.Format.AVSBENCH else ""
    with transaction.atomic():
        job = job_create(project_id=project.pk, kind=Job.Kind.EXPORT, created_by=user, message="Queued for export.")
        export = Export.objects.create(
            project=project,
            job=job,
            format=fmt,
            protocol=resolved,
            include_submitted=include_submitted,
            created_by=user,
        )
        job.target_type, job.target_id = ContentType.objects.get_for_model(Export), export.pk
        job.save(update_fields=["target_type", "target_id"])
        transaction.on_commit(partial(_enqueue_export, export_id=export.pk, job_id=job.pk))
    return export


def _enqueue_export(*, export_id: int, job_id: int) -> None:
    from kombu.exceptions import OperationalError as BrokerError

    from server.datasets.tasks import export_run_task

    try:
        export_run_task.delay(export_id)
    except BrokerError as exc:
        logger.exception("could not queue export %s", export_id)
        job_fail(
            job_id=job_id,
            error=f"The export could not be queued: the task broker is unreachable ({exc}; setting CELERY_BROKER_URL).",
        )


def export_run(*, export_id: int, storage: Storage | None = None) -> None:
    """Build the archive of an export (the Celery task's body): job running → succeeded with the zip in storage
    at `projects/{pid}/exports/{export id}/{project}-{format}[-{protocol}].zip`, or failed with a readable error.

    The archive is written entry by entry into one temporary file, which is then saved to storage."""
    storage = storage or default_storage
    export = Export.objects.select_related("project", "job").filter(pk=export_id).first()
    if export is None:
        return
    job_id = export.job_id
    if export.job.status == Job.Status.SUCCEEDED:
        return
    job_start(job_id=job_id, message="Collecting annotations.")
    stored = None
    try:
        selection = export_select(project=export.project, include_submitted=export.include_submitted)

        def report(done: int, total: int) -> None:
            job_progress(
                job_id=job_id, progress=90.0 * done / max(total, 1), message=f"Exported {done} of {total} clips."
            )

        with tempfile.TemporaryDirectory(prefix="avs-export-") as tmp:
            archive = Path(tmp) / "export.zip"
            with ZipSink(archive) as sink:
                summary = export_write(
                    selection=selection, fmt=export.format, out=sink, protocol=export.protocol or None, progress=report
                )
            job_progress(job_id=job_id, progress=95, message="Storing the archive.")
            name = _archive_name(export)
            with open(archive, "rb") as handle:
                stored = storage.save(export_file_name(export, name), File(handle, name=name))
            size = archive.stat().st_size
        Export.objects.filter(pk=export.pk).update(file=stored, size_bytes=size, summary=summary)
        job_succeed(job_id=job_id, message=_summary_text(summary))
    except RETRYABLE_ERRORS:
        _discard(storage, stored)
        raise
    except ApplicationError as exc:
        _discard(storage, stored)
        job_fail(job_id=job_id, error=exc.message, message="Export failed.")
    except Exception as exc:
        _discard(storage, stored)
        logger.exception("export %s failed", export_id)
        job_fail(
            job_id=job_id,
            error=f"The export failed unexpectedly ({type(exc).__name__}: {exc}). The error was logged.",
            message="Export failed.",
        )


def export_file_name(export: Export, name: str) -> str:
    return Export._meta.get_field("file").generate_filename(export, name)


def _archive_name(export: Export) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", export.project.name).strip("-") or f"project-{export.project_id}"
    parts = [slug, export.format] + ([export.protocol] if export.protocol else [])
    return "-".join(parts) + ".zip"


def _summary_text(summary: dict[str, Any]) -> str:
    what = summary["format"] + (f" {summary['protocol']}" if summary.get("protocol") else "")
    return (
        f"Exported {summary['clips']} clips, {summary['annotated_frames']} annotated frames, "
        f"{summary['instances']} instances ({what})."
    )


def _discard(storage: Storage, name: str | None) -> None:
    if name:
        try:
            storage.delete(name)
        except Exception:
            logger.exception("could not delete %s", name)


# --- shared helpers ------------------------------------------------------------------------------------


def _origin(clip: Clip) -> DatasetClip | None:
    try:
        return clip.dataset_origin
    except DatasetClip.DoesNotExist:
        return None


def _audio(clip: Clip) -> AudioTrack | None:
    try:
        return clip.audio
    except AudioTrack.DoesNotExist:
        return None


def _suffix(image: str) -> str:
    """The file suffix of a stored frame image (`image`: its name in storage), .jpeg spelt .jpg."""
    suffix = Path(image).suffix.lower()
    return ".jpg" if suffix == ".jpeg" else suffix


def _write_frame(frame: dict[str, Any], sink: ExportSink, name: str) -> None:
    """The image of frame row `frame` (`FRAME_COLUMNS`) as `name`: its stored bytes when the formats agree,
    else converted (by suffix)."""
    suffix = Path(name).suffix.lower()
    wanted = ".jpg" if suffix in (".jpg", ".jpeg") else suffix
    try:
        source = Frame._meta.get_field("image").storage.open(frame["image"], "rb")
    except FileNotFoundError:
        raise ApplicationError(
            f"Frame {frame['index']} of clip {frame['clip_id']} is missing from media storage ({frame['image']})."
        ) from None
    with source:
        if _suffix(frame["image"]) == wanted:
            with sink.open(name) as out:
                shutil.copyfileobj(source, out)
            return
        with Image.open(source) as image:
            rgb = image.convert("RGB")
    with sink.open(name) as out:
        if wanted == ".jpg":
            rgb.save(out, format="JPEG", quality=95)
        else:
            rgb.save(out, format="PNG")


@contextmanager
def _local_file(field: Any) -> Iterator[str]:
    """A local path of a stored file (a temporary copy when the storage is not a local folder)."""
    try:
        path = field.storage.path(field.name)
    except NotImplementedError:
        path = None
    if path is not None and os.path.isfile(path):
        yield path
        return
    with tempfile.NamedTemporaryFile(suffix=Path(field.name).suffix) as copy, field.open("rb") as stored:
        shutil.copyfileobj(stored, copy)
        copy.flush()
        yield copy.name


def _write_audio(audio: AudioTrack, sink: ExportSink, name: str, *, sample_rate: int) -> None:
    """The clip's audio as `name`, mono 16-bit WAV at `sample_rate` Hz (copied when it already is; resampled
    through a temporary file otherwise, as a WAV header is completed after its samples)."""
    try:
        if audio.sample_rate == sample_rate:
            with audio.file.open("rb") as source, sink.open(name) as out:
                shutil.copyfileobj(source, out)
            return
        with _local_file(audio.file) as local, tempfile.TemporaryFile() as resampled:
            write_wav(resampled, iter_audio_mono(local, sample_rate=sample_rate), sample_rate)
            resampled.seek(0)
            with sink.open(name) as out:
                shutil.copyfileobj(resampled, out)
    except FileNotFoundError:
        raise ApplicationError(f"The audio of clip {audio.clip_id} is missing from media storage.") from None


def _union(instances: list[dict[str, Any]], size: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(size, dtype=bool)
    for instance in instances:
        mask |= rle_decode(instance["mask"]).astype(bool)
    return mask


def _label_map(instances: list[dict[str, Any]], index_of: dict[str, int], size: tuple[int, int]) -> np.ndarray:
    """H×W uint8 label indices of a frame: instances painted in order (later ones on top), 0 elsewhere."""
    labels = np.zeros(size, dtype=np.uint8)
    for instance in instances:
        labels[rle_decode(instance["mask"]).astype(bool)] = index_of[instance["label"].lower()]
    return labels


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "clip"


def _labels_by_clip(selection: ExportSelection) -> tuple[dict[int, Counter[str]], list[str]]:
    """({clip id: how often each label occurs in its exported annotations}, every label in order of first use):
    one pass over the annotations' instances, `EXPORT_CHUNK` at a time."""
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    names: dict[str, None] = {}
    for row in selection.annotation_rows("instances"):
        for instance in row["instances"]:
            counts[row["clip_id"]][instance["label"]] += 1
            names.setdefault(instance["label"], None)
    return counts, list(names)


# --- AVSBench ----------------------------------------------------------------------------------------------


def _avss_label2idx(selection: ExportSelection, used_labels: list[str]) -> dict[str, int]:
    """The AVSBench classes (official indices), then the project's and the annotations' other labels by name."""
    mapping = label2idx()
    known = {name.lower() for name in mapping}
    names = list(Label.objects.filter(project=selection.project).values_list("name", flat=True))
    names += used_labels
    extra: dict[str, str] = {}
    for name in sorted(names, key=str.lower):
        if name.lower() not in known:
            extra.setdefault(name.lower(), name)
    next_index = max(mapping.values()) + 1
    for k, name in enumerate(extra.values()):
        mapping[name] = next_index + k
    if max(mapping.values()) > MAX_PALETTE_INDEX:
        raise ApplicationError(
            f"The AVSS colour masks have room for {MAX_PALETTE_INDEX} classes; this project uses "
            f"{max(mapping.values())} (the 70 AVSBench classes and its own labels)."
        )
    return mapping


@dataclass
class _Identity:
    vid: str  # S4/MS3 video id; AVSS uid
    split: str
    category: str = ""
    subset: str = ""
    row: dict[str, Any] | None = None


def _identity(clip: Clip, *, protocol: str, labels: Counter[str], num_frames: int, used: set[str]) -> _Identity:
    """Where `clip` goes in the layout; `labels`: how often each label occurs in its exported annotations."""
    origin = _origin(clip)
    meta = dict(origin.metadata) if origin is not None else {}
    if origin is not None and origin.protocol == "avss":
        base_vid = meta.get("vid") or origin.vid
    elif origin is not None:
        base_vid = origin.vid
    else:
        base_vid = f"{_slug(Path(clip.name).stem)}_{clip.pk}"
    split = origin.split if origin is not None else DEFAULT_SPLIT
    start = str(meta.get("start") or "0")
    if protocol == "s4":
        if origin is not None and origin.protocol == "s4" and origin.category:
            category = origin.category
        else:
            category = labels.most_common(1)[0][0] if labels else "sounding object"
        category = category.replace("/", "_").replace("\\", "_")
        vid = _unique(base_vid, clip, used, key=f"{split}/{category}")
        return _Identity(
            vid, split, category=category, row={"name": vid, "start": start, "category": category, "split": split}
        )
    if protocol == "ms3":
        vid = _unique(base_vid, clip, used, key="")
        return _Identity(vid, split, row={"video_id": vid, "split": split})
    if origin is not None and origin.protocol == "avss":
        uid, subset = origin.vid, origin.subset
    else:
        uid = f"{base_vid}_{start}" if origin is not None else base_vid
        subset = "v2" if num_frames != 5 else ("v1m" if len(labels) > 1 else "v1s")
    uid = _unique(uid, clip, used, key=subset)
    row = {
        "vid": base_vid,
        "uid": uid,
        "s_min": meta.get("s_min", int(start) // 60 if start.isdigit() else 0),
        "s_sec": meta.get("s_sec", int(start) % 60 if start.isdigit() else 0),
        "a_obj": meta.get("a_obj", "_".join(sorted(labels))),
        "split": split,
        "label": subset,
    }
    return _Identity(uid, split, subset=subset, row=row)


def _unique(vid: str, clip: Clip, used: set[str], *, key: str) -> str:
    if f"{key}/{vid}" in used:
        vid = f"{vid}_{clip.pk}"
    used.add(f"{key}/{vid}")
    return vid


def _write_avsbench(
    selection: ExportSelection, sink: ExportSink, *, protocol: str, progress: Progress | None
) -> dict[str, Any]:
    """The layout, clip by clip. A first pass over the annotations collects the labels (the S4 category and the
    AVSS subset, `a_obj` and label indices depend on them); the second writes the masks."""
    labels_of: dict[int, Counter[str]] = {}
    index_of: dict[str, int] = {}
    mapping = None
    if protocol in ("s4", "avss"):
        labels_of, used_labels = _labels_by_clip(selection)
        if protocol == "avss":
            mapping = _avss_label2idx(selection, used_labels)
            index_of = {name.lower(): index for name, index in mapping.items()}
    frames = _ByClip(selection.frame_rows(), _clip_of)
    annotations = _ByClip(
        selection.annotation_rows(
            "instances", index=F("frame__index"), height=F("frame__height"), width=F("frame__width")
        ),
        _clip_of,
    )
    rows: list[dict[str, Any]] = []
    used: set[str] = set()
    clips = n_frames = annotated_frames = instances = 0
    for clip in _chunks(selection.clips()):
        clip_frames = list(frames.of(clip.pk))  # the clip's frame rows, not their pixels
        num_frames = max(f["index"] for f in clip_frames) + 1 if clip_frames else 0
        who = _identity(
            clip, protocol=protocol, labels=labels_of.get(clip.pk, Counter()), num_frames=num_frames, used=used
        )
        record = layout_record(
            Path(),
            protocol=protocol,
            vid=who.vid,
            split=who.split,
            num_frames=num_frames,
            category=who.category,
            subset=who.subset,
            labelled=range(num_frames),  # mask paths of every frame; only the annotated ones are written
        )
        for frame in clip_frames:
            _write_frame(frame, sink, record.frame_paths[frame["index"]].as_posix())
        for annotation in annotations.of(clip.pk):
            size = (annotation["height"], annotation["width"])
            path = record.mask_paths[annotation["index"]]
            assert path is not None
            with sink.open(path.as_posix()) as out:
                if protocol == "avss":
                    write_color_mask(out, _label_map(annotation["instances"], index_of, size))
                else:
                    write_binary_mask(out, _union(annotation["instances"], size))
            annotated_frames += 1
            instances += len(annotation["instances"])
        audio = _audio(clip)
        if audio is not None:
            _write_audio(audio, sink, record.audio_path.as_posix(), sample_rate=AUDIO_SAMPLE_RATE)
        assert who.row is not None
        rows.append(who.row)
        clips += 1
        n_frames += len(clip_frames)
        if progress is not None:
            progress(clips, max(selection.n_clips, clips))
    columns = METADATA_COLUMNS[protocol]
    with _text(sink, METADATA_FILES[protocol]) as text:
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([row.get(c, "") for c in columns] for row in rows)
    if mapping is not None:
        with _text(sink, LABEL2IDX_FILE) as text:
            text.write(json.dumps(mapping, indent=1) + "\n")
    return {"clips": clips, "frames": n_frames, "annotated_frames": annotated_frames, "instances": instances}


# --- COCO --------------------------------------------------------------------------------------------------


def _write_coco(selection: ExportSelection, sink: ExportSink, *, progress: Progress | None) -> dict[str, Any]:
    """The images first (a pass over the annotations' frames), then the document: its images (a second such pass)
    and annotations (a pass with the masks) written item by item, categories last (labels met on the way that
    the project no longer has are added)."""

    def frames() -> Iterator[dict[str, Any]]:
        extra = {f"frame_{c}": F(f"frame__{c}") for c in ("index", "timestamp", "width", "height", "image")}
        return selection.annotation_rows("frame_id", "status", "version", clip_name=F("clip__name"), **extra)

    clips: set[int] = set()
    for row in frames():
        frame = {"id": row["frame_id"], "clip_id": row["clip_id"], "index": row["frame_index"]}
        _write_frame(frame | {"image": row["frame_image"]}, sink, f"images/{_coco_file_name(row)}")
        if row["clip_id"] not in clips:
            clips.add(row["clip_id"])
            if progress is not None:
                progress(len(clips), max(selection.n_clips, len(clips)))

    labels = list(Label.objects.filter(project=selection.project).order_by("name"))
    category_of = {label.name.lower(): label.pk for label in labels}
    categories = [{"id": label.pk, "name": label.name, "supercategory": "", "color": label.color} for label in labels]
    counts: Counter[str] = Counter()

    def images() -> Iterator[dict[str, Any]]:
        for row in frames():
            counts["images"] += 1
            yield {
                "id": row["frame_id"],
                "file_name": _coco_file_name(row),
                "width": row["frame_width"],
                "height": row["frame_height"],
                "clip_id": row["clip_id"],
                "clip_name": row["clip_name"],
                "frame_index": row["frame_index"],
                "timestamp": row["frame_timestamp"],
                "annotation_status": row["status"],
                "annotation_version": row["version"],
            }

    def annotations() -> Iterator[dict[str, Any]]:
        next_id = max(category_of.values(), default=0) + 1
        rows = selection.annotation_rows("frame_id", "instances", height=F("frame__height"), width=F("frame__width"))
        for row in rows:
            for instance in row["instances"]:
                name = instance["label"]
                if name.lower() not in category_of:  # a label removed from the vocabulary since
                    category_of[name.lower()] = next_id
                    categories.append({"id": next_id, "name": name, "supercategory": "", "color": ""})
                    next_id += 1
                rle = {"size": [row["height"], row["width"]], "counts": instance["mask"]["counts"]}
                compressed = {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
                counts["annotations"] += 1
                yield {
                    "id": counts["annotations"],
                    "image_id": row["frame_id"],
                    "category_id": category_of[name.lower()],
                    "segmentation": rle,
                    "area": rle_area(rle),
                    "bbox": [float(v) for v in mask_utils.toBbox(compressed)],
                    "iscrowd": 0,
                }

    def all_categories() -> Iterator[dict[str, Any]]:  # read when written: after the annotations
        yield from categories

    document = {
        "info": {
            "description": f'AVS Studio export of project "{selection.project.name}"',
            "version": "1.0",
            "date_created": timezone.now().isoformat(),
        },
        "licenses": [],
        "images": JsonStream(images()),
        "annotations": JsonStream(annotations()),
        "categories": JsonStream(all_categories()),
    }
    with _text(sink, COCO_FILE, large=True) as text:
        json_write(text, document)
    return {
        "clips": len(clips),
        "frames": selection.frames().count(),
        "annotated_frames": counts["images"],
        "instances": counts["annotations"],
    }


def _coco_file_name(row: dict[str, Any]) -> str:
    return f"{row['clip_id']}/{row['frame_index']:05d}{_suffix(row['frame_image'])}"


# --- the platform's JSON -------------------------------------------------------------------------------------


ANNOTATION_COLUMNS = (
    "id",
    "frame_id",
    "status",
    "version",
    "time_spent",
    "external_source",
    "external_id",
    "source_proposal_id",
    "created_at",
    "updated_at",
    "instances",
)


def _write_json(selection: ExportSelection, sink: ExportSink, *, progress: Progress | None) -> dict[str, Any]:
    """`avs_studio.json`, clip by clip and frame by frame."""
    project = selection.project
    frames = _ByClip(selection.frame_rows(), _clip_of)
    rows = selection.annotation_rows(
        *ANNOTATION_COLUMNS, index=F("frame__index"), author_name=F(f"author__{_username_field()}")
    )
    annotations = _ByClip(_with_history(rows), _clip_of)
    counts: Counter[str] = Counter()

    def clips() -> Iterator[dict[str, Any]]:
        for clip in _chunks(selection.clips()):
            yield _clip_json(clip, frames.of(clip.pk), annotations.of(clip.pk), counts)
            counts["clips"] += 1  # resumed once the clip is written
            if progress is not None:
                progress(counts["clips"], max(selection.n_clips, counts["clips"]))

    document = {
        "format": "avs-studio",
        "version": 1,
        "exported_at": timezone.now().isoformat(),
        "statuses": ["accepted", "submitted"] if selection.include_submitted else ["accepted"],
        "project": {
            "id": project.pk,
            "name": project.name,
            "fps": project.fps,
            "audio_sample_rate": project.audio_sample_rate,
        },
        "labels": [
            {"id": label.pk, "name": label.name, "color": label.color}
            for label in Label.objects.filter(project=project).order_by("name")
        ],
        "clips": JsonStream(clips()),
    }
    with _text(sink, JSON_FILE, large=True) as text:
        json_write(text, document, indent=1)
    return {
        "clips": counts["clips"],
        "frames": counts["frames"],
        "annotated_frames": counts["annotated_frames"],
        "instances": counts["instances"],
    }


def _with_history(rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Annotation rows with their `reviews` (oldest first) and `revisions` (by version; their masks are not
    read): two queries per chunk of `EXPORT_CHUNK` annotations."""
    while chunk := list(islice(rows, EXPORT_CHUNK)):
        ids = [row["id"] for row in chunk]
        reviews: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for review in (
            Review.objects.filter(annotation_id__in=ids)
            .order_by("created_at", "id")
            .values(
                "annotation_id",
                "verdict",
                "comment",
                "annotation_version",
                "created_at",
                reviewer_name=F(f"reviewer__{_username_field()}"),
            )
        ):
            reviews[review.pop("annotation_id")].append(review)
        revisions: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for revision in (
            AnnotationRevision.objects.filter(annotation_id__in=ids)
            .order_by("annotation_id", "version")
            .values("annotation_id", "version", "status", "created_at", author_name=F(f"author__{_username_field()}"))
        ):
            revisions[revision.pop("annotation_id")].append(revision)
        for row in chunk:
            row["reviews"], row["revisions"] = reviews.get(row["id"], []), revisions.get(row["id"], [])
            yield row


def _clip_json(
    clip: Clip, frames: Iterator[dict[str, Any]], annotations: Iterator[dict[str, Any]], counts: Counter[str]
) -> dict[str, Any]:
    origin = _origin(clip)
    audio = _audio(clip)
    return {
        "id": clip.pk,
        "name": clip.name,
        "checksum": clip.checksum,
        "duration": clip.duration,
        "fps": clip.fps,
        "width": clip.width,
        "height": clip.height,
        "has_audio": clip.has_audio,
        "audio": (
            {"sample_rate": audio.sample_rate, "duration": audio.duration, "num_samples": audio.num_samples}
            if audio is not None
            else None
        ),
        "dataset": (
            {
                "protocol": origin.protocol,
                "split": origin.split,
                "vid": origin.vid,
                "category": origin.category,
                "subset": origin.subset,
                "metadata": origin.metadata,
            }
            if origin is not None
            else None
        ),
        "frames": JsonStream(_frames_json(frames, annotations, counts)),
    }


def _frames_json(
    frames: Iterator[dict[str, Any]], annotations: Iterator[dict[str, Any]], counts: Counter[str]
) -> Iterator[dict[str, Any]]:
    """A clip's frames with their annotations or null (both streams are in frame-index order)."""
    pending = next(annotations, None)
    for frame in frames:
        while pending is not None and pending["index"] < frame["index"]:  # (not on a frame of this clip)
            pending = next(annotations, None)
        annotation = None
        if pending is not None and pending["frame_id"] == frame["id"]:
            annotation, pending = pending, next(annotations, None)
            counts["annotated_frames"] += 1
            counts["instances"] += len(annotation["instances"])
        counts["frames"] += 1
        yield {
            "id": frame["id"],
            "index": frame["index"],
            "timestamp": frame["timestamp"],
            "width": frame["width"],
            "height": frame["height"],
            "annotation": _annotation_json(annotation) if annotation is not None else None,
        }


def _annotation_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "status": row["status"],
        "version": row["version"],
        "author": row["author_name"],
        "time_spent": row["time_spent"],
        "external_source": row["external_source"],
        "external_id": row["external_id"],
        "source_proposal": row["source_proposal_id"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        "instances": [{"label": i["label"], "mask": i["mask"]} for i in row["instances"]],
        "reviews": [
            {
                "verdict": review["verdict"],
                "reviewer": review["reviewer_name"],
                "comment": review["comment"],
                "annotation_version": review["annotation_version"],
                "created_at": review["created_at"].isoformat(),
            }
            for review in row["reviews"]
        ],
        "revisions": [
            {
                "version": revision["version"],
                "status": revision["status"],
                "author": revision["author_name"],
                "created_at": revision["created_at"].isoformat(),
            }
            for revision in row["revisions"]
        ],
    }
