import { server, page } from "../../hooks/testing/fakeServer"; // first: replaces fetch before the client exists
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ReviewQueueClip } from "../../hooks/studioApi";
import { makeClip, makeMe, makeProjectDetail } from "../../hooks/testing/fixtures";
import { byTestId, cleanup, click, renderApp, typeInto, waitFor } from "../../hooks/testing/render";

function queued(id: number, name: string, overrides: Partial<ReviewQueueClip> = {}): ReviewQueueClip {
  return {
    id,
    name,
    duration: 10,
    has_audio: true,
    num_frames: 10,
    proposal_count: 1,
    annotated_count: 0,
    accepted_count: 0,
    submitted_count: 0,
    rejected_count: 0,
    acquisition_score: null,
    acquisition_scored_at: null,
    acquisition_strategy: null,
    acquisition_top_term: null,
    acquisition_top_value: null,
    acquisition_reason: null,
    acquisition_model_version: null,
    ...overrides,
  };
}

beforeEach(() => {
  server.on("GET", "/api/auth/me/", { body: makeMe() });
  server.on("GET", "/api/projects/7/", { body: makeProjectDetail({ role: "annotator" }) });
  server.on("GET", "/api/projects/7/jobs/", { body: page([]) });
  server.on("GET", "/api/projects/7/clips/", { body: page([makeClip()]) });
});

afterEach(() => {
  cleanup();
  server.reset();
});

describe("review queue reasons", () => {
  it("shows each scored clip's score and why, and nothing for clips never scored", async () => {
    server.on("GET", "/api/projects/7/review-queue/", {
      body: page([
        queued(21, "unsure.mp4", {
          acquisition_score: 0.61,
          acquisition_scored_at: "2025-01-02T10:00:00Z",
          acquisition_strategy: "combined",
          acquisition_top_term: "topk_entropy",
          acquisition_top_value: 0.93,
          acquisition_reason: "top-k pixel entropy 0.93 (combined)",
          acquisition_model_version: 4,
        }),
        queued(22, "legacy.mp4", { acquisition_score: 0.2, acquisition_scored_at: "2025-01-02T10:00:00Z" }),
        queued(23, "new.mp4"),
      ]),
    });
    await renderApp("/projects/7?tab=queue");
    await waitFor(() => byTestId("queue-row-23"));

    const reason = byTestId("queue-reason-21")!;
    expect(reason.textContent).toBe("top-k pixel entropy 0.93 (combined)");
    expect(reason.getAttribute("title")).toBe("Strategy: combined; top term: topk_entropy = 0.93; model version 4");
    expect(byTestId("queue-row-21")!.textContent).toContain("0.61");
    expect(byTestId("queue-reason-22")).toBeNull(); // scored without a strategy: the score alone
    expect(byTestId("queue-row-22")!.textContent).toContain("0.2");
    expect(byTestId("queue-reason-23")).toBeNull();
    expect(byTestId("queue-row-23")!.textContent).toContain("not scored");
  });
});

describe("next batch", () => {
  beforeEach(() => {
    server.on("GET", "/api/projects/7/", { body: makeProjectDetail({ role: "manager" }) });
  });

  it("is not offered to annotators (managers pick batches)", async () => {
    server.on("GET", "/api/projects/7/", { body: makeProjectDetail({ role: "annotator" }) });
    server.on("GET", "/api/projects/7/review-queue/", { body: page([queued(21, "drums.mp4")]) });
    await renderApp("/projects/7?tab=queue");
    await waitFor(() => byTestId("queue-row-21"));
    expect(byTestId("next-batch")).toBeNull();
  });

  it("picks the asked number of clips, links them to the annotator and names the near-duplicates left out", async () => {
    server.on("GET", "/api/projects/7/review-queue/", { body: page([queued(21, "drums.mp4"), queued(22, "dog.mp4")]) });
    server.on("POST", "/api/projects/7/queue/batch/", {
      body: {
        size: 2,
        strategy: "combined",
        method: "diverse",
        min_distance: 0.05,
        reason: "",
        clips: [
          { id: 22, name: "dog.mp4", score: 0.8, strategy: "combined", top_term: "disagreement", top_term_value: 0.7, reason: "disagreement 0.70 (combined)" },
          { id: 21, name: "drums.mp4", score: 0.5, strategy: "combined", top_term: null, top_term_value: null, reason: null },
        ],
        near_duplicates: [{ id: 23, name: "dog-again.mp4", duplicate_of: 22, duplicate_of_name: "dog.mp4" }],
        unscored: 0,
        without_embedding: [],
      },
    });
    await renderApp("/projects/7?tab=queue");
    await typeInto(await waitFor(() => byTestId("next-batch-size")), "2");
    await click(byTestId("next-batch-pick"));
    await waitFor(() => byTestId("next-batch-result"));

    const [call] = server.callsTo("POST", "/api/projects/7/queue/batch/");
    expect(call.body).toEqual({ size: 2 });
    expect(byTestId("next-batch-result")!.textContent).toContain("Strategy combined: best score first, near-duplicates left out.");
    expect(byTestId("next-batch-start")!.getAttribute("href")).toBe("/clips/22");
    expect(byTestId("next-batch-clip-22")!.textContent).toContain("score 0.8");
    expect(byTestId("next-batch-clip-22")!.textContent).toContain("disagreement 0.70 (combined)");
    expect(byTestId("next-batch-clip-21")!.querySelector("a")!.getAttribute("href")).toBe("/clips/21");
    expect(byTestId("next-batch-duplicates")!.textContent).toContain("dog-again.mp4 repeats dog.mp4");
  });

  it("says when nothing is scored yet", async () => {
    server.on("GET", "/api/projects/7/review-queue/", { body: page([queued(21, "drums.mp4")]) });
    server.on("POST", "/api/projects/7/queue/batch/", {
      body: { size: 10, strategy: "entropy", method: "top_k", min_distance: null, reason: "", clips: [], near_duplicates: [], unscored: 3, without_embedding: [] },
    });
    await renderApp("/projects/7?tab=queue");
    await click(await waitFor(() => byTestId("next-batch-pick")));
    const result = await waitFor(() => byTestId("next-batch-result"));
    expect(result.textContent).toContain("3 clip(s) have no score yet");
    expect(byTestId("next-batch-start")).toBeNull();
  });
});
