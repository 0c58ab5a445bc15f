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

/**
 * How a frame is named to a person, everywhere in the app: 1-based, out of the clip's frame count
 * ("Frame 3 of 5"). Indexes stay 0-based in the API and in URLs (`/clips/12?frame=2` is "Frame 3").
 */
export function frameLabel(index: number, numFrames?: number | null): string {
  const n = index + 1;
  return numFrames != null && numFrames > 0 ? `Frame ${n} of ${numFrames}` : `Frame ${n}`;
}

/** Frame `index`'s window as "2.0–3.0 s", with enough decimals to tell frames apart at `fps`; "" without a rate. */
export function frameWindowText(index: number, fps: number | null | undefined): string {
  if (fps == null || !(fps > 0)) return "";
  const { start, end } = frameWindow(index, fps);
  const decimals = Math.min(3, Math.max(1, Math.ceil(Math.log10(fps) - 1e-9) + 1));
  return `${start.toFixed(decimals)}–${end.toFixed(decimals)} s`;
}

/** "Frame 3 of 5 (2.0–3.0 s)": the label with the window when the rate is known. */
export function frameDescription(index: number, numFrames?: number | null, fps?: number | null): string {
  const window = frameWindowText(index, fps);
  return window ? `${frameLabel(index, numFrames)} (${window})` : frameLabel(index, numFrames);
}
