import { describe, expect, it } from "vitest";
import {
  acceptedInstances,
  defaultEndIndex,
  frameMarks,
  framesText,
  markText,
  progressFraction,
  rangeFrameIndexes,
  rangeProblem,
  type TrackedRange,
} from "./propagation";

const dog = (sounding: boolean, low = false) => ({ track: 0, label: "dog", sounding, low_confidence: low });
const guitar = (sounding: boolean) => ({ track: 1, label: "guitar", sounding, low_confidence: false });

const propagation: TrackedRange = {
  id: 7,
  source_frame_index: 1,
  start_frame_index: 1,
  end_frame_index: 4,
  frames: [
    { frame_index: 1, silent: false, low_confidence: false, instances: [dog(true), guitar(false)] },
    { frame_index: 2, silent: false, low_confidence: false, instances: [dog(true), guitar(true)] },
    { frame_index: 3, silent: false, low_confidence: true, instances: [dog(false, true), guitar(true)] },
    { frame_index: 4, silent: true, low_confidence: false, instances: [dog(false), guitar(false)] },
  ],
};

describe("propagation review", () => {
  it("marks the frames a propagation reached, its silent instances and its uncertain frames", () => {
    const marks = frameMarks([0, 1, 2, 3, 4, 5], propagation);
    expect(marks.map((m) => m.propagated)).toEqual([false, false, true, true, true, false]);
    expect(marks.map((m) => m.source)).toEqual([false, true, false, false, false, false]);
    expect(marks.map((m) => m.silentLabels)).toEqual([[], [], [], ["dog"], ["dog", "guitar"], []]);
    expect(marks.map((m) => m.allSilent)).toEqual([false, false, false, false, true, false]);
    expect(marks.map((m) => m.check)).toEqual([false, false, false, true, false, false]);
    expect(frameMarks([0, 1], null).every((m) => !m.propagated && !m.source)).toBe(true);
  });

  it("says what a mark means", () => {
    const marks = frameMarks([1, 2, 3], propagation);
    expect(markText(marks[0])).toBe("propagation source");
    expect(markText(marks[1])).toBe("propagated");
    expect(markText(marks[2])).toMatch(/^propagated; silent here: dog visible but not sounding .*; check: tracking confidence dropped$/);
  });

  it("accepts sounding instances unless silent ones are included, on the range without its source", () => {
    expect(acceptedInstances(propagation.frames[2], false).map((i) => i.label)).toEqual(["guitar"]);
    expect(acceptedInstances(propagation.frames[2], true).map((i) => i.label)).toEqual(["dog", "guitar"]);
    expect(acceptedInstances(propagation.frames[3], false)).toEqual([]);
    expect(acceptedInstances(undefined, true)).toEqual([]);
    const lost = { frame_index: 2, silent: false, low_confidence: true, instances: [{ ...dog(true, true), area: 0 }, { ...guitar(false), area: 40 }] };
    expect(acceptedInstances(lost, true).map((i) => i.label)).toEqual(["guitar"]); // the tracker lost the dog here
    expect(frameMarks([2], { ...propagation, frames: [lost] })[0]).toMatchObject({ silentLabels: ["guitar"], allSilent: true, check: true });
    expect(rangeFrameIndexes(propagation)).toEqual([2, 3, 4]);
  });

  it("runs to the clip's end going forward and to its start going backward, and refuses ranges on the wrong side", () => {
    const frames = [0, 1, 2, 3, 4];
    expect(defaultEndIndex("forward", frames)).toBe(4);
    expect(defaultEndIndex("backward", frames)).toBe(0);
    expect(rangeProblem("forward", 1, 4, frames)).toBeNull();
    expect(rangeProblem("backward", 3, 0, frames)).toBeNull();
    expect(rangeProblem("forward", 4, 4, frames)).toMatch(/last frame/);
    expect(rangeProblem("backward", 0, 0, frames)).toMatch(/first frame/);
    expect(rangeProblem("forward", 2, 1, frames)).toBe("Going forward, the end frame must come after frame 3.");
    expect(rangeProblem("forward", 2, 9, frames)).toBe("The end frame must be a frame of the clip (1 to 5).");
  });

  it("reads progress as a fraction and names frames from one", () => {
    expect(progressFraction(0.25)).toBe(0.25);
    expect(progressFraction(40)).toBe(0.4);
    expect(progressFraction(undefined)).toBe(0);
    expect(framesText([3])).toBe("frame 4");
    expect(framesText([6, 2, 3])).toBe("frames 3, 4 and 7");
  });
});
