"""Readers and writers of the AVSBench layouts (S4, MS3, AVSS) and of prediction folders.

Layouts (REFERENCES.md §2), relative to a dataset ROOT:

- S4: `s4_meta_data.csv` (name, start, category, split); `visual_frames/{split}/{category}/{vid}/{vid}_{k}.png`,
  `audio_wav/{split}/{category}/{vid}.wav` (16 kHz), `gt_masks/{split}/{category}/{vid}/{vid}_{k}.png`
  (binary 0/255), k = 1..T. Train clips are labelled on frame 1 only; val/test on every frame.
- MS3: `ms3_meta_data.csv` (video_id, split); `visual_frames/{vid}/{vid}.mp4_{k}.png`,
  `audio_wav/{split}/{vid}.wav`, `gt_masks/{split}/{vid}/{vid}_{k}.png`; every frame labelled.
- AVSS: `metadata.csv` (vid, uid, s_min, s_sec, a_obj, split, label), `label2idx.json`;
  `{label}/{uid}/frames/{i}.jpg`, `{label}/{uid}/audio.wav`, `{label}/{uid}/labels_rgb/{i}.png`
  (VOC palette colours, index 0 black = background), i = 0..T−1 (0-based, as AVSBench-semantic names
  them). `label` is the subset: v1s (train clips labelled on frame 0 only), v1m, v2.

The real S4/MS3 releases keep the metadata beside an `s4_data/` / `ms3_data/` folder; the readers accept
that nesting too. Frame indices in this module are 0-based (`frame_index` k ↔ file number k + 1 in S4/MS3).

Prediction folders mirror the ground-truth mask paths: below `{category}/{vid}/` for S4
(`PRED/{category}/{vid}/{vid}_{k}.npy|png`), below `{vid}/` for MS3 (`PRED/{vid}/{vid}_{k}.npy|png`) and
the whole relative path for AVSS (`PRED/{label}/{uid}/labels_rgb/{i}.npy|png`). Binary predictions are
`.npy` float probabilities H×W in [0, 1] or 8-bit PNGs (value / 255); semantic ones are `.npy` H×W
integer label maps (or C×H×W class scores, argmax over C) or PNGs (RGB palette colours, or L/P-mode
label indices).
"""

from __future__ import annotations

import csv
import json
import os
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import numpy as np
from PIL import Image

from ml_backend.evaluation.classes import NUM_AVSS_CLASSES, label2idx, voc_palette
from ml_backend.types import ClipMedia

PROTOCOLS = ("s4", "ms3", "avss")
FRAME_POSITION = 0.94  # frame k of a 1/fps window shows the picture at (k + 0.94) / fps
METADATA_FILES = {"s4": "s4_meta_data.csv", "ms3": "ms3_meta_data.csv", "avss": "metadata.csv"}
DEFAULT_NUM_FRAMES = {"s4": 5, "ms3": 5, "avss": 5}
AUDIO_SAMPLE_RATE = 16000  # Hz of AVSBench `audio_wav` / `audio.wav`
PREDICTION_SUFFIXES = (".npy", ".png")


class DatasetError(ValueError):
    """A dataset or prediction folder that cannot be read as asked (message names the path)."""


@dataclass
class ClipRecord:
    """One clip of a layout, with the paths of its files (they may not all exist).

    vid: S4/MS3 video id, AVSS `uid`. frame_paths: T paths in time order. mask_paths: T entries, the
    ground-truth mask of each frame or None where the layout leaves the frame unlabelled.
    category: S4 category ("" elsewhere). subset: AVSS `label` column (v1s/v1m/v2, "" elsewhere).
    meta: the metadata row as read (strings).
    """

    protocol: str
    vid: str
    split: str
    frame_paths: list[Path]
    audio_path: Path
    mask_paths: list[Path | None]
    category: str = ""
    subset: str = ""
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return len(self.frame_paths)

    @property
    def labelled_frames(self) -> list[int]:
        """0-based indices of the frames the layout labels."""
        return [k for k, path in enumerate(self.mask_paths) if path is not None]

    def prediction_stem(self, frame_index: int) -> PurePosixPath:
        """Path of frame `frame_index`'s prediction below a prediction folder, without suffix."""
        if self.protocol == "s4":
            return PurePosixPath(self.category, self.vid, f"{self.vid}_{frame_index + 1}")
        if self.protocol == "ms3":
            return PurePosixPath(self.vid, f"{self.vid}_{frame_index + 1}")
        return PurePosixPath(self.subset, self.vid, "labels_rgb", str(frame_index))


@dataclass
class LayoutClip:
    """A clip to write in a layout.

    frames: T×H×W×3 uint8 RGB (the pictures kept at (k + 0.94)/fps). audio: (N,) float32 mono in [-1, 1]
    at `sample_rate` Hz. labels: T×H×W uint8 label indices of the sounding objects per frame (0 = background;
    binary layouts write labels > 0 as 255). category: S4 category. start: start second in the source
    video (S4 `start`, AVSS s_min/s_sec). a_obj: AVSS audible objects ("dog_car", "off-the-screen", ...).
    subset: AVSS label (v1s/v1m/v2). uid: AVSS uid (default `{vid}_{start}`).
    """

    vid: str
    split: str
    frames: np.ndarray
    audio: np.ndarray
    labels: np.ndarray
    sample_rate: int = AUDIO_SAMPLE_RATE
    category: str = ""
    start: int = 0
    a_obj: str = ""
    subset: str = ""
    uid: str = ""

    def __post_init__(self) -> None:
        assert self.frames.ndim == 4 and self.frames.shape[-1] == 3, self.frames.shape
        assert self.labels.shape == self.frames.shape[:3], (self.labels.shape, self.frames.shape)

    @property
    def avss_uid(self) -> str:
        return self.uid or f"{self.vid}_{self.start}"


# ---------------------------------------------------------------------------------------------- audio, images


def write_wav(path: str | Path, audio: np.ndarray, *, sample_rate: int) -> None:
    """Write mono 16-bit PCM. audio: (N,) float in [-1, 1] (clipped) or int16."""
    audio = np.asarray(audio)
    if audio.dtype != np.int16:
        audio = np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(sample_rate)
        f.writeframes(audio.astype("<i2").tobytes())


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a 16-bit PCM wav → ((N,) float32 mono in [-1, 1], sample rate Hz); channels are averaged."""
    with wave.open(str(path), "rb") as f:
        if f.getsampwidth() != 2:
            raise DatasetError(f"{path}: only 16-bit PCM wav is supported (sample width {f.getsampwidth()})")
        channels, rate = f.getnchannels(), f.getframerate()
        data = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1)
    return data, rate


def _save_png(image: Image.Image, target: str | Path | BinaryIO) -> None:
    """Save `image` as PNG at a path (its folder created) or into a writable binary file object."""
    if isinstance(target, str | os.PathLike):
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, format="PNG")
    else:
        image.save(target, format="PNG")


def write_binary_mask(path: str | Path | BinaryIO, mask: np.ndarray) -> None:
    """Write an H×W bool mask as an 8-bit grayscale PNG with values 0/255 (to a path or a binary file object)."""
    _save_png(Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), mode="L"), path)


def read_binary_mask(path: str | Path) -> np.ndarray:
    """Read a binary mask PNG → H×W bool (pixel > 127 after conversion to grayscale)."""
    with Image.open(path) as im:
        return np.asarray(im.convert("L")) > 127


def write_color_mask(path: str | Path | BinaryIO, labels: np.ndarray) -> None:
    """Write H×W label indices as an RGB PNG coloured with the VOC palette (index 0 black), to a path or a
    binary file object."""
    _save_png(Image.fromarray(voc_palette(256)[labels.astype(np.uint8)], mode="RGB"), path)


def colors_to_labels(rgb: np.ndarray, *, num_classes: int = NUM_AVSS_CLASSES, source: str = "") -> np.ndarray:
    """H×W×3 uint8 palette colours → H×W int64 label indices; a colour outside the palette is an error."""
    palette = voc_palette(num_classes).astype(np.int64)
    codes = (palette[:, 0] << 16) | (palette[:, 1] << 8) | palette[:, 2]
    order = np.argsort(codes)
    rgb = rgb.astype(np.int64)
    pixel_codes = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    pos = np.clip(np.searchsorted(codes[order], pixel_codes), 0, len(codes) - 1)
    found = codes[order][pos] == pixel_codes
    if not found.all():
        y, x = np.argwhere(~found)[0]
        raise DatasetError(
            f"{source or 'mask'}: colour {tuple(int(v) for v in rgb[y, x])} at (x={x}, y={y}) is not one of the "
            f"{num_classes} palette colours ({int((~found).sum())} pixels)"
        )
    return order[pos]


def read_color_mask(path: str | Path, *, num_classes: int = NUM_AVSS_CLASSES) -> np.ndarray:
    """Read an AVSS `labels_rgb` PNG → H×W int64 label indices."""
    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"))
    return colors_to_labels(rgb, num_classes=num_classes, source=str(path))


def read_image(path: str | Path) -> np.ndarray:
    """Read an image → H×W×3 uint8 RGB."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _write_image(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        Image.fromarray(image).save(path, quality=95)
    else:
        Image.fromarray(image).save(path)


# ---------------------------------------------------------------------------------------------- writers


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _labelled(protocol: str, clip: LayoutClip) -> list[int]:
    """Frames the layout labels: S4 train and AVSS v1s train keep frame 0 only."""
    if clip.split == "train" and (protocol == "s4" or (protocol == "avss" and clip.subset == "v1s")):
        return [0]
    return list(range(clip.frames.shape[0]))


def write_layout(root: str | Path, clips: list[LayoutClip], *, protocol: str) -> None:
    """Write `clips` (metadata order) as an AVSBench `protocol` layout below `root` (created if needed)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rows: list[list[object]] = []
    for clip in clips:
        labelled = _labelled(protocol, clip)
        if protocol == "s4":
            if not clip.category:
                raise ValueError(f"S4 clip {clip.vid} needs a category")
            rel = Path(clip.split, clip.category, clip.vid)
            for k, frame in enumerate(clip.frames):
                _write_image(root / "visual_frames" / rel / f"{clip.vid}_{k + 1}.png", frame)
            for k in labelled:
                write_binary_mask(root / "gt_masks" / rel / f"{clip.vid}_{k + 1}.png", clip.labels[k] > 0)
            write_wav(
                root / "audio_wav" / clip.split / clip.category / f"{clip.vid}.wav",
                clip.audio,
                sample_rate=clip.sample_rate,
            )
            rows.append([clip.vid, clip.start, clip.category, clip.split])
        elif protocol == "ms3":
            for k, frame in enumerate(clip.frames):
                _write_image(root / "visual_frames" / clip.vid / f"{clip.vid}.mp4_{k + 1}.png", frame)
            for k in labelled:
                write_binary_mask(
                    root / "gt_masks" / clip.split / clip.vid / f"{clip.vid}_{k + 1}.png", clip.labels[k] > 0
                )
            write_wav(root / "audio_wav" / clip.split / f"{clip.vid}.wav", clip.audio, sample_rate=clip.sample_rate)
            rows.append([clip.vid, clip.split])
        else:
            subset = clip.subset or ("v2" if clip.frames.shape[0] != 5 else "v1s")
            base = root / subset / clip.avss_uid
            for k, frame in enumerate(clip.frames):
                _write_image(base / "frames" / f"{k}.jpg", frame)
            for k in labelled:
                write_color_mask(base / "labels_rgb" / f"{k}.png", clip.labels[k])
            write_wav(base / "audio.wav", clip.audio, sample_rate=clip.sample_rate)
            rows.append([clip.vid, clip.avss_uid, clip.start // 60, clip.start % 60, clip.a_obj, clip.split, subset])
    if protocol == "s4":
        _write_csv(root / METADATA_FILES["s4"], ["name", "start", "category", "split"], rows)
    elif protocol == "ms3":
        _write_csv(root / METADATA_FILES["ms3"], ["video_id", "split"], rows)
    else:
        _write_csv(root / METADATA_FILES["avss"], ["vid", "uid", "s_min", "s_sec", "a_obj", "split", "label"], rows)
        with open(root / "label2idx.json", "w", encoding="utf-8") as f:
            json.dump(label2idx(), f, indent=1)


# ---------------------------------------------------------------------------------------------- readers


def _read_metadata(root: Path, protocol: str) -> list[dict[str, str]]:
    if not root.is_dir():
        raise DatasetError(f"dataset root {root} does not exist or is not a folder")
    path = root / METADATA_FILES[protocol]
    if not path.is_file():
        raise DatasetError(
            f"{root} is not an AVSBench {protocol.upper()} layout: {METADATA_FILES[protocol]} is missing"
        )
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise DatasetError(f"{path} is empty")
        header = [h.strip() for h in header]
        required = {"s4": ["name", "category", "split"], "ms3": ["split"], "avss": ["uid", "split", "label"]}[protocol]
        missing = [c for c in required if c not in header]
        if missing:
            raise DatasetError(f"{path}: missing column(s) {', '.join(missing)} (header: {', '.join(header)})")
        rows = [dict(zip(header, (v.strip() for v in row), strict=False)) for row in reader if any(row)]
    if protocol == "ms3":
        first = header[0]
        for row in rows:
            row.setdefault("video_id", row[first])
    return rows


def _count_frames(path_of: Callable[[int], Path], default: int) -> int:
    n = 0
    while path_of(n).is_file():
        n += 1
    return n or default


def read_layout(root: str | Path, *, protocol: str, split: str | None = None) -> list[ClipRecord]:
    """Clips of an AVSBench layout in metadata order, optionally only those of `split`.

    The number of frames of a clip is the number of consecutive frame files found (the layout's 5 when
    its frame folder is missing). Raises DatasetError for a missing root or metadata file.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    root = Path(root)
    rows = _read_metadata(root, protocol)
    data = root
    nested = root / f"{protocol}_data"
    if protocol in ("s4", "ms3") and nested.is_dir():
        data = nested
    records: list[ClipRecord] = []
    for row in rows:
        if split is not None and row["split"] != split:
            continue
        s = row["split"]
        if protocol == "s4":
            vid, category = row["name"], row["category"]
            frame_dir = data / "visual_frames" / s / category / vid
            n = _count_frames(lambda k, d=frame_dir, v=vid: d / f"{v}_{k + 1}.png", DEFAULT_NUM_FRAMES["s4"])
            masks_dir = data / "gt_masks" / s / category / vid
            labelled = [0] if s == "train" else list(range(n))
            records.append(
                ClipRecord(
                    protocol="s4",
                    vid=vid,
                    split=s,
                    frame_paths=[frame_dir / f"{vid}_{k + 1}.png" for k in range(n)],
                    audio_path=data / "audio_wav" / s / category / f"{vid}.wav",
                    mask_paths=[masks_dir / f"{vid}_{k + 1}.png" if k in labelled else None for k in range(n)],
                    category=category,
                    meta=row,
                )
            )
        elif protocol == "ms3":
            vid = row["video_id"]
            frame_dir = data / "visual_frames" / vid
            n = _count_frames(lambda k, d=frame_dir, v=vid: d / f"{v}.mp4_{k + 1}.png", DEFAULT_NUM_FRAMES["ms3"])
            masks_dir = data / "gt_masks" / s / vid
            records.append(
                ClipRecord(
                    protocol="ms3",
                    vid=vid,
                    split=s,
                    frame_paths=[frame_dir / f"{vid}.mp4_{k + 1}.png" for k in range(n)],
                    audio_path=data / "audio_wav" / s / f"{vid}.wav",
                    mask_paths=[masks_dir / f"{vid}_{k + 1}.png" for k in range(n)],
                    meta=row,
                )
            )
        else:
            uid, subset = row["uid"], row["label"]
            base = data / subset / uid
            default = 10 if subset == "v2" else DEFAULT_NUM_FRAMES["avss"]
            n = _count_frames(lambda k, b=base: b / "frames" / f"{k}.jpg", default)
            labelled = [0] if (s == "train" and subset == "v1s") else list(range(n))
            records.append(
                ClipRecord(
                    protocol="avss",
                    vid=uid,
                    split=s,
                    frame_paths=[base / "frames" / f"{k}.jpg" for k in range(n)],
                    audio_path=base / "audio.wav",
                    mask_paths=[base / "labels_rgb" / f"{k}.png" if k in labelled else None for k in range(n)],
                    subset=subset,
                    meta=row,
                )
            )
    return records


def read_split(root: str | Path, *, protocol: str, split: str) -> list[ClipRecord]:
    """Like `read_layout` for one split, but an empty split is a DatasetError naming the splits present."""
    records = read_layout(root, protocol=protocol, split=split)
    if not records:
        present = sorted({r["split"] for r in _read_metadata(Path(root), protocol)})
        raise DatasetError(f"split {split!r} of {root} has no clips (splits present: {', '.join(present) or 'none'})")
    return records


def load_clip_media(record: ClipRecord, *, fps: float = 1.0) -> ClipMedia:
    """Frames (PNG/JPG) and wav of a layout clip as ClipMedia; timestamps (k + 0.94)/fps seconds."""
    missing = [p for p in [*record.frame_paths, record.audio_path] if not p.is_file()]
    if missing:
        raise DatasetError(f"clip {record.vid}: {len(missing)} file(s) missing, e.g. {missing[0]}")
    frames = np.stack([read_image(p) for p in record.frame_paths])
    audio, sample_rate = read_wav(record.audio_path)
    timestamps = (np.arange(len(frames), dtype=np.float64) + FRAME_POSITION) / fps
    return ClipMedia(
        frames=frames, timestamps=timestamps, fps=fps, audio=audio, sample_rate=sample_rate, source=str(record.vid)
    )


def iter_ground_truth(record: ClipRecord) -> Iterator[np.ndarray]:
    """Ground truth of the labelled frames one at a time, in frame order: H×W bool (S4, MS3) or H×W int64
    labels (AVSS). Every mask file is checked to exist before the first is read; a mask whose size differs
    from the first one's is a DatasetError."""
    paths = [p for p in record.mask_paths if p is not None]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DatasetError(f"clip {record.vid}: ground-truth mask(s) missing: {', '.join(map(str, missing[:3]))}")
    reader = read_color_mask if record.protocol == "avss" else read_binary_mask
    first: tuple[int, ...] | None = None
    for path in paths:
        mask = reader(path)
        first = mask.shape if first is None else first
        if mask.shape != first:
            raise DatasetError(
                f"clip {record.vid}: ground-truth masks have different sizes {sorted({first, mask.shape})}"
            )
        yield mask


def read_ground_truth(record: ClipRecord) -> np.ndarray:
    """Ground truth of the labelled frames: T'×H×W bool (S4, MS3) or T'×H×W int64 labels (AVSS)."""
    return np.stack(list(iter_ground_truth(record)))


# ---------------------------------------------------------------------------------------------- predictions


def find_prediction(pred_dir: str | Path, record: ClipRecord, frame_index: int) -> Path | None:
    """The prediction file of a frame (`.npy` preferred over `.png`), or None when there is none.

    S4 predictions may also sit without the category folder (`{vid}/{vid}_{k}`), the layout that
    `python -m ml_backend propose` writes, so its output can be evaluated as it is.
    """
    relative = record.prediction_stem(frame_index)
    stems = [Path(pred_dir) / relative]
    if record.protocol == "s4":
        stems.append(Path(pred_dir) / record.vid / relative.name)
    for stem in stems:
        for suffix in PREDICTION_SUFFIXES:
            path = stem.with_name(stem.name + suffix)
            if path.is_file():
                return path
    return None


def prediction_paths(pred_dir: str | Path, records: list[ClipRecord]) -> dict[tuple[str, int], Path]:
    """Prediction file of every labelled frame, keyed by (vid, frame_index).

    Raises DatasetError listing the first few missing files (as `.npy|png` stems) and their count.
    """
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise DatasetError(f"prediction folder {pred_dir} does not exist or is not a folder")
    found: dict[tuple[str, int], Path] = {}
    missing: list[str] = []
    for record in records:
        for k in record.labelled_frames:
            path = find_prediction(pred_dir, record, k)
            if path is None:
                missing.append(f"{pred_dir / record.prediction_stem(k)}.npy|png")
            else:
                found[(record.vid, k)] = path
    if missing:
        total = sum(len(r.labelled_frames) for r in records)
        shown = "\n  ".join(missing[:5])
        more = f"\n  ... and {len(missing) - 5} more" if len(missing) > 5 else ""
        layout = {
            "s4": "{category}/{vid}/{vid}_{k} (or {vid}/{vid}_{k})",
            "ms3": "{vid}/{vid}_{k}",
            "avss": "{label}/{uid}/labels_rgb/{i}",
        }
        raise DatasetError(
            f"{len(missing)} of {total} prediction files are missing in {pred_dir} (expected "
            f"{layout[records[0].protocol]}.npy|png, mirroring the ground-truth masks):\n  {shown}{more}"
        )
    return found


def read_binary_prediction(path: str | Path) -> np.ndarray:
    """A binary prediction file → H×W float32 probability: `.npy` floats in [0, 1] or PNG value / 255."""
    path = Path(path)
    if path.suffix == ".npy":
        prob = np.load(path)
        while prob.ndim > 2 and prob.shape[0] == 1:  # accept 1×H×W and 1×1×H×W
            prob = prob[0]
        if prob.ndim != 2:
            raise DatasetError(f"{path}: expected an H×W probability map, got shape {prob.shape}")
        if prob.dtype == bool:
            prob = prob.astype(np.float32)
        prob = prob.astype(np.float32)
        if not np.all(np.isfinite(prob)) or prob.min() < 0.0 or prob.max() > 1.0:
            raise DatasetError(f"{path}: probabilities must be finite and in [0, 1]")
        return prob
    with Image.open(path) as im:
        if im.mode not in ("L", "1", "P", "RGB", "RGBA", "I;16"):
            raise DatasetError(f"{path}: unsupported PNG mode {im.mode}")
        return np.asarray(im.convert("L"), dtype=np.float32) / 255.0


def read_semantic_prediction(path: str | Path, *, num_classes: int = NUM_AVSS_CLASSES) -> np.ndarray:
    """A semantic prediction file → H×W int64 labels (`.npy` labels or C×H×W scores; PNG colours or indices)."""
    path = Path(path)
    if path.suffix == ".npy":
        data = np.load(path)
        if data.ndim == 3:
            if data.shape[0] != num_classes:
                raise DatasetError(f"{path}: expected {num_classes}×H×W class scores, got shape {data.shape}")
            return np.argmax(data, axis=0).astype(np.int64)
        if data.ndim != 2 or not np.issubdtype(data.dtype, np.integer):
            raise DatasetError(f"{path}: expected an H×W integer label map, got {data.dtype} {data.shape}")
        labels = data.astype(np.int64)
    else:
        with Image.open(path) as im:
            if im.mode in ("RGB", "RGBA"):
                return colors_to_labels(np.asarray(im.convert("RGB")), num_classes=num_classes, source=str(path))
            labels = np.asarray(im if im.mode in ("L", "P") else im.convert("L")).astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DatasetError(f"{path}: labels must be in [0, {num_classes}), got max {labels.max()}")
    return labels


def write_prediction(pred_dir: str | Path, record: ClipRecord, frame_index: int, data: np.ndarray) -> Path:
    """Write one frame's prediction as `.npy` at its mirrored path (prob H×W float, or H×W int labels)."""
    stem = Path(pred_dir) / record.prediction_stem(frame_index)
    stem.parent.mkdir(parents=True, exist_ok=True)
    path = stem.with_name(stem.name + ".npy")
    np.save(path, data)
    return path
