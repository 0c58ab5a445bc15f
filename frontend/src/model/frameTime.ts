/**
 * Frames ↔ audio time. Frame k covers the window [k/fps, (k+1)/fps) of the clip's audio (the
 * server's `ClipFrame.index` convention), whatever the exact presentation time of its picture.
 */

/** The window [start, end) in seconds of frame `index`. */
export function frameWindow(index: number, fps: number): { start: number; end: number } {
  if (!(fps > 0)) throw new RangeError(`fps must be positive, got ${fps}`);
  return { start: index / fps, end: (index + 1) / fps };
}

/** The frame whose window holds `seconds`, clamped to [0, numFrames - 1]. */
export function frameAtTime(seconds: number, fps: number, numFrames: number): number {
  if (numFrames <= 0) return 0;
  if (!(fps > 0)) throw new RangeError(`fps must be positive, got ${fps}`);
  // The epsilon keeps k/fps itself in frame k despite floating-point error (e.g. 0.3 * 10 = 2.9999…).
  const k = Math.floor(seconds * fps + 1e-9);
  return Math.min(numFrames - 1, Math.max(0, k));
}
