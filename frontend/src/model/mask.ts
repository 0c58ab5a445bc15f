/**
 * Binary masks at the FRAME's resolution (never the screen's) and the pixel operations the tools
 * use. Pure functions; the ones named `paint*`/`fill*` write into the mask they are given, the
 * others return a new mask.
 *
 * Conventions: `data[y * width + x]` is 0 or 1 (row-major H×W, like ImageData). Coordinates are
 * frame pixels as floats; pixel (x, y) covers [x, x+1) × [y, y+1) and is "inside" a shape when
 * its centre (x + 0.5, y + 0.5) is.
 */

export interface Mask {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

export interface Point {
  x: number;
  y: number;
}

/** Inclusive-exclusive pixel rectangle: columns [x0, x1), rows [y0, y1). */
export interface Rect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export function createMask(width: number, height: number): Mask {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width >= 0 && height >= 0)) {
    throw new RangeError(`invalid mask size ${width}x${height} (WxH)`);
  }
  return { width, height, data: new Uint8Array(width * height) };
}

export function cloneMask(mask: Mask): Mask {
  return { width: mask.width, height: mask.height, data: mask.data.slice() };
}

/** A mask from row-major 0/1 values (anything non-zero counts as 1). */
export function maskFromArray(width: number, height: number, values: ArrayLike<number>): Mask {
  if (values.length !== width * height) {
    throw new RangeError(`expected ${width * height} values for ${width}x${height}, got ${values.length}`);
  }
  const data = new Uint8Array(width * height);
  for (let i = 0; i < data.length; i++) data[i] = values[i] ? 1 : 0;
  return { width, height, data };
}

function assertSameSize(a: Mask, b: Mask): void {
  if (a.width !== b.width || a.height !== b.height) {
    throw new RangeError(`mask sizes differ: ${a.width}x${a.height} vs ${b.width}x${b.height} (WxH)`);
  }
}

export function maskArea(mask: Mask): number {
  let n = 0;
  const d = mask.data;
  for (let i = 0; i < d.length; i++) n += d[i];
  return n;
}

export function isEmpty(mask: Mask): boolean {
  const d = mask.data;
  for (let i = 0; i < d.length; i++) if (d[i]) return false;
  return true;
}

export function masksEqual(a: Mask, b: Mask): boolean {
  if (a.width !== b.width || a.height !== b.height) return false;
  const x = a.data;
  const y = b.data;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** a ∪ b (new mask). */
export function union(a: Mask, b: Mask): Mask {
  assertSameSize(a, b);
  const out = cloneMask(a);
  const o = out.data;
  const d = b.data;
  for (let i = 0; i < o.length; i++) o[i] |= d[i];
  return out;
}

/** a \ b: `a` with every pixel of `b` erased (new mask). */
export function subtract(a: Mask, b: Mask): Mask {
  assertSameSize(a, b);
  const out = cloneMask(a);
  const o = out.data;
  const d = b.data;
  for (let i = 0; i < o.length; i++) if (d[i]) o[i] = 0;
  return out;
}

export function intersectionArea(a: Mask, b: Mask): number {
  assertSameSize(a, b);
  let n = 0;
  for (let i = 0; i < a.data.length; i++) n += a.data[i] & b.data[i];
  return n;
}

/** Bounding box of the set pixels, or null for an empty mask. */
export function maskBounds(mask: Mask): Rect | null {
  const { width: w, height: h, data } = mask;
  let x0 = w;
  let y0 = h;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      if (data[row + x]) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
  }
  return x1 < 0 ? null : { x0, y0, x1: x1 + 1, y1: y1 + 1 };
}

function clampRect(mask: Mask, x0: number, y0: number, x1: number, y1: number): Rect {
  return {
    x0: Math.max(0, Math.floor(x0)),
    y0: Math.max(0, Math.floor(y0)),
    x1: Math.min(mask.width, Math.ceil(x1)),
    y1: Math.min(mask.height, Math.ceil(y1)),
  };
}

/**
 * Set (value 1) or clear (value 0) every pixel whose centre lies within `radius` of the segment
 * a–b: one brush/eraser stroke piece (a capsule; a disc when a == b). Returns the touched rect.
 */
export function paintSegment(mask: Mask, a: Point, b: Point, radius: number, value: 0 | 1): Rect {
  const r = Math.max(radius, 0.5); // a 1-pixel brush still paints the pixel under the cursor
  const rect = clampRect(mask, Math.min(a.x, b.x) - r, Math.min(a.y, b.y) - r, Math.max(a.x, b.x) + r, Math.max(a.y, b.y) + r);
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const len2 = dx * dx + dy * dy;
  const r2 = r * r;
  const { width: w, data } = mask;
  for (let y = rect.y0; y < rect.y1; y++) {
    const cy = y + 0.5;
    for (let x = rect.x0; x < rect.x1; x++) {
      const cx = x + 0.5;
      let t = len2 > 0 ? ((cx - a.x) * dx + (cy - a.y) * dy) / len2 : 0;
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      const ex = cx - (a.x + t * dx);
      const ey = cy - (a.y + t * dy);
      if (ex * ex + ey * ey <= r2) data[y * w + x] = value;
    }
  }
  return rect;
}

/** A disc of `radius` around `c` (brush dab). */
export function paintDisc(mask: Mask, c: Point, radius: number, value: 0 | 1): Rect {
  return paintSegment(mask, c, c, radius, value);
}

/**
 * Fill a polygon (even-odd rule, pixel centres) with `value`. Fewer than 3 vertices fill nothing.
 * Returns the touched rect (empty when nothing was filled).
 */
export function fillPolygon(mask: Mask, polygon: readonly Point[], value: 0 | 1 = 1): Rect {
  const empty: Rect = { x0: 0, y0: 0, x1: 0, y1: 0 };
  if (polygon.length < 3) return empty;
  let minY = Infinity;
  let maxY = -Infinity;
  let minX = Infinity;
  let maxX = -Infinity;
  for (const p of polygon) {
    minY = Math.min(minY, p.y);
    maxY = Math.max(maxY, p.y);
    minX = Math.min(minX, p.x);
    maxX = Math.max(maxX, p.x);
  }
  const rect = clampRect(mask, minX, minY, maxX + 1, maxY + 1);
  const { width: w, data } = mask;
  const xs: number[] = [];
  const n = polygon.length;
  for (let y = rect.y0; y < rect.y1; y++) {
    const cy = y + 0.5;
    xs.length = 0;
    for (let i = 0, j = n - 1; i < n; j = i++) {
      const pi = polygon[i];
      const pj = polygon[j];
      // Half-open in y so that a vertex on the scanline is counted once.
      if (pi.y <= cy !== pj.y <= cy) {
        xs.push(pi.x + ((cy - pi.y) * (pj.x - pi.x)) / (pj.y - pi.y));
      }
    }
    xs.sort((p, q) => p - q);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      // pixels whose centre x + 0.5 lies in [xs[k], xs[k+1])
      const from = Math.max(rect.x0, Math.ceil(xs[k] - 0.5));
      const to = Math.min(rect.x1, Math.ceil(xs[k + 1] - 0.5));
      for (let x = from; x < to; x++) data[y * w + x] = value;
    }
  }
  return rect;
}

/** The union of two rects (either may be null). */
export function rectUnion(a: Rect | null, b: Rect | null): Rect | null {
  if (!a) return b;
  if (!b) return a;
  return { x0: Math.min(a.x0, b.x0), y0: Math.min(a.y0, b.y0), x1: Math.max(a.x1, b.x1), y1: Math.max(a.y1, b.y1) };
}

/** Whether pixel (x, y) (floats, frame coordinates) is set; false outside the mask. */
export function maskAt(mask: Mask, x: number, y: number): boolean {
  const ix = Math.floor(x);
  const iy = Math.floor(y);
  if (ix < 0 || iy < 0 || ix >= mask.width || iy >= mask.height) return false;
  return mask.data[iy * mask.width + ix] === 1;
}
