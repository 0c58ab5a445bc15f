"""Write the RLE parity fixture the frontend's vitest suite checks its COCO RLE codec against.

Usage (from the repository root): .venv/bin/python frontend/scripts/rle_parity.py var/rle-parity.json

Output: a JSON list of cases `{"name", "height", "width", "mask", "rle": {"size": [H, W], "counts": str}}`
where `mask` is the H×W mask in row-major order, either a flat list of 0/1 (small masks) or a
base64 string of the row-major uint8 0/1 bytes (large ones), and `rle` is what pycocotools (the
server's `server/core/masks.py` path) encodes it to. Seeded: the same file every run.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

SEED = 20240611
INLINE_MAX_PIXELS = 4096


def encode(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def blobs(rng: np.random.Generator, h: int, w: int, n: int) -> np.ndarray:
    """Union of random discs and rectangles: long runs, like real object masks."""
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.zeros((h, w), dtype=bool)
    for _ in range(n):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        if rng.random() < 0.5:
            r = rng.uniform(1, max(h, w) / 3)
            out |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        else:
            hh, hw = rng.uniform(1, h / 2), rng.uniform(1, w / 2)
            out |= (abs(yy - cy) <= hh) & (abs(xx - cx) <= hw)
    return out


def cases() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(SEED)
    out: list[tuple[str, np.ndarray]] = []
    for h, w in [(1, 1), (3, 5), (5, 3), (4, 4)]:
        out.append((f"empty {h}x{w}", np.zeros((h, w), dtype=bool)))
        out.append((f"full {h}x{w}", np.ones((h, w), dtype=bool)))
    out.append(("empty 480x640", np.zeros((480, 640), dtype=bool)))
    out.append(("full 360x641", np.ones((360, 641), dtype=bool)))
    for h, w in [(1, 1), (7, 9), (64, 48), (360, 641)]:
        corners = [(0, 0), (h - 1, w - 1), (0, w - 1), (h - 1, 0), (h // 2, w // 2)]
        for y, x in sorted(set(corners[:2] if h * w > INLINE_MAX_PIXELS else corners)):
            m = np.zeros((h, w), dtype=bool)
            m[y, x] = True
            out.append((f"pixel ({y},{x}) of {h}x{w}", m))
    for h, w in [(1, 17), (17, 1), (2, 3), (13, 7), (31, 29), (64, 48), (101, 77)]:
        for p in (0.03, 0.5, 0.97):
            out.append((f"noise p={p} {h}x{w}", rng.random((h, w)) < p))
    for h, w, n in [(33, 65, 3), (120, 160, 6), (239, 321, 8), (360, 641, 5), (720, 1280, 12)]:
        out.append((f"blobs {h}x{w}", blobs(rng, h, w, n)))
    # Rows/columns patterns: many runs of equal length (delta coding of counts[i] - counts[i-2] == 0).
    stripes = np.zeros((50, 70), dtype=bool)
    stripes[::2, :] = True
    out.append(("horizontal stripes 50x70", stripes))
    cols = np.zeros((50, 70), dtype=bool)
    cols[:, 3::4] = True
    out.append(("vertical stripes 50x70", cols))
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    target = Path(argv[1])
    target.parent.mkdir(parents=True, exist_ok=True)
    records = []
    for name, m in cases():
        m = m.astype(np.uint8)
        h, w = m.shape
        flat = m.reshape(-1)  # row-major
        mask = flat.tolist() if flat.size <= INLINE_MAX_PIXELS else base64.b64encode(flat.tobytes()).decode("ascii")
        records.append({"name": name, "height": h, "width": w, "mask": mask, "rle": encode(m)})
    target.write_text(json.dumps(records))
    print(f"wrote {len(records)} RLE parity cases to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
