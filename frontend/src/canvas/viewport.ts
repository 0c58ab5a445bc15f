/**
 * The canvas view transform: screen = frame × scale + offset, in CSS pixels of the canvas element
 * (device pixel ratio is applied only when drawing). Pure functions.
 */
import type { Point } from "../model/mask";

export interface View {
  /** Screen pixels per frame pixel. */
  scale: number;
  offsetX: number;
  offsetY: number;
}

export const MAX_SCALE = 32;

/** The view showing the whole frame centred in the canvas, with a small margin. */
export function fitView(canvasWidth: number, canvasHeight: number, frameWidth: number, frameHeight: number): View {
  if (frameWidth <= 0 || frameHeight <= 0 || canvasWidth <= 0 || canvasHeight <= 0) {
    return { scale: 1, offsetX: 0, offsetY: 0 };
  }
  const scale = Math.min(canvasWidth / frameWidth, canvasHeight / frameHeight) * 0.98;
  return {
    scale,
    offsetX: (canvasWidth - frameWidth * scale) / 2,
    offsetY: (canvasHeight - frameHeight * scale) / 2,
  };
}

/** Zoom by `factor` keeping the frame point under screen point (sx, sy) fixed. */
export function zoomAt(view: View, factor: number, sx: number, sy: number, minScale: number, maxScale = MAX_SCALE): View {
  const scale = Math.min(maxScale, Math.max(minScale, view.scale * factor));
  const k = scale / view.scale;
  return { scale, offsetX: sx - (sx - view.offsetX) * k, offsetY: sy - (sy - view.offsetY) * k };
}

export function panBy(view: View, dx: number, dy: number): View {
  return { ...view, offsetX: view.offsetX + dx, offsetY: view.offsetY + dy };
}

export function toFrame(view: View, sx: number, sy: number): Point {
  return { x: (sx - view.offsetX) / view.scale, y: (sy - view.offsetY) / view.scale };
}

export function toScreen(view: View, fx: number, fy: number): Point {
  return { x: fx * view.scale + view.offsetX, y: fy * view.scale + view.offsetY };
}
