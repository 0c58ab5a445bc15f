"""Masks are stored as COCO RLE: `{"size": [H, W], "counts": str}` (column-major, pycocotools).

`rle_validate` is the one gate every stored mask passes. It never hands a client's string to pycocotools
(whose C decoder trusts its input: a truncated string reads past its end and can corrupt the process's
heap). Instead `rle_counts_parse` reads the compressed counts here, checks every run, and the mask is
stored in its canonical encoding (`rle_counts_string` of `rle_counts_canonical`), byte for byte what
`pycocotools.mask.encode` writes for the same pixels, so equal masks are equal strings.

The compressed counts format (pycocotools `rleToString` / `rleFrString`, `maskApi.c`):
- runs alternate 0-pixels and 1-pixels over the mask in column-major order, starting with a 0-run
  (of length 0 when the first pixel is 1); they sum to H×W;
- from the fourth run on (index i > 2) a run is written as its difference to run i-2;
- each value is written as 5-bit groups, least significant first, one character per group:
  `chr(48 + group | 0x20)` while more groups follow, and the last group's bit 0x10 is the sign
  (two's complement); characters are therefore ASCII 48 ('0') to 111 ('o').
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from server.core.errors import ApplicationError

# The largest mask side accepted (pixels). With it H×W < 2**28, so every run and every delta fits in 6
# five-bit groups (30 bits with the sign): a longer value cannot belong to a valid mask.
MAX_MASK_SIDE = 16384
_MAX_GROUPS = 6
assert MAX_MASK_SIDE**2 < 2 ** (5 * _MAX_GROUPS - 1)

_FIRST_CHAR, _LAST_CHAR = 48, 111  # '0' .. 'o'


def rle_counts_parse(counts: str, *, height: int, width: int) -> np.ndarray:
    """Compressed COCO counts string → int64 run lengths (0-run first), checked against an H×W mask.

    O(len(counts)), vectorised. Raises ValueError saying what is wrong: a character outside '0'..'o',
    a string that ends inside a value (truncated), a value too long for any mask, a negative run, or
    runs that do not sum to exactly H×W. Zero-length runs are allowed here (see `rle_counts_canonical`).
    """
    if not isinstance(counts, str):
        raise ValueError("counts must be a string")
    if not counts.isascii():
        position = next(k for k, char in enumerate(counts) if not char.isascii())
        raise ValueError(f"character {counts[position]!r} at position {position} is not an RLE character ('0'..'o')")
    chars = np.frombuffer(counts.encode("ascii"), dtype=np.uint8)
    bad = np.flatnonzero((chars < _FIRST_CHAR) | (chars > _LAST_CHAR))
    if bad.size:
        position = int(bad[0])
        raise ValueError(f"character {counts[position]!r} at position {position} is not an RLE character ('0'..'o')")
    groups = chars - _FIRST_CHAR
    last = (groups & 0x20) == 0  # no continuation bit: the value's last group
    if groups.size and not last[-1]:
        raise ValueError(f"the string ends inside a value (truncated after {groups.size} characters)")
    ends = np.flatnonzero(last)
    starts = np.concatenate(([0], ends[:-1] + 1)).astype(np.int64) if ends.size else ends
    lengths = ends - starts + 1
    if lengths.size and int(lengths.max()) > _MAX_GROUPS:
        run = int(np.argmax(lengths > _MAX_GROUPS))
        raise ValueError(f"run {run} is written with more than {_MAX_GROUPS} characters: no mask has such a run")
    values = np.zeros(ends.size, dtype=np.int64)
    for k in range(int(lengths.max()) if lengths.size else 0):
        has = lengths > k
        values[has] |= (groups[starts[has] + k] & 0x1F).astype(np.int64) << (5 * k)
    negative = (groups[ends] & 0x10) != 0
    values[negative] -= np.left_shift(np.int64(1), 5 * lengths[negative])
    # Undo the delta coding: run i = value i + run i-2 for i > 2, i.e. running sums over every other run
    # (runs 0, 1 and 2 are written as they are).
    runs = values.copy()
    runs[1::2] = np.cumsum(values[1::2])
    runs[2::2] = np.cumsum(values[2::2])
    return _runs_check(runs, height=height, width=width)


def _runs_check(runs: np.ndarray, *, height: int, width: int) -> np.ndarray:
    negative = np.flatnonzero(runs < 0)
    if negative.size:
        run = int(negative[0])
        raise ValueError(f"run {run} has a negative length ({int(runs[run])})")
    total, expected = int(runs.sum()), height * width
    if total != expected:
        which = "fewer" if total < expected else "more"
        raise ValueError(f"the runs cover {total} pixels, {which} than the {expected} of a {height}x{width} (HxW) mask")
    return runs


def rle_counts_canonical(runs: np.ndarray) -> np.ndarray:
    """Run lengths of the same pixels in pycocotools' form: a first 0-run (possibly empty), then only
    non-empty runs alternating in value (zero-length runs dropped and their neighbours merged)."""
    runs = np.asarray(runs, dtype=np.int64)
    value = np.arange(runs.size) % 2
    keep = runs > 0
    runs, value = runs[keep], value[keep]
    if not runs.size:
        return np.zeros(1, dtype=np.int64)
    change = np.concatenate(([True], value[1:] != value[:-1]))
    merged = np.add.reduceat(runs, np.flatnonzero(change))
    return np.concatenate(([0], merged)) if value[0] == 1 else merged


def rle_counts_string(runs: np.ndarray) -> str:
    """Run lengths → compressed counts string, exactly as pycocotools' `rleToString` writes them."""
    runs = np.asarray(runs, dtype=np.int64)
    values = runs.copy()
    values[3:] -= runs[1:-2]
    # Groups per value: the fewest 5-bit groups whose two's complement holds it.
    lengths = np.ones(values.size, dtype=np.int64)
    for k in range(1, 13):
        lengths += (values < -(1 << (5 * k - 1))) | (values >= (1 << (5 * k - 1)))
    owner = np.repeat(np.arange(values.size), lengths)
    k = np.arange(owner.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    groups = (values[owner] >> (5 * k)) & 0x1F
    groups |= (k < lengths[owner] - 1) * 0x20
    return (groups + _FIRST_CHAR).astype(np.uint8).tobytes().decode("ascii")


def _runs_of(rle: dict[str, Any]) -> tuple[int, int, np.ndarray]:
    """(H, W, run lengths) of a stored or client RLE, string or list counts; ValueError if malformed."""
    height, width = (int(v) for v in rle["size"])
    counts = rle["counts"]
    if isinstance(counts, list):
        return height, width, _runs_of_list(counts, height=height, width=width)
    return height, width, rle_counts_parse(counts, height=height, width=width)


def _runs_of_list(counts: list[Any], *, height: int, width: int) -> np.ndarray:
    if len(counts) > height * width + 1:
        raise ValueError(f"{len(counts)} runs are more than a {height}x{width} (HxW) mask can have")
    for k, count in enumerate(counts):
        if not isinstance(count, int) or isinstance(count, bool):
            raise ValueError(f"run {k} is {count!r}, not an integer")
    try:
        runs = np.asarray(counts, dtype=np.int64)
    except OverflowError:
        raise ValueError("a run is longer than any mask") from None
    return _runs_check(runs, height=height, width=width)


def rle_encode(mask: np.ndarray) -> dict[str, Any]:
    """H×W bool/uint8 array → JSON-safe COCO RLE with `counts` as str."""
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {mask.shape}")
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def rle_decode(rle: dict[str, Any]) -> np.ndarray:
    """COCO RLE (string or list counts) → H×W uint8 array of 0/1. ValueError if the RLE is malformed."""
    height, width, runs = _runs_of(rle)
    values = (np.arange(runs.size) % 2).astype(np.uint8)
    return np.repeat(values, runs).reshape((height, width), order="F")


def rle_area(rle: dict[str, Any]) -> int:
    """Pixels set in a COCO RLE mask. ValueError if the RLE is malformed."""
    return int(_runs_of(rle)[2][1::2].sum())


def rle_validate(rle: Any, *, height: int, width: int, field: str = "mask") -> dict[str, Any]:
    """Check a client-supplied RLE against the frame size; return it in canonical form (str counts).

    Accepts compressed string counts or uncompressed integer-list counts. The result's counts are what
    `rle_encode` gives for the same pixels, so two encodings of one mask are stored as one string.
    Raises ApplicationError (400) naming the field and the problem (sizes, characters, runs) on anything else.
    """
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise ApplicationError(f"{field} must be a COCO RLE object with 'size' and 'counts'.", {"field": field})
    size = rle["size"]
    if not (
        isinstance(size, list | tuple)
        and len(size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_MASK_SIDE for v in size)
    ):
        raise ApplicationError(
            f"{field}.size must be [height, width], each between 1 and {MAX_MASK_SIDE}.", {"field": field}
        )
    if [size[0], size[1]] != [height, width]:
        raise ApplicationError(
            f"{field} is {size[0]}x{size[1]} (HxW) but the frame is {height}x{width}.",
            {"field": field, "mask_size": list(size), "frame_size": [height, width]},
        )
    counts = rle["counts"]
    try:
        if isinstance(counts, list):
            runs = _runs_of_list(counts, height=height, width=width)
        elif isinstance(counts, str):
            runs = rle_counts_parse(counts, height=height, width=width)
        else:
            raise ValueError("counts must be a string or a list of integers")
    except ValueError as exc:
        raise ApplicationError(f"{field} has invalid RLE counts: {exc}.", {"field": field}) from exc
    return {"size": [height, width], "counts": rle_counts_string(rle_counts_canonical(runs))}


def _compressed(rle: dict[str, Any]) -> dict[str, Any]:
    """pycocotools' form of an RLE, re-encoded from runs checked here (never the string as given)."""
    height, width, runs = _runs_of(rle)
    counts = rle_counts_string(rle_counts_canonical(runs))
    return {"size": [height, width], "counts": counts.encode("ascii")}


def rle_union_iou(first: list[dict[str, Any]], second: list[dict[str, Any]], *, height: int, width: int) -> float:
    """IoU of the union of the masks `first` and the union of the masks `second`, all H×W COCO RLE.

    Computed on the run-length encodings (nothing is decoded). Two empty unions agree perfectly: 1.0.
    Raises ValueError when a mask is not H×W.
    """
    unions = []
    for masks in (first, second):
        rles = [_compressed(m) for m in masks]
        for rle in rles:
            if [int(v) for v in rle["size"]] != [height, width]:
                raise ValueError(f"a mask is {rle['size'][0]}x{rle['size'][1]} (HxW), expected {height}x{width}")
        if not rles:
            rles = [mask_utils.encode(np.zeros((height, width), dtype=np.uint8, order="F"))]
        unions.append(mask_utils.merge(rles, intersect=False) if len(rles) > 1 else rles[0])
    a, b = unions
    union_area = float(mask_utils.area(mask_utils.merge([a, b], intersect=False)))
    if union_area == 0:
        return 1.0
    return float(mask_utils.area(mask_utils.merge([a, b], intersect=True))) / union_area
