/**
 * COCO RLE, byte-for-byte like pycocotools (`maskApi.c`), so masks round-trip with the server
 * (`server/core/masks.py`) unchanged.
 *
 * Conventions:
 * - A `Mask` is row-major H×W 0/1 bytes (`data[y * width + x]`), at the FRAME's resolution.
 * - RLE counts run over the pixels in column-major (Fortran) order: `(x, y) → x * H + y`; they
 *   alternate 0-runs and 1-runs and always start with a 0-run (possibly of length 0).
 * - The compressed string (`counts: string`) is pycocotools' LEB128-like code: each count is
 *   delta-coded against the count two places back (from the 4th count on), then written as
 *   5-bit little-endian groups with a continuation bit (0x20) and a sign bit (0x10 of the last
 *   group), each group + 48 as an ASCII character ('0'..'o').
 */
import type { Mask } from "./mask";

/** `{size: [H, W], counts}` as the API sends and accepts it. */
export interface Rle {
  size: number[];
  counts: string;
}

/** Run lengths of `mask` in column-major order, starting with a (possibly empty) 0-run. */
export function maskToCounts(mask: Mask): number[] {
  const { width: w, height: h, data } = mask;
  const counts: number[] = [];
  let previous = 0;
  let run = 0;
  for (let x = 0; x < w; x++) {
    for (let y = 0, i = x; y < h; y++, i += w) {
      const v = data[i] ? 1 : 0;
      if (v !== previous) {
        counts.push(run);
        run = 0;
        previous = v;
      }
      run++;
    }
  }
  counts.push(run);
  return counts;
}

/** Fill a row-major H×W mask from column-major run lengths. Throws if they overrun H×W. */
export function countsToMask(counts: ArrayLike<number>, height: number, width: number): Mask {
  const n = height * width;
  const data = new Uint8Array(n);
  let p = 0; // column-major position
  let value = 0;
  for (let j = 0; j < counts.length; j++) {
    const c = counts[j];
    if (c < 0 || p + c > n) {
      throw new RangeError(`RLE counts overrun the ${height}x${width} mask at run ${j}`);
    }
    if (value && c > 0) {
      let x = Math.floor(p / height);
      let y = p - x * height;
      for (let left = c; left > 0; left--) {
        data[y * width + x] = 1;
        if (++y === height) {
          y = 0;
          x++;
        }
      }
      p += c;
    } else {
      p += c;
    }
    value = 1 - value;
  }
  return { width, height, data };
}

/** pycocotools `rleToString`. */
export function countsToString(counts: ArrayLike<number>): string {
  let out = "";
  for (let i = 0; i < counts.length; i++) {
    let x = counts[i];
    if (i > 2) x -= counts[i - 2];
    let more = true;
    while (more) {
      // `x & 0x1f` and an arithmetic shift, on doubles so that no 32-bit overflow can occur.
      const low = ((x % 32) + 32) % 32;
      x = (x - low) / 32;
      let c = low;
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      out += String.fromCharCode(c + 48);
    }
  }
  return out;
}

/** pycocotools `rleFrString`. Throws on characters outside '0'..'o' or a truncated code. */
export function stringToCounts(s: string): number[] {
  const counts: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      if (p >= s.length) throw new SyntaxError("RLE string ends inside a count");
      const c = s.charCodeAt(p) - 48;
      if (c < 0 || c > 63) throw new SyntaxError(`invalid RLE character ${JSON.stringify(s[p])} at ${p}`);
      x += (c & 0x1f) * 2 ** (5 * k);
      more = (c & 0x20) !== 0;
      p++;
      k++;
      if (!more && c & 0x10) x -= 2 ** (5 * k); // sign-extend
    }
    const m = counts.length;
    if (m > 2) x += counts[m - 2];
    counts.push(x);
  }
  return counts;
}

/** Mask → `{size: [H, W], counts: string}` exactly as `pycocotools.mask.encode` writes it. */
export function encodeRle(mask: Mask): Rle {
  return { size: [mask.height, mask.width], counts: countsToString(maskToCounts(mask)) };
}

/** `{size, counts}` (string or integer-list counts) → Mask. */
export function decodeRle(rle: { size: number[]; counts: string | number[] }): Mask {
  const [height, width] = rle.size;
  if (!(Number.isInteger(height) && Number.isInteger(width) && height >= 0 && width >= 0)) {
    throw new RangeError(`invalid RLE size ${JSON.stringify(rle.size)}`);
  }
  const counts = typeof rle.counts === "string" ? stringToCounts(rle.counts) : rle.counts;
  return countsToMask(counts, height, width);
}

/** Number of foreground pixels, without decoding. */
export function rleArea(rle: Rle): number {
  const counts = stringToCounts(rle.counts);
  let area = 0;
  for (let j = 1; j < counts.length; j += 2) area += counts[j];
  return area;
}
