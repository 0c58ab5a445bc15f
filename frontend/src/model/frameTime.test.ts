import { describe, expect, it } from "vitest";
import { frameAtTime, frameWindow } from "./frameTime";

describe("frames and audio time", () => {
  it("frame k covers [k/fps, (k+1)/fps); a time picks its frame, clamped to the clip", () => {
    expect(frameWindow(3, 10)).toEqual({ start: 0.3, end: 0.4 });
    expect(frameAtTime(0.3, 10, 50)).toBe(3); // despite 0.3 * 10 = 2.9999999999999996
    expect(frameAtTime(0.3999, 10, 50)).toBe(3);
    expect(frameAtTime(-1, 10, 50)).toBe(0);
    expect(frameAtTime(99, 10, 50)).toBe(49);
    expect(frameAtTime(2.5, 1, 5)).toBe(2);
    expect(() => frameWindow(1, 0)).toThrow(/fps/);
  });
});
