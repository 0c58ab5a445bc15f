import { describe, expect, it } from "vitest";
import { describeProvenance } from "./provenance";

describe("provenance", () => {
  it("reads OpenAVS provenance as audio tags → noun → box", () => {
    const steps = describeProvenance({
      audio_tags: [{ label: "Bark", score: 0.91 }],
      noun: "dog",
      translator: "llm",
      boxes: [{ xyxy: [10.2, 20.7, 110, 95.5], score: 0.8, mask_iou: 0.9 }],
    });
    expect(steps.map((s) => s.title)).toEqual(["Audio tags", "Noun", "Box"]);
    expect(steps[0].detail).toBe("Bark (0.91)");
    expect(steps[1].detail).toBe("dog (via llm)");
    expect(steps[2].detail).toBe("[10, 21, 110, 96] score 0.80");
  });

  it("reads the synchrony baseline and degrades gracefully", () => {
    const steps = describeProvenance({ method: "synchrony-baseline", audio_level_db: -20.5, synchrony: null, box: [1, 2, 3, 4] });
    expect(steps[0]).toEqual({ title: "Method", detail: "synchrony-baseline, audio level db -20.50" });
    expect(steps[1]).toEqual({ title: "Box", detail: "[1, 2, 3, 4]" });
    expect(describeProvenance(null)).toEqual([]);
    expect(describeProvenance({ model: "x" })).toEqual([{ title: "model", detail: '"x"' }]);
  });

  it("reads a propagated instance's audio check", () => {
    const steps = describeProvenance({ rms: 0.0123, audio_tags: [["Bark", 0.7]], supported_by: [], reason: "the window carries no dog sound" });
    expect(steps).toEqual([
      { title: "Audio level", detail: "RMS 0.012" },
      { title: "Audio tags", detail: "Bark (0.70)" },
      { title: "Sounding", detail: "no tag supports the label" },
      { title: "Why", detail: "the window carries no dog sound" },
    ]);
  });
});
