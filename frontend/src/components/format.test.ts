import { describe, expect, it } from "vitest";
import { formatMetric } from "./format";

describe("formatMetric", () => {
  it("shows numbers to 4 significant digits and integers as they are", () => {
    expect(formatMetric(0.74321)).toBe("0.7432");
    expect(formatMetric(5)).toBe("5");
    expect(formatMetric(null)).toBe("—");
  });

  it("sums up a loss curve by its length and its ends instead of every value", () => {
    expect(formatMetric([1.5971633, 1.38, 1.36, 1.118852])).toBe("4 values: 1.597 → 1.119");
    expect(formatMetric([1, 2])).toBe("[1,2]");
  });
});
