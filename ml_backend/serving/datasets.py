"""AVSBench layouts and metrics for the server's import, export and evaluation: the server reaches
`ml_backend.evaluation` only through this module.

Torch-free (numpy + Pillow), cheap to import in the web process. Besides re-exports, three helpers the
server needs and the readers do not offer:

- `complete_record(record)`: the clip as its folder holds it — `read_layout` stops counting frames at the
  first gap, so a missing frame in the middle would silently shorten the clip; this re-derives the frame and
  mask paths up to the highest frame or mask number found, for the import to report every missing file;
- `layout_record(root, ...)`: where a clip's frames, masks and audio go in a layout (for writing one);
- `write_metadata(root, protocol, rows)` / `read_label2idx(root)`: the metadata CSV and AVSS `label2idx.json`.

Frame indices are 0-based everywhere (frame k ↔ file number k + 1 in S4/MS3, file `k` in AVSS).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from ml_backend.evaluation.classes import BACKGROUND, NUM_AVSS_CLASSES, class_names, label2idx, voc_palette
from ml_backend.evaluation.datasets import (
    AUDIO_SAMPLE_RATE,
    DEFAULT_NUM_FRAMES,
    FRAME_POSITION,
    METADATA_FILES,
    PROTOCOLS,
    ClipRecord,
    DatasetError,
    LayoutClip,
    colors_to_labels,
    read_binary_mask,
    read_color_mask,
    read_ground_truth,
    read_image,
    read_layout,
    read_split,
    read_wav,
    write_binary_mask,
    write_color_mask,
    write_layout,
)
from ml_backend.evaluation.metrics import BinaryEvaluator, BinaryReport, SemanticEvaluator, SemanticReport
from ml_backend.evaluation.runner import EvaluationResult, evaluate_predictions

__all__ = [
    "AUDIO_SAMPLE_RATE",
    "BACKGROUND",
    "DEFAULT_NUM_FRAMES",
    "FRAME_POSITION",
    "LABEL2IDX_FILE",
    "METADATA_COLUMNS",
    "METADATA_FILES",
    "NUM_AVSS_CLASSES",
    "PROTOCOLS",
    "BinaryEvaluator",
    "BinaryReport",
    "ClipRecord",
    "DatasetError",
    "EvaluationResult",
    "LayoutClip",
    "SemanticEvaluator",
    "SemanticReport",
    "class_names",
    "colors_to_labels",
    "complete_record",
    "evaluate_predictions",
    "label2idx",
    "labelled_by_layout",
    "layout_record",
    "read_binary_mask",
    "read_color_mask",
    "read_ground_truth",
    "read_image",
    "read_label2idx",
    "read_layout",
    "read_split",
    "read_wav",
    "voc_palette",
    "write_binary_mask",
    "write_color_mask",
    "write_layout",
    "write_metadata",
]

LABEL2IDX_FILE = "label2idx.json"
METADATA_COLUMNS: dict[str, tuple[str, ...]] = {
    "s4": ("name", "start", "category", "split"),
    "ms3": ("video_id", "split"),
    "avss": ("vid", "uid", "s_min", "s_sec", "a_obj", "split", "label"),
}
V2_NUM_FRAMES = 10  # AVSS v2 clips last 10 s


def labelled_by_layout(*, protocol: str, split: str, subset: str, num_frames: int) -> list[int]:
    """Frames a layout labels: S4 train and AVSS v1s train keep frame 0 only, everything else all frames."""
    if split == "train" and (protocol == "s4" or (protocol == "avss" and subset == "v1s")):
        return [0] if num_frames else []
    return list(range(num_frames))


def _names(protocol: str, vid: str) -> tuple[Callable[[int], str], Callable[[int], str]]:
    """(frame file name, mask file name) of frame index k."""
    if protocol == "s4":
        return (lambda k: f"{vid}_{k + 1}.png"), (lambda k: f"{vid}_{k + 1}.png")
    if protocol == "ms3":
        return (lambda k: f"{vid}.mp4_{k + 1}.png"), (lambda k: f"{vid}_{k + 1}.png")
    return (lambda k: f"{k}.jpg"), (lambda k: f"{k}.png")


def _patterns(protocol: str, vid: str) -> tuple[re.Pattern[str], re.Pattern[str], int]:
    """(frame file pattern, mask file pattern, offset): group 1 minus offset is the 0-based frame index."""
    v = re.escape(vid)
    if protocol == "s4":
        return re.compile(rf"^{v}_(\d+)\.png$"), re.compile(rf"^{v}_(\d+)\.png$"), 1
    if protocol == "ms3":
        return re.compile(rf"^{v}\.mp4_(\d+)\.png$"), re.compile(rf"^{v}_(\d+)\.png$"), 1
    return re.compile(r"^(\d+)\.jpg$"), re.compile(r"^(\d+)\.png$"), 0


def _highest_index(folder: Path, pattern: re.Pattern[str], offset: int) -> int:
    """Highest 0-based frame index among the files of `folder` matching `pattern`; −1 when none."""
    if not folder.is_dir():
        return -1
    found = [int(m.group(1)) - offset for p in folder.iterdir() if (m := pattern.match(p.name))]
    return max((k for k in found if k >= 0), default=-1)


def complete_record(record: ClipRecord) -> ClipRecord:
    """`record` with T frames, T = 1 + the highest frame index of any frame *or* mask file in the clip's folders
    (the layout's default count — 5, AVSS v2 10 — when its folders hold none), and mask paths for the frames the
    layout labels. Every path may be missing: the caller checks and reports them.

    A clip whose last frames and masks are both missing cannot be told from a shorter clip; every other gap is
    visible (frames are numbered consecutively from 1, or 0 in AVSS).
    """
    frame_dir = record.frame_paths[0].parent
    mask_dir = record.mask_paths[0].parent if record.mask_paths and record.mask_paths[0] is not None else None
    frame_re, mask_re, offset = _patterns(record.protocol, record.vid)
    highest = _highest_index(frame_dir, frame_re, offset)
    if mask_dir is not None:
        highest = max(highest, _highest_index(mask_dir, mask_re, offset))
    if highest < 0:
        n = V2_NUM_FRAMES if record.subset == "v2" else DEFAULT_NUM_FRAMES[record.protocol]
    else:
        n = highest + 1
    frame_name, mask_name = _names(record.protocol, record.vid)
    labelled = set(labelled_by_layout(protocol=record.protocol, split=record.split, subset=record.subset, num_frames=n))
    return dataclasses.replace(
        record,
        frame_paths=[frame_dir / frame_name(k) for k in range(n)],
        mask_paths=[(mask_dir / mask_name(k)) if (mask_dir is not None and k in labelled) else None for k in range(n)],
    )


def layout_record(
    root: str | Path,
    *,
    protocol: str,
    vid: str,
    split: str,
    num_frames: int,
    category: str = "",
    subset: str = "",
    labelled: Iterable[int] | None = None,
    meta: Mapping[str, str] | None = None,
) -> ClipRecord:
    """Where a clip goes in a `protocol` layout below `root`: its T frame paths, audio path and mask paths
    (for the frames in `labelled`; default: the layout's rule, `labelled_by_layout`).

    vid: S4/MS3 video id, AVSS uid. category: S4 category (required there). subset: AVSS label v1s/v1m/v2.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if protocol == "s4" and not category:
        raise ValueError(f"S4 clip {vid} needs a category")
    if protocol == "avss" and not subset:
        raise ValueError(f"AVSS clip {vid} needs a subset (v1s, v1m or v2)")
    root = Path(root)
    if protocol == "s4":
        frame_dir = root / "visual_frames" / split / category / vid
        mask_dir = root / "gt_masks" / split / category / vid
        audio = root / "audio_wav" / split / category / f"{vid}.wav"
    elif protocol == "ms3":
        frame_dir = root / "visual_frames" / vid
        mask_dir = root / "gt_masks" / split / vid
        audio = root / "audio_wav" / split / f"{vid}.wav"
    else:
        frame_dir = root / subset / vid / "frames"
        mask_dir = root / subset / vid / "labels_rgb"
        audio = root / subset / vid / "audio.wav"
    if labelled is None:
        labelled = labelled_by_layout(protocol=protocol, split=split, subset=subset, num_frames=num_frames)
    chosen = set(labelled)
    frame_name, mask_name = _names(protocol, vid)
    return ClipRecord(
        protocol=protocol,
        vid=vid,
        split=split,
        frame_paths=[frame_dir / frame_name(k) for k in range(num_frames)],
        audio_path=audio,
        mask_paths=[mask_dir / mask_name(k) if k in chosen else None for k in range(num_frames)],
        category=category if protocol == "s4" else "",
        subset=subset if protocol == "avss" else "",
        meta=dict(meta or {}),
    )


def write_metadata(root: str | Path, *, protocol: str, rows: Iterable[Mapping[str, object]]) -> Path:
    """Write the layout's metadata CSV (`METADATA_FILES[protocol]`, columns `METADATA_COLUMNS[protocol]`)."""
    columns = METADATA_COLUMNS[protocol]
    path = Path(root) / METADATA_FILES[protocol]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(c, "") for c in columns])
    return path


def read_label2idx(root: str | Path) -> dict[str, int] | None:
    """The AVSS `label2idx.json` below `root` as `{name: index}`, or None when the file is not there.

    Raises DatasetError for a file that is not a JSON object of distinct non-negative integer indices.
    """
    path = Path(root) / LABEL2IDX_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: not readable as JSON ({exc})") from exc
    if not isinstance(data, dict) or not data:
        raise DatasetError(f"{path}: expected a JSON object {{name: index}}")
    bad = [k for k, v in data.items() if isinstance(v, bool) or not isinstance(v, int) or v < 0]
    if bad:
        raise DatasetError(f"{path}: indices must be non-negative integers (see {', '.join(map(repr, bad[:3]))})")
    if len(set(data.values())) != len(data):
        raise DatasetError(f"{path}: two names share one index")
    return {str(k): int(v) for k, v in data.items()}
