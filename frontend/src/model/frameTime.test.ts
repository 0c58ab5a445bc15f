import { describe, expect, it } from "vitest";
import { frameAtTime, frameDescription, frameLabel, frameWindow, frameWindowText } from "./frameTime";

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

describe("frame names for people", () => {
  it("numbers frames from 1 out of the clip's count, with the window of the 0-based index", () => {
    expect(frameLabel(2, 5)).toBe("Frame 3 of 5"); // the third of five frames
    expect(frameLabel(0, 5)).toBe("Frame 1 of 5");
    expect(frameLabel(4, 5)).toBe("Frame 5 of 5");
    expect(frameLabel(2)).toBe("Frame 3");
    expect(frameWindowText(2, 1)).toBe("2.0–3.0 s"); // AVSBench: 1 s windows
    expect(frameWindowText(0, 1)).toBe("0.0–1.0 s");
    expect(frameWindowText(3, 10)).toBe("0.30–0.40 s");
    expect(frameWindowText(1, 25)).toBe("0.040–0.080 s"); // neighbours stay distinct at video rates
    expect(frameWindowText(1, 0.5)).toBe("2.0–4.0 s");
    expect(frameWindowText(1, null)).toBe("");
    expect(frameDescription(2, 5, 1)).toBe("Frame 3 of 5 (2.0–3.0 s)");
    expect(frameDescription(2, 5, null)).toBe("Frame 3 of 5");
  });
});
