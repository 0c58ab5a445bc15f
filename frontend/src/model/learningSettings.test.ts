import { describe, expect, it } from "vitest";
import { makeLearningSettings } from "../hooks/testing/fixtures";
import { learningFormValues, learningSettingsChanges } from "./learningSettings";

describe("learning settings form", () => {
  it("sends nothing when nothing changed", () => {
    const settings = makeLearningSettings({ student_config: { pseudo_low: 0.3, epochs: 2 } });
    expect(learningSettingsChanges(settings, learningFormValues(settings))).toEqual({});
  });

  it("sends only what changed, thresholds merged into the other training settings", () => {
    const settings = makeLearningSettings({ student_config: { pseudo_low: 0.3, epochs: 2 } });
    const values = { ...learningFormValues(settings), splitSeed: "7", pseudoHigh: "0.9" };
    expect(learningSettingsChanges(settings, values)).toEqual({
      split_seed: 7,
      student_config: { pseudo_low: 0.3, epochs: 2, pseudo_high: 0.9 },
    });
  });

  it("an emptied threshold goes back to the student's default", () => {
    const settings = makeLearningSettings({ student_config: { pseudo_low: 0.3, epochs: 2 } });
    const values = { ...learningFormValues(settings), pseudoLow: "" };
    expect(learningSettingsChanges(settings, values)).toEqual({ student_config: { epochs: 2 } });
  });
});
