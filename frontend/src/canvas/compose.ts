/**
 * Paint masks into an RGBA buffer of the frame's size (the mask layer the canvas scales on screen).
 * Later layers are drawn on top; each pixel takes the colour of the topmost layer covering it, its
 * fill alpha inside and its edge alpha on the mask's boundary (a pixel with a 4-neighbour outside
 * the mask or the frame), so that touching objects stay distinguishable.
 */
import type { Mask, Rect } from "../model/mask";
import type { Rgb } from "../model/colors";

export interface ColourLayer {
  mask: Mask;
  rgb: Rgb;
  /** 0..255 */
  fillAlpha: number;
  /** 0..255 */
  edgeAlpha: number;
}

export function composeLayers(out: Uint8ClampedArray, width: number, height: number, layers: readonly ColourLayer[], rect?: Rect): void {
  const x0 = Math.max(0, rect?.x0 ?? 0);
  const y0 = Math.max(0, rect?.y0 ?? 0);
  const x1 = Math.min(width, rect?.x1 ?? width);
  const y1 = Math.min(height, rect?.y1 ?? height);
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = y * width + x;
      const o = i * 4;
      let hit: ColourLayer | null = null;
      for (let l = layers.length - 1; l >= 0; l--) {
        if (layers[l].mask.data[i]) {
          hit = layers[l];
          break;
        }
      }
      if (!hit) {
        out[o] = out[o + 1] = out[o + 2] = out[o + 3] = 0;
        continue;
      }
      const d = hit.mask.data;
      const edge =
        x === 0 || y === 0 || x === width - 1 || y === height - 1 || !d[i - 1] || !d[i + 1] || !d[i - width] || !d[i + width];
      out[o] = hit.rgb[0];
      out[o + 1] = hit.rgb[1];
      out[o + 2] = hit.rgb[2];
      out[o + 3] = edge ? hit.edgeAlpha : hit.fillAlpha;
    }
  }
}

/** `rect` grown by `by` pixels on every side (edges of neighbours change too). */
export function growRect(rect: Rect, by: number): Rect {
  return { x0: rect.x0 - by, y0: rect.y0 - by, x1: rect.x1 + by, y1: rect.y1 + by };
}
