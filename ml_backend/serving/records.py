"""What a proposal keeps besides its masks, encoded as files for the caller's storage (no Django here).

**Confidence record, per proposed frame.** The frame's probability map: per pixel, the maximum over the frame's
instances of `Instance.probability` (the hard mask, 0 or 1, for an instance without one, e.g. the synchrony
baseline's), H×W in [0, 1] (`frame_confidence_map`). It is shrunk so that its longer side is at most `max_side`
(PIL's box filter: each stored pixel is the mean of the frame pixels it covers; never enlarged) and quantised to
8 bits, `v = round(255 · p)`, stored as an 8-bit grayscale PNG (`probability_map_png`; `decode_png` reads one back
as an h×w uint8 array, p ≈ v / 255 within 0.5 / 255). Its record in the proposal's frame:
`{"path": str, "size": [h, w], "scale": s}` with `s = min(1, max_side / max(H, W))`, `h = max(1, round(H·s))`,
`w = max(1, round(W·s))`. Each instance's `confidence` (`instance_confidence`, in the proposal's instance data) is
its mean probability inside its own mask, at full resolution (1.0 for a hard mask, 0.0 for an empty one).

**Evidence, per clip** (`EvidenceCollector`): a compressed `.npz` (`numpy.load(..., allow_pickle=False)`), format 1:

    format            ()        int32   1
    frame_index       (T,)      int32   the proposed frames' indexes, in order
    tag_labels        (T, K)    str     per audio window, its top-K tags, best first ("" where fewer)
    tag_scores        (T, K)    float16 their probabilities (0 where fewer); K = 0 when the proposer has no tags
    audio_embedding   (G, D)    float16 per window (OpenAVS: CLAP, unit rows; baseline: level + band energies, dB)
    visual_embedding  (G, C)    float16 per frame (OpenAVS: SAM mean-pooled, C = 256; baseline: colour layout,
                                        C = 48); NaN rows for frames the proposer gave none
    stride            ()        int32   embedding row g is the mean of frames [g·stride, (g+1)·stride) (positions)
    audio_kind, visual_kind  () str     what the embeddings are (`ClipFeatures`); "" when absent

`G = ceil(T / stride)`. `stride` is 1 unless the file would exceed `max_bytes`: it doubles until the file fits;
when even one row per clip does not fit, the embeddings are left out (then the tags too, if needed), and the
summary says so in `dropped`. The frame indexes are always kept: a bound should leave room for them (4 bytes a
frame, plus about 2 KB; the server requires at least 64 KiB). An embedding the proposer did not compute is absent from the file. `read_evidence`
reads a file back as `EvidenceArrays`.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from ml_backend.serving.encoding import instance_confidence
from ml_backend.types import ClipFeatures, FrameInstances

PROBABILITY_MAP_MAX_SIDE = 256
"""Default longest side of a stored probability map (the server's AVS_PROBABILITY_MAP_MAX_SIDE)."""
EVIDENCE_MAX_BYTES = 8 * 1024 * 1024
"""Default bound on one clip's evidence file (the server's AVS_PROPOSAL_EVIDENCE_MAX_BYTES)."""
EVIDENCE_FORMAT = 1
EVIDENCE_NAME = "evidence.npz"

WriteFile = Callable[[str, bytes], str]
"""`write(name, data) -> stored path`: the caller keeps `data` (e.g. in its media storage) under a name it derives
from `name` (a plain file name) and returns the path it stored it at."""

__all__ = [
    "EVIDENCE_FORMAT",
    "EVIDENCE_MAX_BYTES",
    "PROBABILITY_MAP_MAX_SIDE",
    "EvidenceArrays",
    "EvidenceCollector",
    "ProposalRecorder",
    "WriteFile",
    "decode_png",
    "encode_png",
    "frame_confidence_map",
    "instance_confidence",
    "probability_map_png",
    "probability_map_shape",
    "probability_map_uint8",
    "read_evidence",
]


# --- probability maps ---------------------------------------------------------------------------------


def frame_confidence_map(frame: FrameInstances, *, size: tuple[int, int]) -> np.ndarray:
    """H×W float32 in [0, 1]: per pixel, the maximum over the frame's instances of their `probability` (their hard
    mask where they have none); zeros for a frame without instances. size: (H, W) of the frame."""
    out = np.zeros(size, dtype=np.float32)
    for instance in frame.instances:
        probability = instance.mask if instance.probability is None else instance.probability
        np.maximum(out, np.asarray(probability, dtype=np.float32), out=out)
    return np.clip(out, 0.0, 1.0, out=out)


def probability_map_shape(size: tuple[int, int], *, max_side: int) -> tuple[tuple[int, int], float]:
    """((h, w), scale) of the stored map of an H×W frame: scale = min(1, max_side / max(H, W)), h = round(H·scale),
    w = round(W·scale), each at least 1."""
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1, got {max_side}")
    height, width = int(size[0]), int(size[1])
    scale = min(1.0, max_side / max(height, width, 1))
    return (max(1, round(height * scale)), max(1, round(width * scale))), scale


def probability_map_uint8(probability: np.ndarray, *, max_side: int) -> tuple[np.ndarray, float]:
    """(h×w uint8 `round(255 · p)`, scale) of an H×W float map in [0, 1], box-filtered down to the stored size
    (`probability_map_shape`)."""
    from PIL import Image

    (height, width), scale = probability_map_shape(probability.shape, max_side=max_side)
    values = np.asarray(probability, dtype=np.float32)
    if (height, width) != values.shape:
        image = Image.fromarray(np.ascontiguousarray(values), mode="F")
        values = np.asarray(image.resize((width, height), Image.Resampling.BOX), dtype=np.float32)
    return np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8), scale


def encode_png(values: np.ndarray) -> bytes:
    """h×w uint8 -> 8-bit grayscale PNG bytes."""
    from PIL import Image

    assert values.dtype == np.uint8 and values.ndim == 2, (values.dtype, values.shape)
    buffer = io.BytesIO()
    Image.fromarray(values, mode="L").save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def decode_png(data: bytes | BinaryIO) -> np.ndarray:
    """A stored probability map (PNG bytes or a binary file) -> h×w uint8 (probability ≈ value / 255)."""
    from PIL import Image

    with Image.open(io.BytesIO(data) if isinstance(data, bytes | bytearray) else data) as image:
        if image.mode != "L":
            raise ValueError(f"a probability map is an 8-bit grayscale PNG, this one is {image.mode}")
        return np.array(image, dtype=np.uint8)


def probability_map_png(
    frame: FrameInstances, *, size: tuple[int, int], max_side: int = PROBABILITY_MAP_MAX_SIDE
) -> tuple[bytes, tuple[int, int], float]:
    """(PNG bytes, (h, w), scale) of one frame's confidence map (`frame_confidence_map`, shrunk and quantised)."""
    values, scale = probability_map_uint8(frame_confidence_map(frame, size=size), max_side=max_side)
    return encode_png(values), (int(values.shape[0]), int(values.shape[1])), scale


# --- evidence -----------------------------------------------------------------------------------------


@dataclass
class EvidenceArrays:
    """An evidence file read back (see the module doc for shapes); embeddings are float32 here, None when absent."""

    frame_index: np.ndarray
    tag_labels: np.ndarray
    tag_scores: np.ndarray
    audio_embedding: np.ndarray | None
    visual_embedding: np.ndarray | None
    stride: int
    audio_kind: str
    visual_kind: str

    def audio_tags(self) -> list[list[tuple[str, float]]]:
        """Per window, its tags as (label, score), best first."""
        return [
            [(str(label), float(score)) for label, score in zip(labels, scores, strict=True) if label]
            for labels, scores in zip(self.tag_labels, self.tag_scores, strict=True)
        ]


def read_evidence(data: bytes | BinaryIO) -> EvidenceArrays:
    """Read an evidence `.npz` (bytes or a binary file; no pickles). Raises ValueError for another format."""
    with np.load(io.BytesIO(data) if isinstance(data, bytes | bytearray) else data, allow_pickle=False) as npz:
        version = int(npz["format"]) if "format" in npz.files else None
        if version != EVIDENCE_FORMAT:
            raise ValueError(f"evidence format {version} is not {EVIDENCE_FORMAT}")
        return EvidenceArrays(
            frame_index=npz["frame_index"].astype(np.int64),
            tag_labels=npz["tag_labels"],
            tag_scores=npz["tag_scores"].astype(np.float32),
            audio_embedding=npz["audio_embedding"].astype(np.float32) if "audio_embedding" in npz.files else None,
            visual_embedding=npz["visual_embedding"].astype(np.float32) if "visual_embedding" in npz.files else None,
            stride=int(npz["stride"]),
            audio_kind=str(npz["audio_kind"]),
            visual_kind=str(npz["visual_kind"]),
        )


def _pool(rows: np.ndarray, stride: int) -> np.ndarray:
    """G×D means of `stride` consecutive rows (NaN rows ignored; a group of NaN rows stays NaN)."""
    if stride == 1:
        return rows
    groups = [rows[start : start + stride] for start in range(0, len(rows), stride)]
    out = np.full((len(groups), rows.shape[1]), np.nan, dtype=np.float32)
    for g, group in enumerate(groups):
        valid = group[~np.isnan(group).any(axis=1)]
        if len(valid):
            out[g] = valid.mean(axis=0)
    return out


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


class EvidenceCollector:
    """Collects each emitted frame's pooled visual embedding (a (C,) row per frame: what the proposer handed out,
    nothing larger) and encodes the clip's evidence file once the proposer is done (`encode`)."""

    def __init__(self) -> None:
        self.frame_indexes: list[int] = []
        self.visual: list[np.ndarray | None] = []

    def add(self, frame: FrameInstances) -> None:
        self.frame_indexes.append(int(frame.frame_index))
        embedding = frame.embedding
        self.visual.append(None if embedding is None else np.asarray(embedding, dtype=np.float32).reshape(-1))

    def _visual_rows(self) -> np.ndarray | None:
        present = [row for row in self.visual if row is not None]
        if not present:
            return None
        width = present[0].shape[0]
        rows = np.full((len(self.visual), width), np.nan, dtype=np.float32)
        for t, row in enumerate(self.visual):
            if row is not None and row.shape[0] == width:
                rows[t] = row
        return rows

    def encode(self, features: ClipFeatures | None, *, max_bytes: int = EVIDENCE_MAX_BYTES) -> tuple[bytes, dict]:
        """(the `.npz` bytes, their summary: `format`, `bytes`, `frames`, `stride`, `audio_tags` {"top_k"},
        `audio_embedding` / `visual_embedding` {"kind", "shape"} or None, `dropped` [what did not fit])."""
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
        features = features or ClipFeatures(audio_tags=[])
        count = len(self.frame_indexes)
        tags = [t.tags for t in features.audio_tags][:count]
        tags += [[] for _ in range(count - len(tags))]
        top_k = max((len(t) for t in tags), default=0)
        labels = np.full((count, top_k), "", dtype=f"<U{max([1, *(len(a.label) for t in tags for a in t)])}")
        scores = np.zeros((count, top_k), dtype=np.float16)
        for t, window in enumerate(tags):
            for j, tag in enumerate(window):
                labels[t, j], scores[t, j] = tag.label, tag.score
        base = {
            "format": np.array(EVIDENCE_FORMAT, dtype=np.int32),
            "frame_index": np.array(self.frame_indexes, dtype=np.int32),
            "tag_labels": labels,
            "tag_scores": scores,
            "audio_kind": np.array(features.audio_kind if features.audio_embedding is not None else ""),
            "visual_kind": np.array(features.visual_kind if any(v is not None for v in self.visual) else ""),
        }
        embeddings: dict[str, np.ndarray] = {}
        audio = features.audio_embedding
        if audio is not None and audio.ndim == 2 and audio.shape[0] and audio.shape[1]:
            rows = np.full((count, audio.shape[1]), np.nan, dtype=np.float32)
            rows[: min(count, len(audio))] = audio[:count]
            embeddings["audio_embedding"] = rows
        visual = self._visual_rows()
        if visual is not None:
            embeddings["visual_embedding"] = visual
        if not embeddings:
            base["audio_kind"] = base["visual_kind"] = np.array("")

        dropped: list[str] = []
        stride = 1
        while True:
            pooled = {name: _pool(rows, stride).astype(np.float16) for name, rows in embeddings.items()}
            data = _npz({**base, "stride": np.array(stride, dtype=np.int32), **pooled})
            if len(data) <= max_bytes or not embeddings:
                break
            if stride >= max(count, 1):
                dropped += sorted(embeddings)
                embeddings, pooled = {}, {}
                base["audio_kind"] = base["visual_kind"] = np.array("")
                stride = 1
                continue
            stride = min(stride * 2, count)
        if len(data) > max_bytes:  # the tags alone do not fit
            dropped.append("audio_tags")
            base["tag_labels"] = np.zeros((count, 0), dtype="<U1")
            base["tag_scores"] = np.zeros((count, 0), dtype=np.float16)
            top_k = 0
            data = _npz({**base, "stride": np.array(stride, dtype=np.int32)})
        summary = {
            "format": EVIDENCE_FORMAT,
            "bytes": len(data),
            "frames": count,
            "stride": stride,
            "audio_tags": {"top_k": top_k},
            "audio_embedding": _shape_of(pooled.get("audio_embedding"), str(base["audio_kind"])),
            "visual_embedding": _shape_of(pooled.get("visual_embedding"), str(base["visual_kind"])),
            "dropped": dropped,
        }
        return data, summary


def _shape_of(rows: np.ndarray | None, kind: str) -> dict[str, Any] | None:
    return None if rows is None else {"kind": kind, "shape": [int(rows.shape[0]), int(rows.shape[1])]}


# --- the recorder a proposal run writes through ---------------------------------------------------------


class ProposalRecorder:
    """Writes a proposal's records as its frames come out: `frame(f)` encodes and writes the frame's probability
    map at once (nothing of it is kept) and returns its record `{"path", "size", "scale"}`; `finish(features)`
    writes the clip's evidence file and returns its summary with `path` (see the module doc)."""

    def __init__(
        self,
        write: WriteFile,
        *,
        max_side: int = PROBABILITY_MAP_MAX_SIDE,
        evidence_max_bytes: int = EVIDENCE_MAX_BYTES,
    ) -> None:
        probability_map_shape((1, 1), max_side=max_side)  # checks max_side
        if evidence_max_bytes < 1:
            raise ValueError(f"evidence_max_bytes must be at least 1, got {evidence_max_bytes}")
        self.write = write
        self.max_side = max_side
        self.evidence_max_bytes = evidence_max_bytes
        self.collector = EvidenceCollector()

    def frame(self, frame: FrameInstances, *, size: tuple[int, int]) -> dict[str, Any]:
        self.collector.add(frame)
        png, (height, width), scale = probability_map_png(frame, size=size, max_side=self.max_side)
        path = self.write(f"probability-{int(frame.frame_index):06d}.png", png)
        return {"path": path, "size": [height, width], "scale": round(scale, 8)}

    def finish(self, features: ClipFeatures | None) -> dict[str, Any]:
        data, summary = self.collector.encode(features, max_bytes=self.evidence_max_bytes)
        return {"path": self.write(EVIDENCE_NAME, data), **summary}
