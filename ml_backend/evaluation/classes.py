"""The 70 AVSBench-semantic object classes, their AVSBench-OV split, label indices and colour palette.

Copied from `shared/data/avsbench/classes.tsv` (class, ov_split; 40 base / 30 novel) so that the ML
backend needs no file outside the repository. Index 0 of `label2idx.json` is `background`; classes follow
in this (alphabetical) order from 1 to 70, 71 indices in all (REFERENCES.md §2).

The colour palette of AVSS `labels_rgb/*.png` is the PASCAL-VOC bit-interleaving palette (index 0 black),
the one AVSBench builds for its 71 indices.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

BACKGROUND = "background"
NUM_AVSS_CLASSES = 71  # 70 object classes + background (index 0)

# (class name, AVSBench-OV split) in classes.tsv order.
AVSBENCH_CLASSES: tuple[tuple[str, str], ...] = (
    ("accordion", "novel"),
    ("airplane", "base"),
    ("axe", "novel"),
    ("baby", "base"),
    ("bassoon", "novel"),
    ("bell", "base"),
    ("bird", "base"),
    ("boat", "base"),
    ("boy", "base"),
    ("bus", "base"),
    ("car", "base"),
    ("cat", "base"),
    ("cello", "novel"),
    ("clarinet", "novel"),
    ("clipper", "novel"),
    ("clock", "base"),
    ("dog", "base"),
    ("donkey", "base"),
    ("drum", "base"),
    ("duck", "base"),
    ("elephant", "base"),
    ("emergency-car", "novel"),
    ("erhu", "novel"),
    ("flute", "novel"),
    ("frying-food", "novel"),
    ("girl", "base"),
    ("goose", "base"),
    ("guitar", "base"),
    ("gun", "base"),
    ("guzheng", "novel"),
    ("hair-dryer", "base"),
    ("handpan", "novel"),
    ("harmonica", "novel"),
    ("harp", "novel"),
    ("helicopter", "base"),
    ("hen", "base"),
    ("horse", "base"),
    ("keyboard", "base"),
    ("leopard", "novel"),
    ("lion", "base"),
    ("man", "base"),
    ("marimba", "novel"),
    ("missile-rocket", "base"),
    ("motorcycle", "base"),
    ("mower", "novel"),
    ("parrot", "base"),
    ("piano", "base"),
    ("pig", "base"),
    ("pipa", "novel"),
    ("saw", "novel"),
    ("saxophone", "novel"),
    ("sheep", "base"),
    ("sitar", "novel"),
    ("sorna", "novel"),
    ("squirrel", "base"),
    ("tabla", "novel"),
    ("tank", "novel"),
    ("tiger", "base"),
    ("tractor", "base"),
    ("train", "base"),
    ("trombone", "novel"),
    ("truck", "base"),
    ("trumpet", "base"),
    ("tuba", "novel"),
    ("ukulele", "novel"),
    ("utv", "novel"),
    ("vacuum-cleaner", "base"),
    ("violin", "novel"),
    ("wolf", "novel"),
    ("woman", "base"),
)
assert len(AVSBENCH_CLASSES) == NUM_AVSS_CLASSES - 1


def class_names() -> list[str]:
    """The 70 object class names in label-index order (index i + 1 is `class_names()[i]`)."""
    return [name for name, _ in AVSBENCH_CLASSES]


def label2idx(names: list[str] | None = None) -> dict[str, int]:
    """`{"background": 0, "accordion": 1, ...}`: the content of AVSS `label2idx.json`."""
    names = class_names() if names is None else names
    return {BACKGROUND: 0, **{name: i + 1 for i, name in enumerate(names)}}


def read_classes_tsv(path: str | Path) -> list[tuple[str, str]]:
    """Read a `classes.tsv` (header `class<TAB>ov_split`) into (name, split) rows in file order."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if not rows or "class" not in rows[0]:
        raise ValueError(f"{path}: expected a tab-separated file with a 'class' column")
    return [(row["class"], row.get("ov_split", "")) for row in rows]


def voc_palette(n: int = 256) -> np.ndarray:
    """PASCAL-VOC colour palette: n×3 uint8, row i the RGB colour of label index i (index 0 is black).

    Bits of the index are interleaved into the high bits of R, G, B (bit 0 → R, bit 1 → G, bit 2 → B,
    then the next three bits one position lower), as VOC and AVSBench's `get_v2_pallete` do.
    """
    palette = np.zeros((n, 3), dtype=np.uint8)
    for index in range(n):
        label, shift, rgb = index, 7, [0, 0, 0]
        while label > 0:
            for channel in range(3):
                rgb[channel] |= ((label >> channel) & 1) << shift
            shift -= 1
            label >>= 3
        palette[index] = rgb
    return palette
