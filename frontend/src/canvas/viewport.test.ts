import { describe, expect, it } from "vitest";
import { composeLayers } from "./compose";
import { fitView, panBy, toFrame, toScreen, zoomAt } from "./viewport";
import { maskFromArray } from "../model/mask";

describe("view transform", () => {
  it("fits the frame centred and maps screen ↔ frame both ways", () => {
    const view = fitView(1000, 500, 640, 360);
    expect(view.scale).toBeCloseTo((500 / 360) * 0.98);
    const p = toFrame(view, 500, 250);
    expect(p.x).toBeCloseTo(320);
    expect(p.y).toBeCloseTo(180);
    const s = toScreen(view, p.x, p.y);
    expect(s.x).toBeCloseTo(500);
    expect(s.y).toBeCloseTo(250);
  });

  it("zooms about the pointer (the frame point under it stays put) within limits, and pans", () => {
    const view = { scale: 1, offsetX: 10, offsetY: 20 };
    const before = toFrame(view, 300, 200);
    const zoomed = zoomAt(view, 2, 300, 200, 0.5);
    const after = toFrame(zoomed, 300, 200);
    expect(zoomed.scale).toBe(2);
    expect(after.x).toBeCloseTo(before.x);
    expect(after.y).toBeCloseTo(before.y);
    expect(zoomAt(view, 1000, 0, 0, 0.5).scale).toBe(32);
    expect(zoomAt(view, 0.001, 0, 0, 0.5).scale).toBe(0.5);
    expect(panBy(view, 5, -5)).toEqual({ scale: 1, offsetX: 15, offsetY: 15 });
  });
});

describe("mask compositing", () => {
  it("colours each pixel after the topmost mask covering it, with opaque edges", () => {
    const a = maskFromArray(4, 3, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    const b = maskFromArray(4, 3, [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    const out = new Uint8ClampedArray(4 * 3 * 4);
    composeLayers(out, 4, 3, [
      { mask: a, rgb: [255, 0, 0], fillAlpha: 100, edgeAlpha: 250 },
      { mask: b, rgb: [0, 0, 255], fillAlpha: 100, edgeAlpha: 250 },
    ]);
    const px = (x: number, y: number) => Array.from(out.subarray((y * 4 + x) * 4, (y * 4 + x) * 4 + 4));
    expect(px(1, 1)).toEqual([0, 0, 255, 250]); // b on top; a lone pixel is all edge
    expect(px(2, 1)).toEqual([255, 0, 0, 100]); // interior of a
    expect(px(0, 0)).toEqual([255, 0, 0, 250]); // frame border counts as edge
  });
});
