import { server, page } from "../../hooks/testing/fakeServer"; // first: replaces fetch before the client exists
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ReviewQueueClip } from "../../hooks/studioApi";
import { makeClip, makeMe, makeProjectDetail } from "../../hooks/testing/fixtures";
import { byTestId, cleanup, renderApp, waitFor } from "../../hooks/testing/render";

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
