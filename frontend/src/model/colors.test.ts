import { describe, expect, it } from "vitest";
import { labelColours } from "./colors";

describe("label colours", () => {
  it("uses the vocabulary's colours (any case) and gives new labels unused palette colours", () => {
    const vocabulary = [
      { name: "dog", color: "#e6194b" },
      { name: "car", color: "#3cb44b" },
    ];
    const colours = labelColours(vocabulary, ["Dog", "piano", "car", "piano", "violin"]);
    expect(colours.get("Dog")).toBe("#e6194b");
    expect(colours.get("car")).toBe("#3cb44b");
    expect(colours.get("piano")).toBe("#ffe119");
    expect(colours.get("violin")).toBe("#4363d8");
  });
});
