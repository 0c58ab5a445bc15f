/**
 * Label colours. Project labels bring their own (`#rrggbb`); a label typed in but not yet part of
 * the vocabulary gets the first palette colour no label uses, like the server will
 * (`server/annotations/services.py` LABEL_PALETTE).
 */
export const LABEL_PALETTE = [
  "#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6", "#bcf60c", "#fabebe",
  "#008080", "#e6beff", "#9a6324", "#fffac8", "#800000", "#aaffc3", "#808000", "#ffd8b1", "#000075", "#808080",
] as const;

export interface LabelColour {
  name: string;
  color: string;
}

export type Rgb = readonly [number, number, number];

export function hexToRgb(hex: string): Rgb {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex.trim());
  if (!m) return [128, 128, 128];
  const v = parseInt(m[1], 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

/**
 * Colour of every label in `names` (case-insensitive match against the vocabulary); unknown labels
 * take unused palette colours in order of first appearance.
 */
export function labelColours(vocabulary: readonly LabelColour[], names: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  const known = new Map(vocabulary.map((l) => [l.name.toLowerCase(), l.color]));
  const used = new Set(vocabulary.map((l) => l.color.toLowerCase()));
  const free = LABEL_PALETTE.filter((c) => !used.has(c));
  let k = 0;
  const extra = new Map<string, string>();
  for (const name of names) {
    const key = name.toLowerCase();
    const colour = known.get(key) ?? extra.get(key);
    if (colour) {
      out.set(name, colour);
      continue;
    }
    const pick = k < free.length ? free[k] : LABEL_PALETTE[(vocabulary.length + k) % LABEL_PALETTE.length];
    k++;
    extra.set(key, pick);
    out.set(name, pick);
  }
  return out;
}
