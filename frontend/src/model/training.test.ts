import { describe, expect, it } from "vitest";
import { makeTrainingRound } from "../hooks/testing/fixtures";
import { curvePoints, formatEta, heldoutComparison, lossCurve, progressLine, rowWinner } from "./training";

describe("curvePoints", () => {
  it("spans the box left to right, the highest loss at the top and the lowest at the bottom", () => {
    expect(curvePoints([1, 0.5, 0], 100, 50, 0)).toBe("0,0 50,25 100,50");
    expect(curvePoints([2, 4], 104, 54, 2)).toBe("2,52 102,2");
  });

  it("draws a flat curve and a single epoch as a level line at mid-height", () => {
    expect(curvePoints([0.3, 0.3], 100, 50, 0)).toBe("0,25 100,25");
    expect(curvePoints([0.7], 100, 50, 0)).toBe("0,25 100,25");
    expect(curvePoints([], 100, 50)).toBe("");
  });
});

describe("a round's figures", () => {
  it("reads the student's and proposer's held-out figures, leaving out rows neither has", () => {
    const comparison = heldoutComparison({
      student: { miou: 0.5, fscore: 0.6, semantic_miou: null, n_clips: 3 },
      proposer: { miou: 0.5, fscore: 0.4, semantic_miou: null, n_clips: 3 },
      skipped_clips: [{ clip: 9 }],
    })!;
    expect(comparison.rows.map((r) => r.key)).toEqual(["miou", "fscore", "n_clips"]);
    expect(comparison.skipped).toBe(1);
    const [miou, fscore, clips] = comparison.rows;
    expect(rowWinner(miou, comparison)).toBeNull(); // a tie
    expect(rowWinner(fscore, comparison)).toBe("student");
    expect(rowWinner(clips, comparison)).toBeNull(); // counts are not compared
  });

  it("has no comparison before the round was judged", () => {
    expect(heldoutComparison({ training: { curve: [1] } })).toBeNull();
    expect(heldoutComparison(null)).toBeNull();
  });

  it("takes the loss curve from the round, else from its training metrics, ignoring malformed ones", () => {
    expect(lossCurve(makeTrainingRound({ curve: [0.5, 0.25] }))).toEqual([0.5, 0.25]);
    expect(lossCurve(makeTrainingRound({ curve: [], metrics: { training: { curve: [0.9] } } }))).toEqual([0.9]);
    expect(lossCurve(makeTrainingRound({ curve: ["x", 1] }))).toEqual([]);
  });
});

describe("progress", () => {
  it("says the epoch, loss and time left while training, the job's message otherwise", () => {
    const base = { status: "running", percent: 10, message: "Judging on the held-out split: clip 1 of 2.", epoch: null, epochs: null, loss: null, eta_seconds: null };
    expect(progressLine({ ...base, phase: "training", epoch: 1, epochs: 4, loss: 0.5, eta_seconds: 30 })).toBe(
      "Epoch 1 of 4 · loss 0.5000 · about 30 s left",
    );
    expect(progressLine({ ...base, phase: "judging" })).toBe("Judging on the held-out split: clip 1 of 2.");
    expect(progressLine(null)).toBe("");
    expect(formatEta(7200)).toBe("2.0 h");
    expect(formatEta(600)).toBe("10 min");
  });
});
