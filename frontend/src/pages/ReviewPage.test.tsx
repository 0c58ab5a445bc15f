import { server, page } from "../hooks/testing/fakeServer"; // first: replaces fetch before the client exists
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ProjectAnnotation } from "../hooks/studioApi";
import { makeMe, makeProjectDetail } from "../hooks/testing/fixtures";
import { byTestId, cleanup, click, renderApp, waitFor } from "../hooks/testing/render";

// The annotator (another module's page, loaded lazily) is replaced by a stub that shows what the
// route handed it: these tests are about getting there with the right clip, frame and mode.
vi.mock("../annotator/ClipAnnotatorPage", async () => {
  const { useParams, useSearchParams } = await import("react-router-dom");
  return {
    ClipAnnotatorPage: () => {
      const [params] = useSearchParams();
      return <p data-testid="annotator-stub">{`clip ${useParams().clipId} frame ${params.get("frame")} review ${params.get("review")}`}</p>;
    },
  };
});


function makeAnnotation(overrides: Partial<ProjectAnnotation> = {}): ProjectAnnotation {
  return {
    id: 5,
    clip: 11,
    clip_name: "busker.mp4",
    clip_num_frames: 10,
    clip_fps: 1,
    frame: 301,
    frame_index: 3,
    instances: [{ label: "dog", mask: { size: [360, 640], counts: "abc" } }],
    version: 2,
    status: "submitted",
    author: { id: 2, username: "bob" },
    time_spent: 95,
    source_proposal: null,
    external_source: "",
    external_id: "",
    latest_review: null,
    created_at: "2025-01-02T10:00:00Z",
    updated_at: "2025-01-02T10:05:00Z",
    ...overrides,
  };
}

beforeEach(() => {
  server.on("GET", "/api/auth/me/", { body: makeMe() });
  server.on("GET", "/api/projects/7/", { body: makeProjectDetail({ role: "reviewer" }) });
});

afterEach(() => {
  cleanup();
  server.reset();
});

describe("reviewer view", () => {
  it("lists submitted annotations and opens one in the annotator's review mode", async () => {
    server.on("GET", "/api/projects/7/annotations/", {
      body: page([makeAnnotation(), makeAnnotation({ id: 6, clip: 12, frame_index: 0, author: { id: 3, username: "cy" } })]),
    });
    await renderApp("/projects/7/review");

    const row = await waitFor(() => byTestId("annotation-row-5"));
    expect(server.callsTo("GET", "/api/projects/7/annotations/")[0].query.get("status")).toBe("submitted");
    expect(row.textContent).toContain("busker.mp4");
    expect(row.textContent).toContain("bob");
    expect(row.textContent).toContain("2 min"); // time spent
    // Index 3 is the fourth frame: people count from 1, the link keeps the API's 0-based index.
    expect(byTestId("annotation-frame-5")?.textContent).toBe("Frame 4 of 10 · 3.0–4.0 s");
    expect(byTestId("review-open-6")?.getAttribute("href")).toBe("/clips/12?frame=0&review=1");

    await click(byTestId("review-open-5"));
    const annotator = await waitFor(() => byTestId("annotator-stub"));
    expect(annotator.textContent).toBe("clip 11 frame 3 review 1");
    expect(window.location.pathname + window.location.search).toBe("/clips/11?frame=3&review=1");
  });

  it("says so when nothing waits for review", async () => {
    server.on("GET", "/api/projects/7/annotations/", { body: page([]) });
    await renderApp("/projects/7/review");
    await waitFor(() => document.body.textContent?.includes("Nothing to review."));
  });
});
