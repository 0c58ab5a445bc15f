"""The train / held-out split of a project's clips: deterministic, per project, computed (not stored).

Rule (`clip_split`): a clip imported from AVSBench keeps its dataset split ("train" trains; "val", "test" or any
other split is held out). Every other clip is held out when `sha256(f"{seed}:{checksum}")`, its first 8 bytes read
as an unsigned integer divided by 2**64 (a number in [0, 1)), is below the project's held-out fraction. The clip's
`checksum` is the SHA-256 of its source file, so a clip keeps its split whatever is uploaded before or after it,
and the same video uploaded to two projects with the same seed falls on the same side.

Held-out clips are never trained on (neither their accepted annotations nor pseudo-labels): they judge each round
(`server.learning.training`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

TRAIN = "train"
HELDOUT = "heldout"
SPLITS = (TRAIN, HELDOUT)
AVSBENCH_TRAIN = "train"


def split_draw(*, seed: int, checksum: str) -> float:
    """The clip's number in [0, 1) for `seed`: the first 8 bytes of `sha256(f"{seed}:{checksum}")` / 2**64."""
    digest = hashlib.sha256(f"{int(seed)}:{checksum}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def clip_split(*, seed: int, fraction: float, checksum: str, dataset_split: str | None = None) -> str:
    """`"train"` or `"heldout"` for one clip (see the module docstring). `dataset_split`: the AVSBench split of an
    imported clip (`DatasetClip.split`), None for uploaded clips."""
    if dataset_split:
        return TRAIN if dataset_split.strip().lower() == AVSBENCH_TRAIN else HELDOUT
    return HELDOUT if split_draw(seed=seed, checksum=checksum) < fraction else TRAIN


def clip_splits(*, seed: int, fraction: float, clips: Iterable[tuple[int, str, str | None]]) -> dict[int, str]:
    """{clip id: split} for `(id, checksum, dataset split or None)` rows."""
    return {
        pk: clip_split(seed=seed, fraction=fraction, checksum=checksum, dataset_split=dataset_split)
        for pk, checksum, dataset_split in clips
    }
