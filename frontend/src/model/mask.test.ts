import { describe, expect, it } from "vitest";
import {
  cloneMask,
  createMask,
  fillPolygon,
  isEmpty,
  maskArea,
  maskAt,
  maskBounds,
  maskFromArray,
  paintDisc,
  paintSegment,
  subtract,
  union,
} from "./mask";

const rows = (mask: ReturnType<typeof createMask>) =>
  Array.from({ length: mask.height }, (_, y) => Array.from(mask.data.subarray(y * mask.width, (y + 1) * mask.width)).join(""));

describe("brush disc", () => {
  it("paints the pixels whose centres lie within the radius, at frame resolution", () => {
    const mask = createMask(7, 7);
    paintDisc(mask, { x: 3.5, y: 3.5 }, 2, 1);
    expect(rows(mask)).toEqual([
      "0000000",
      "0001000",
      "0011100",
      "0111110",
      "0011100",
      "0001000",
      "0000000",
    ]);
  });

  it("covers about πr² pixels and stays inside the frame at the border", () => {
    const mask = createMask(200, 100);
    paintDisc(mask, { x: 100, y: 50 }, 20, 1);
    expect(Math.abs(maskArea(mask) - Math.PI * 400) / (Math.PI * 400)).toBeLessThan(0.03);
    const edge = createMask(10, 10);
    paintDisc(edge, { x: 0, y: 0 }, 3, 1);
    expect(maskAt(edge, 0, 0)).toBe(true);
    expect(maskArea(edge)).toBeGreaterThan(0);
  });

  it("a 1-pixel brush paints the pixel under the cursor", () => {
    const mask = createMask(5, 5);
    paintDisc(mask, { x: 2.3, y: 1.7 }, 0.5, 1);
    expect(maskArea(mask)).toBe(1);
    expect(maskAt(mask, 2, 1)).toBe(true);
  });

  it("a stroke segment leaves no gaps between samples", () => {
    const mask = createMask(100, 20);
    paintSegment(mask, { x: 5, y: 10 }, { x: 95, y: 10 }, 2, 1);
    for (let x = 5; x < 95; x++) expect(maskAt(mask, x, 10)).toBe(true);
    expect(maskBounds(mask)).toEqual({ x0: 3, y0: 8, x1: 97, y1: 12 });
  });
});

describe("eraser", () => {
  it("clears a disc and nothing else", () => {
    const mask = createMask(20, 20);
    mask.data.fill(1);
    paintDisc(mask, { x: 10, y: 10 }, 3, 0);
    expect(maskAt(mask, 10, 10)).toBe(false);
    expect(maskAt(mask, 1, 1)).toBe(true);
    expect(maskArea(mask)).toBe(400 - 32); // 32 centres within r = 3 of (10, 10)
  });

  it("subtract erases one mask from another without touching the inputs", () => {
    const a = maskFromArray(3, 1, [1, 1, 1]);
    const b = maskFromArray(3, 1, [0, 1, 0]);
    expect(Array.from(subtract(a, b).data)).toEqual([1, 0, 1]);
    expect(Array.from(union(b, maskFromArray(3, 1, [0, 0, 1])).data)).toEqual([0, 1, 1]);
    expect(Array.from(a.data)).toEqual([1, 1, 1]);
    expect(() => union(a, createMask(2, 2))).toThrow(/sizes differ/);
  });
});

describe("polygon fill", () => {
  it("fills an axis-aligned rectangle exactly", () => {
    const mask = createMask(10, 8);
    fillPolygon(mask, [
      { x: 2, y: 1 },
      { x: 7, y: 1 },
      { x: 7, y: 5 },
      { x: 2, y: 5 },
    ]);
    expect(maskArea(mask)).toBe(5 * 4);
    expect(maskBounds(mask)).toEqual({ x0: 2, y0: 1, x1: 7, y1: 5 });
  });

  it("fills a triangle by pixel centres and a concave shape without its notch", () => {
    const tri = createMask(5, 5);
    fillPolygon(tri, [
      { x: 0, y: 0 },
      { x: 5, y: 0 },
      { x: 0, y: 5 },
    ]);
    expect(rows(tri)).toEqual(["11110", "11100", "11000", "10000", "00000"]);

    const u = createMask(6, 4);
    fillPolygon(u, [
      { x: 0, y: 0 },
      { x: 2, y: 0 },
      { x: 2, y: 2 },
      { x: 4, y: 2 },
      { x: 4, y: 0 },
      { x: 6, y: 0 },
      { x: 6, y: 4 },
      { x: 0, y: 4 },
    ]);
    expect(rows(u)).toEqual(["110011", "110011", "111111", "111111"]);
  });

  it("ignores degenerate polygons and clips to the frame", () => {
    const mask = createMask(4, 4);
    fillPolygon(mask, [
      { x: 0, y: 0 },
      { x: 3, y: 3 },
    ]);
    expect(isEmpty(mask)).toBe(true);
    fillPolygon(mask, [
      { x: -10, y: -10 },
      { x: 10, y: -10 },
      { x: 10, y: 10 },
      { x: -10, y: 10 },
    ]);
    expect(maskArea(mask)).toBe(16);
    expect(maskArea(cloneMask(mask))).toBe(16);
  });
});
