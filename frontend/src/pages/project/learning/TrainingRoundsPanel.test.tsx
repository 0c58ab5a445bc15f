import { server, page } from "../../../hooks/testing/fakeServer"; // first: replaces fetch before the client exists
import { act } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { LearningSettings, TrainingRound } from "../../../hooks/studioApi";
import {
  makeAcquisitionStrategy,
  makeClip,
  makeLearningSettings,
  makeMe,
  makeModelVersion,
  makeProjectDetail,
  makeTrainingRound,
} from "../../../hooks/testing/fixtures";
import { byTestId, byText, choose, cleanup, click, renderApp, waitFor } from "../../../hooks/testing/render";
import { ROUND_POLL_MS } from "../../../hooks/useTrainingRounds";

/** The Models tab's training rounds against a fake server: progress, held-out figures, actions by role. */

const JUDGED = {
  split: "heldout",
  student: { miou: 0.62, fscore: 0.7, fscore_at_0_5: 0.68, semantic_miou: null, n_clips: 2, n_frames: 12, report: 9 },
  proposer: { miou: 0.41, fscore: 0.73, fscore_at_0_5: 0.6, semantic_miou: null, n_clips: 2, n_frames: 12, report: 8 },
  compared_clips: [4, 5],
  skipped_clips: [],
};

/** The rounds endpoint answers with `state.rounds` (what the workers have done so far). */
function roundsServer(rounds: TrainingRound[] = []) {
  const state = { rounds };
  server.on("GET", "/api/projects/7/training-rounds/", () => ({ body: page(state.rounds) }));
  return state;
}

/** The learning settings endpoint answers with `state.settings` (changed by promotions and roll backs). */
function learningServer(settings: LearningSettings = makeLearningSettings()) {
  const state = { settings };
  server.on("GET", "/api/projects/7/learning-settings/", () => ({ body: state.settings }));
  return state;
}

const advance = (ms: number) => act(async () => void (await vi.advanceTimersByTimeAsync(ms)));

function projectAs(role: string) {
  server.on("GET", "/api/projects/7/", { body: makeProjectDetail({ role }) });
}

beforeEach(() => {
  server.on("GET", "/api/auth/me/", { body: makeMe() });
  server.on("GET", "/api/projects/7/jobs/", { body: page([]) });
  server.on("GET", "/api/projects/7/clips/", { body: page([makeClip()]) });
  server.on("GET", "/api/projects/7/annotations/", { body: page([]) });
  server.on("GET", "/api/projects/7/model-versions/", { body: page([makeModelVersion()]) });
  server.on("GET", "/api/projects/7/acquisition-strategy/", { body: makeAcquisitionStrategy() });
  learningServer();
  projectAs("manager");
});

afterEach(() => {
  cleanup();
  server.reset();
  vi.useRealTimers();
});

describe("training rounds", () => {
  it("shows a running round's epoch, loss and ETA, and re-reads it until it ends", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const running = makeTrainingRound({
      status: "running",
      model_version: null,
      finished_at: null,
      progress: {
        status: "running",
        percent: 40,
        message: "Epoch 3 of 8",
        phase: "training",
        epoch: 3,
        epochs: 8,
        loss: 0.21345,
        eta_seconds: 95,
      },
    });
    const state = roundsServer([running]);
    await renderApp("/projects/7?tab=models");

    const progress = await waitFor(() => byTestId("round-progress-5"));
    expect(progress.textContent).toContain("Epoch 3 of 8 · loss 0.2135 · about 2 min left");
    expect(progress.querySelector('[role="progressbar"]')?.getAttribute("aria-valuenow")).toBe("40");
    expect(byText("Updating every 2 s", "span")).not.toBeNull();
    const versionReads = server.callsTo("GET", "/api/projects/7/model-versions/").length;

    state.rounds = [makeTrainingRound({ metrics: JUDGED, curve: [0.9, 0.5, 0.3], reason: "Promoted: the student beats the proposer." })];
    await advance(ROUND_POLL_MS);
    await waitFor(() => byTestId("round-heldout-5"));
    expect(byTestId("round-progress-5")).toBeNull();
    expect(byTestId("round-5")?.getAttribute("data-status")).toBe("succeeded");
    expect(byTestId("round-reason-5")?.textContent).toContain("Promoted");
    // The round's end re-reads the model versions (a new student version) and stops polling.
    await waitFor(() => server.callsTo("GET", "/api/projects/7/model-versions/").length > versionReads);
    const reads = server.callsTo("GET", "/api/projects/7/training-rounds/").length;
    await advance(ROUND_POLL_MS * 3);
    expect(server.callsTo("GET", "/api/projects/7/training-rounds/").length).toBe(reads);
  });

  it("puts the student's held-out figures beside the proposer's, with the loss curve", async () => {
    roundsServer([makeTrainingRound({ metrics: JUDGED, curve: [0.9, 0.6, 0.45, 0.3] })]);
    await renderApp("/projects/7?tab=models");

    const table = await waitFor(() => byTestId("round-heldout-5"));
    expect(table.querySelector("thead")?.textContent).toContain("synchrony-baseline");
    const rows = Array.from(table.querySelectorAll("tbody tr")).map((tr) =>
      Array.from(tr.querySelectorAll("td")).map((td) => td.textContent),
    );
    expect(rows).toEqual([
      ["mIoU", "0.62", "0.41"],
      ["F-score", "0.7", "0.73"],
      ["F-score @ 0.5", "0.68", "0.6"],
      ["Clips", "2", "2"],
      ["Frames", "12", "12"],
    ]);
    const best = Array.from(table.querySelectorAll("td.best")).map((td) => td.textContent);
    expect(best).toEqual(["0.62", "0.73", "0.68"]);

    const curve = byTestId("round-curve-5")!;
    const points = curve.querySelector("polyline")!.getAttribute("points")!.split(" ");
    expect(points).toHaveLength(4);
    const ys = points.map((p) => Number(p.split(",")[1]));
    expect(ys[0]).toBeLessThan(ys[3]); // the loss falls: the line goes down the box (SVG y grows downwards)
    expect(curve.textContent).toContain("0.9 → 0.3");
  });

  it("posts a round with the chosen student and shows it at once", async () => {
    const state = roundsServer([]);
    const queued = makeTrainingRound({ id: 6, status: "queued", student_kind: "av2t_sam", model_version: null, finished_at: null });
    server.on("POST", "/api/projects/7/training-rounds/", () => {
      state.rounds = [queued];
      return { status: 202, body: queued };
    });
    await renderApp("/projects/7?tab=models");
    await waitFor(() => byText("No training rounds yet."));

    await choose(byTestId("round-student"), "av2t_sam");
    await click(byTestId("round-start"));
    await waitFor(() => server.callsTo("POST", "/api/projects/7/training-rounds/").length === 1);
    expect(server.callsTo("POST", "/api/projects/7/training-rounds/")[0].body).toEqual({ student: "av2t_sam" });
    const card = await waitFor(() => byTestId("round-6"));
    expect(card.textContent).toContain("AV2T-SAM student");
    expect(card.textContent).toContain("queued");
    expect(byTestId<HTMLButtonElement>("round-start")!.disabled).toBe(true); // one round at a time
  });

  it("shows the server's refusal to start a round", async () => {
    roundsServer([]);
    server.on("POST", "/api/projects/7/training-rounds/", {
      status: 409,
      body: { message: "Training round 4 of this project is running: wait for it to finish or cancel it.", extra: {} },
    });
    await renderApp("/projects/7?tab=models");
    await click(await waitFor(() => byTestId("round-start")));
    await waitFor(() => byText("Training round 4 of this project is running", '[role="alert"]'));
  });

  it("cancels a running round after a confirmation", async () => {
    const running = makeTrainingRound({ status: "running", model_version: null, progress: null });
    const state = roundsServer([running]);
    server.on("POST", "/api/training-rounds/5/cancel/", () => {
      state.rounds = [{ ...running, status: "cancelled", reason: "Cancelled by ann." }];
      return { body: state.rounds[0] };
    });
    await renderApp("/projects/7?tab=models");
    const cancel = await waitFor(() => byTestId("round-cancel-5"));
    await click(cancel);
    expect(server.callsTo("POST", "/api/training-rounds/5/cancel/")).toHaveLength(0); // armed, not yet sent
    await click(byTestId("round-cancel-5"));
    await waitFor(() => byTestId("round-5")?.getAttribute("data-status") === "cancelled");
    expect(server.callsTo("POST", "/api/training-rounds/5/cancel/")).toHaveLength(1);
  });
});

describe("promote and roll back", () => {
  it("lets a manager promote a student the rule did not, and roll the proposer back", async () => {
    roundsServer([makeTrainingRound({ metrics: JUDGED, reason: "Not promoted: the student does not beat the proposer." })]);
    const promoted = makeLearningSettings({
      proposer: { id: 31, kind: "student", name: "compact student (round 5)" },
      proposer_history: [
        {
          id: 1,
          action: "promote",
          model_version: { id: 31, kind: "student", name: "compact student (round 5)" },
          previous: null,
          training_round: null,
          changed_by: { id: 1, username: "ann" },
          reason: "Promoted by ann.",
          created_at: "2025-01-02T10:00:00Z",
        },
      ],
    });
    const learning = learningServer();
    server.on("POST", "/api/model-versions/31/promote/", () => {
      learning.settings = promoted;
      return { body: promoted };
    });
    server.on("POST", "/api/projects/7/proposer/rollback/", () => {
      learning.settings = makeLearningSettings();
      return { body: learning.settings };
    });
    await renderApp("/projects/7?tab=models");

    await click(await waitFor(() => byTestId("round-promote-5")));
    await waitFor(() => server.callsTo("POST", "/api/model-versions/31/promote/").length === 1);
    // Now the student is the proposer: no promote button, a roll back instead, the change listed.
    await waitFor(() => byTestId("proposer-rollback"));
    expect(byTestId("round-promote-5")).toBeNull();
    expect(byTestId("proposer-change-1")?.textContent).toContain("Promoted compact student (round 5) (#31) by ann");

    await click(byTestId("proposer-rollback"));
    await waitFor(() => server.callsTo("POST", "/api/projects/7/proposer/rollback/").length === 1);
    await waitFor(() => byTestId("round-promote-5"));
    expect(byTestId("proposer-rollback")).toBeNull();
  });

  for (const role of ["annotator", "reviewer"]) {
    it(`shows the ${role} rounds and figures without start, cancel, promote or roll back`, async () => {
      projectAs(role);
      learningServer(makeLearningSettings({ proposer: { id: 30, kind: "student", name: "compact student (round 4)" } }));
      roundsServer([
        makeTrainingRound({ metrics: JUDGED }),
        makeTrainingRound({ id: 7, status: "running", model_version: null, progress: null }),
      ]);
      await renderApp("/projects/7?tab=models");
      await waitFor(() => byTestId("round-heldout-5"));
      await waitFor(() => byTestId("learning-form"));
      expect(byTestId("round-7")).not.toBeNull();
      expect(byTestId("round-start")).toBeNull();
      expect(byTestId("round-promote-5")).toBeNull();
      expect(byTestId("round-cancel-7")).toBeNull();
      expect(byTestId("proposer-rollback")).toBeNull();
    });
  }
});
