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
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from django.contrib.contenttypes.models import ContentType
from django.core.files import File
from django.core.files.storage import Storage, default_storage
from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone
from PIL import Image
from pycocotools import mask as mask_utils

from ml_backend.serving.datasets import (
    AUDIO_SAMPLE_RATE,
    LABEL2IDX_FILE,
    PROTOCOLS,
    label2idx,
    layout_record,
    write_binary_mask,
    write_color_mask,
    write_metadata,
)
from ml_backend.serving.media import iter_audio_mono, write_wav
from server.annotations.models import Annotation, AnnotationRevision, Review
from server.core.errors import ApplicationError
from server.core.masks import rle_area, rle_decode
from server.datasets.models import DatasetClip, Export
from server.datasets.selectors import export_annotation_list, export_clip_list
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

Progress = Callable[[int, int], None]  # (clips done, clips in all)


@dataclass
class ExportSelection:
    """What an export covers: clips in id order (frames prefetched) and their exported annotations by frame id."""

    project: Project
    clips: list[Clip]
    annotations: dict[int, Annotation]
    include_submitted: bool

    def annotated(self, clip: Clip) -> dict[int, Annotation]:
        """{frame index: annotation} of the clip's exported frames."""
        return {f.index: self.annotations[f.pk] for f in clip.frames.all() if f.pk in self.annotations}


def export_select(*, project: Project, include_submitted: bool = False) -> ExportSelection:
    """The clips and annotations to export; ApplicationError when there is nothing."""
    annotations = {
        a.frame_id: a for a in export_annotation_list(project_id=project.pk, include_submitted=include_submitted)
    }
    if not annotations:
        which = "accepted or submitted" if include_submitted else "accepted"
        hint = "" if include_submitted else " (include_submitted also takes submitted ones)"
        raise ApplicationError(f'Project "{project.name}" has no {which} annotations to export{hint}.')
    clip_ids = sorted({a.clip_id for a in annotations.values()})
    clips = list(export_clip_list(clip_ids=clip_ids))
    return ExportSelection(project=project, clips=clips, annotations=annotations, include_submitted=include_submitted)


def export_protocol_resolve(*, selection: ExportSelection, protocol: str | None) -> str:
    """The AVSBench protocol to write: the one asked for, else the one every imported clip came from."""
    if protocol:
        if protocol not in PROTOCOLS:
            raise ApplicationError(f"protocol must be one of {', '.join(PROTOCOLS)}, not {protocol}.")
        return protocol
    origins = {o.protocol for clip in selection.clips if (o := _origin(clip)) is not None}
    if len(origins) == 1 and all(_origin(clip) is not None for clip in selection.clips):
        return origins.pop()
    raise ApplicationError(
        "Say which AVSBench protocol to export: s4 or ms3 (binary masks) or avss (class colour masks).",
        {"field": "protocol"},
    )


def export_write(
    *,
    selection: ExportSelection,
    fmt: str,
    out: Path,
    protocol: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write the export of `selection` in format `fmt` into the folder `out` (created); returns a summary
    `{"format", "protocol", "clips", "frames", "annotated_frames", "instances"}`."""
    out.mkdir(parents=True, exist_ok=True)
    if fmt == Export.Format.AVSBENCH:
        protocol = export_protocol_resolve(selection=selection, protocol=protocol)
        summary = _write_avsbench(selection, out, protocol=protocol, progress=progress)
    elif fmt == Export.Format.COCO:
        summary = _write_coco(selection, out, progress=progress)
    elif fmt == Export.Format.JSON:
        summary = _write_json(selection, out, progress=progress)
    else:
        raise ApplicationError(f"format must be one of {', '.join(Export.Format.values)}, not {fmt}.")
    return {
        "format": fmt,
        "protocol": protocol if fmt == Export.Format.AVSBENCH else "",
        "include_submitted": selection.include_submitted,
        "clips": len(selection.clips),
        "frames": sum(len(clip.frames.all()) for clip in selection.clips),
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
    """Export into `out`: a zip archive when it ends in `.zip`, else a folder (which must not exist or be empty)."""
    out = Path(out).expanduser()
    is_zip = out.suffix.lower() == ".zip"
    if not is_zip and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ApplicationError(f"{out} exists and is not an empty folder; choose a new folder or a .zip path.")
    selection = export_select(project=project, include_submitted=include_submitted)
    if fmt == Export.Format.AVSBENCH:
        protocol = export_protocol_resolve(selection=selection, protocol=protocol)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="avs-export-", dir=out.parent) as tmp:
        build = Path(tmp) / "export"
        summary = export_write(selection=selection, fmt=fmt, out=build, protocol=protocol, progress=progress)
        if is_zip:
            partial_zip = Path(tmp) / "export.zip"
            _zip_folder(build, partial_zip)
            os.replace(partial_zip, out)
        else:
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
    at `projects/{pid}/exports/{export id}/{project}-{format}[-{protocol}].zip`, or failed with a readable error."""
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
            build = Path(tmp) / "export"
            summary = export_write(
                selection=selection, fmt=export.format, out=build, protocol=export.protocol or None, progress=report
            )
            job_progress(job_id=job_id, progress=95, message="Compressing the archive.")
            archive = Path(tmp) / "export.zip"
            _zip_folder(build, archive)
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


def _zip_folder(folder: Path, archive: Path) -> None:
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            stored = path.suffix.lower() in STORED_SUFFIXES
            zf.write(path, path.relative_to(folder).as_posix(), compress_type=zipfile.ZIP_STORED if stored else None)


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


def _frame_bytes(frame: Frame) -> bytes:
    try:
        with frame.image.open("rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise ApplicationError(
            f"Frame {frame.index} of clip {frame.clip_id} is missing from media storage ({frame.image.name})."
        ) from None


def _suffix(frame: Frame) -> str:
    suffix = Path(frame.image.name).suffix.lower()
    return ".jpg" if suffix == ".jpeg" else suffix


def _write_frame(frame: Frame, path: Path) -> None:
    """The frame's image at `path`: its stored bytes when the formats agree, else converted (by suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _frame_bytes(frame)
    wanted = ".jpg" if path.suffix.lower() in (".jpg", ".jpeg") else path.suffix.lower()
    if _suffix(frame) == wanted:
        path.write_bytes(data)
        return
    with Image.open(io.BytesIO(data)) as image:
        rgb = image.convert("RGB")
    if wanted == ".jpg":
        rgb.save(path, format="JPEG", quality=95)
    else:
        rgb.save(path, format="PNG")


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


def _write_audio(audio: AudioTrack, path: Path, *, sample_rate: int) -> None:
    """The clip's audio at `path` as mono 16-bit WAV at `sample_rate` Hz (copied when it already is)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with _local_file(audio.file) as local:
            if audio.sample_rate == sample_rate:
                shutil.copyfile(local, path)
            else:
                with open(path, "wb") as out:
                    write_wav(out, iter_audio_mono(local, sample_rate=sample_rate), sample_rate)
    except FileNotFoundError:
        raise ApplicationError(f"The audio of clip {audio.clip_id} is missing from media storage.") from None


def _union(annotation: Annotation, size: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(size, dtype=bool)
    for instance in annotation.instances:
        mask |= rle_decode(instance["mask"]).astype(bool)
    return mask


def _label_map(annotation: Annotation, index_of: dict[str, int], size: tuple[int, int]) -> np.ndarray:
    """H×W uint8 label indices of a frame: instances painted in order (later ones on top), 0 elsewhere."""
    labels = np.zeros(size, dtype=np.uint8)
    for instance in annotation.instances:
        labels[rle_decode(instance["mask"]).astype(bool)] = index_of[instance["label"].lower()]
    return labels


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "clip"


def _label_counts(annotated: dict[int, Annotation]) -> Counter[str]:
    return Counter(i["label"] for a in annotated.values() for i in a.instances)


# --- AVSBench ----------------------------------------------------------------------------------------------


def _avss_label2idx(selection: ExportSelection) -> dict[str, int]:
    """The AVSBench classes (official indices), then the project's and the annotations' other labels by name."""
    mapping = label2idx()
    known = {name.lower() for name in mapping}
    names = list(Label.objects.filter(project=selection.project).values_list("name", flat=True))
    names += [i["label"] for a in selection.annotations.values() for i in a.instances]
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


def _identity(
    clip: Clip, *, protocol: str, annotated: dict[int, Annotation], num_frames: int, used: set[str]
) -> _Identity:
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
    labels = _label_counts(annotated)
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
    selection: ExportSelection, out: Path, *, protocol: str, progress: Progress | None
) -> dict[str, Any]:
    index_of = {}
    mapping = None
    if protocol == "avss":
        mapping = _avss_label2idx(selection)
        index_of = {name.lower(): index for name, index in mapping.items()}
    rows: list[dict[str, Any]] = []
    used: set[str] = set()
    annotated_frames = instances = 0
    for done, clip in enumerate(selection.clips, start=1):
        frames = list(clip.frames.all())
        annotated = selection.annotated(clip)
        num_frames = max(f.index for f in frames) + 1 if frames else 0
        who = _identity(clip, protocol=protocol, annotated=annotated, num_frames=num_frames, used=used)
        record = layout_record(
            out,
            protocol=protocol,
            vid=who.vid,
            split=who.split,
            num_frames=num_frames,
            category=who.category,
            subset=who.subset,
            labelled=annotated.keys(),
        )
        for frame in frames:
            _write_frame(frame, record.frame_paths[frame.index])
        for k, annotation in annotated.items():
            frame = annotation.frame
            size = (frame.height, frame.width)
            path = record.mask_paths[k]
            assert path is not None
            if protocol == "avss":
                write_color_mask(path, _label_map(annotation, index_of, size))
            else:
                write_binary_mask(path, _union(annotation, size))
            annotated_frames += 1
            instances += len(annotation.instances)
        audio = _audio(clip)
        if audio is not None:
            _write_audio(audio, record.audio_path, sample_rate=AUDIO_SAMPLE_RATE)
        assert who.row is not None
        rows.append(who.row)
        if progress is not None:
            progress(done, len(selection.clips))
    write_metadata(out, protocol=protocol, rows=rows)
    if mapping is not None:
        (out / LABEL2IDX_FILE).write_text(json.dumps(mapping, indent=1) + "\n", encoding="utf-8")
    return {"annotated_frames": annotated_frames, "instances": instances}


# --- COCO --------------------------------------------------------------------------------------------------


def _write_coco(selection: ExportSelection, out: Path, *, progress: Progress | None) -> dict[str, Any]:
    labels = list(Label.objects.filter(project=selection.project).order_by("name"))
    category_of = {label.name.lower(): label.pk for label in labels}
    categories = [{"id": label.pk, "name": label.name, "supercategory": "", "color": label.color} for label in labels]
    next_id = max(category_of.values(), default=0) + 1
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for done, clip in enumerate(selection.clips, start=1):
        for k, annotation in sorted(selection.annotated(clip).items()):
            frame = annotation.frame
            file_name = f"{clip.pk}/{frame.index:05d}{_suffix(frame)}"
            _write_frame(frame, out / "images" / file_name)
            images.append(
                {
                    "id": frame.pk,
                    "file_name": file_name,
                    "width": frame.width,
                    "height": frame.height,
                    "clip_id": clip.pk,
                    "clip_name": clip.name,
                    "frame_index": k,
                    "timestamp": frame.timestamp,
                    "annotation_status": annotation.status,
                    "annotation_version": annotation.version,
                }
            )
            for instance in annotation.instances:
                name = instance["label"]
                if name.lower() not in category_of:  # a label removed from the vocabulary since
                    category_of[name.lower()] = next_id
                    categories.append({"id": next_id, "name": name, "supercategory": "", "color": ""})
                    next_id += 1
                rle = {"size": [frame.height, frame.width], "counts": instance["mask"]["counts"]}
                compressed = {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": frame.pk,
                        "category_id": category_of[name.lower()],
                        "segmentation": rle,
                        "area": rle_area(rle),
                        "bbox": [float(v) for v in mask_utils.toBbox(compressed)],
                        "iscrowd": 0,
                    }
                )
        if progress is not None:
            progress(done, len(selection.clips))
    document = {
        "info": {
            "description": f'AVS Studio export of project "{selection.project.name}"',
            "version": "1.0",
            "date_created": timezone.now().isoformat(),
        },
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }
    path = out / COCO_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document), encoding="utf-8")
    return {"annotated_frames": len(images), "instances": len(annotations)}


# --- the platform's JSON -------------------------------------------------------------------------------------


def _write_json(selection: ExportSelection, out: Path, *, progress: Progress | None) -> dict[str, Any]:
    project = selection.project
    ids = [a.pk for a in selection.annotations.values()]
    history = (
        Annotation.objects.filter(pk__in=ids)
        .select_related("author")
        .prefetch_related(
            Prefetch("reviews", queryset=Review.objects.select_related("reviewer").order_by("created_at", "id")),
            Prefetch("revisions", queryset=AnnotationRevision.objects.select_related("author").order_by("version")),
        )
    )
    by_frame = {a.frame_id: a for a in history}
    clips = []
    instances = 0
    for done, clip in enumerate(selection.clips, start=1):
        origin = _origin(clip)
        audio = _audio(clip)
        frames = []
        for frame in clip.frames.all():
            annotation = by_frame.get(frame.pk)
            frames.append(
                {
                    "id": frame.pk,
                    "index": frame.index,
                    "timestamp": frame.timestamp,
                    "width": frame.width,
                    "height": frame.height,
                    "annotation": _annotation_json(annotation) if annotation is not None else None,
                }
            )
            instances += len(annotation.instances) if annotation is not None else 0
        clips.append(
            {
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
                "frames": frames,
            }
        )
        if progress is not None:
            progress(done, len(selection.clips))
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
        "clips": clips,
    }
    (out / JSON_FILE).write_text(json.dumps(document, indent=1), encoding="utf-8")
    return {"annotated_frames": len(by_frame), "instances": instances}


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def _annotation_json(annotation: Annotation) -> dict[str, Any]:
    return {
        "id": annotation.pk,
        "status": annotation.status,
        "version": annotation.version,
        "author": _username(annotation.author),
        "time_spent": annotation.time_spent,
        "external_source": annotation.external_source,
        "external_id": annotation.external_id,
        "source_proposal": annotation.source_proposal_id,
        "created_at": annotation.created_at.isoformat(),
        "updated_at": annotation.updated_at.isoformat(),
        "instances": [{"label": i["label"], "mask": i["mask"]} for i in annotation.instances],
        "reviews": [
            {
                "verdict": review.verdict,
                "reviewer": _username(review.reviewer),
                "comment": review.comment,
                "annotation_version": review.annotation_version,
                "created_at": review.created_at.isoformat(),
            }
            for review in annotation.reviews.all()
        ],
        "revisions": [
            {
                "version": revision.version,
                "status": revision.status,
                "author": _username(revision.author),
                "created_at": revision.created_at.isoformat(),
            }
            for revision in annotation.revisions.all()
        ],
    }
