import { server, page } from "../hooks/testing/fakeServer"; // first: replaces fetch before the client exists
import { act } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { JOB_POLL_MS } from "../hooks/useJobs";
import {
  makeClip,
  makeJob,
  makeLabel,
  makeMe,
  makeMember,
  makeModelVersion,
  makeProjectDetail,
} from "../hooks/testing/fixtures";
import { byTestId, byText, choose, cleanup, click, renderApp, submit, typeInto, waitFor } from "../hooks/testing/render";

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


function projectAs(role: string) {
  server.on("GET", "/api/projects/7/", { body: makeProjectDetail({ role }) });
}

beforeEach(() => {
  server.on("GET", "/api/auth/me/", { body: makeMe() });
  server.on("GET", "/api/projects/7/jobs/", { body: page([]) });
  server.on("GET", "/api/projects/7/clips/", { body: page([makeClip()]) });
  projectAs("manager");
});

afterEach(() => {
  cleanup();
  server.reset();
  vi.useRealTimers();
});

const clipCalls = () => server.callsTo("GET", "/api/projects/7/clips/");

describe("clips table", () => {
  it("shows how many annotations are accepted and waiting for review", async () => {
    server.on("GET", "/api/projects/7/annotations/", ({ query }) => ({
      body: page([], query.get("status") === "accepted" ? 12 : 3),
    }));
    await renderApp("/projects/7");
    const stat = await waitFor(() => {
      const element = byTestId("stat-review");
      return element?.textContent?.includes("accepted") ? element : null;
    });
    expect(stat.textContent).toContain("12 accepted");
    expect(stat.textContent).toContain("3 to review");
  });

  it("lists clips with status, duration, frames and audio, each row opening the annotator", async () => {
    server.on("GET", "/api/projects/7/clips/", {
      body: page([makeClip(), makeClip({ id: 12, name: "broken.mov", status: "failed", error: "No video stream." })]),
    });
    await renderApp("/projects/7");

    const row = await waitFor(() => byTestId("clip-row-11"));
    expect(row.textContent).toContain("busker.mp4");
    expect(row.textContent).toContain("ready");
    expect(row.textContent).toContain("0:10.0");
    expect(row.textContent).toContain("yes");
    expect(byTestId("clip-link-11")?.getAttribute("href")).toBe("/clips/11");
    expect(byTestId("clip-row-12")?.textContent).toContain("No video stream.");

    await click(row.querySelector("td:nth-child(3)"));
    const annotator = await waitFor(() => byTestId("annotator-stub"));
    expect(annotator.textContent).toBe("clip 11 frame null review null");
    expect(window.location.pathname).toBe("/clips/11");
  });

  it("queries the server with the status filter and the name search, and resets the page", async () => {
    server.on("GET", "/api/projects/7/clips/", ({ query }) => ({
      body: page(
        query.get("search") === "busk" ? [makeClip()] : [makeClip(), makeClip({ id: 12, name: "rain.mp4" })],
        query.get("page") === "2" ? 120 : 2,
      ),
    }));
    await renderApp("/projects/7?page=2");
    await waitFor(() => byTestId("clip-row-12"));
    expect(clipCalls()[0].query.get("page")).toBe("2");

    await choose(byTestId("clip-status-filter"), "ready");
    await waitFor(() => clipCalls().at(-1)!.query.get("status") === "ready");
    expect(clipCalls().at(-1)!.query.get("page")).toBeNull();

    await typeInto(byTestId("clip-search"), "busk");
    await waitFor(() => byTestId("clip-row-12") === null);
    const last = clipCalls().at(-1)!.query;
    expect(last.get("status")).toBe("ready");
    expect(last.get("search")).toBe("busk");
    expect(byTestId("clip-row-11")).not.toBeNull();
    // Typing is debounced: no request for each partial word.
    expect(clipCalls().filter((c) => ["b", "bu", "bus"].includes(c.query.get("search") ?? ""))).toHaveLength(0);
    expect(new URLSearchParams(window.location.search).get("q")).toBe("busk");

    await choose(byTestId("clip-status-filter"), "");
    await waitFor(() => clipCalls().at(-1)!.query.get("status") === null);
  });

  it("shows a readable banner and retries when the network fails", async () => {
    let down = true;
    server.on("GET", "/api/projects/7/clips/", () => {
      if (down) throw new TypeError("Failed to fetch");
      return { body: page([makeClip()]) };
    });
    await renderApp("/projects/7");
    const banner = await waitFor(() => byText("Could not load clips", '[role="alert"]'));
    expect(banner.textContent).toContain("Cannot reach the server");
    expect(byTestId("clip-row-11")).toBeNull();

    down = false;
    await click(banner.querySelector("button"));
    await waitFor(() => byTestId("clip-row-11"));
    expect(byText("Could not load clips", '[role="alert"]')).toBeNull();
  });
});

describe("job progress", () => {
  it("polls every 2 s while a job runs and stops when all have finished", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const states = [
      [makeJob({ status: "queued", progress: 0, message: "" })],
      [makeJob({ status: "running", progress: 60, message: "Decoding frames" })],
      [makeJob({ status: "succeeded", progress: 100, message: "10 frames" })],
    ];
    let reads = 0;
    server.on("GET", "/api/projects/7/jobs/", () => ({ body: page(states[Math.min(reads++, states.length - 1)]) }));
    const advance = (ms: number) => act(async () => void (await vi.advanceTimersByTimeAsync(ms)));
    const jobCalls = () => server.callsTo("GET", "/api/projects/7/jobs/").length;

    await renderApp("/projects/7");
    await waitFor(() => byText("Running jobs", "h2"));
    expect(jobCalls()).toBe(1);
    expect(byTestId("job-row-100")?.textContent).toContain("queued");

    await advance(JOB_POLL_MS);
    await waitFor(() => byTestId("job-row-100")?.textContent?.includes("Decoding frames"));
    expect(jobCalls()).toBe(2);
    expect(byTestId("job-row-100")?.querySelector('[role="progressbar"]')?.getAttribute("aria-valuenow")).toBe("60");

    const clipReadsBefore = clipCalls().length;
    await advance(JOB_POLL_MS);
    await waitFor(() => jobCalls() === 3);
    // Finished: the running-jobs panel goes away, the clips are re-read, and polling stops.
    await waitFor(() => byText("Running jobs", "h2") === null);
    await waitFor(() => clipCalls().length > clipReadsBefore);

    await advance(JOB_POLL_MS * 5);
    expect(jobCalls()).toBe(3);
  });

  it("shows a failed job's readable error on the jobs tab", async () => {
    server.on("GET", "/api/projects/7/jobs/", {
      body: page([makeJob({ status: "failed", progress: 10, error: "The file has no video stream." })]),
    });
    await renderApp("/projects/7?tab=jobs");
    const row = await waitFor(() => byTestId("job-row-100"));
    expect(row.textContent).toContain("failed");
    expect(row.textContent).toContain("The file has no video stream.");
  });
});

describe("role-based actions", () => {
  beforeEach(() => {
    server.on("GET", "/api/projects/7/members/", {
      body: page([makeMember(), makeMember({ user_id: 2, username: "bob", role: "annotator" })]),
    });
    server.on("GET", "/api/projects/7/labels/", { body: page([makeLabel()]) });
  });

  it("shows managers the upload, settings, member and label actions", async () => {
    await renderApp("/projects/7");
    await waitFor(() => byTestId("clip-row-11"));
    expect(byTestId("upload-toggle")).not.toBeNull();
    expect(byTestId("tab-settings")).not.toBeNull();
    expect(byTestId("open-review")).not.toBeNull();

    await click(byTestId("tab-members"));
    await waitFor(() => byTestId("member-row-2"));
    expect(byTestId("add-member-form")).not.toBeNull();
    expect(byTestId("member-row-2")!.querySelector("select")).not.toBeNull();
    expect(byText("Remove", "button")).not.toBeNull();

    await click(byTestId("tab-labels"));
    await waitFor(() => byTestId("label-row-1"));
    expect(byTestId("add-label-form")).not.toBeNull();
    expect(byText("Edit", "button")).not.toBeNull();
  });

  it("hides manager actions from an annotator but lets them add labels", async () => {
    projectAs("annotator");
    await renderApp("/projects/7");
    await waitFor(() => byTestId("clip-row-11"));
    expect(byTestId("upload-toggle")).toBeNull();
    expect(byTestId("tab-settings")).toBeNull();
    expect(byTestId("open-review")).toBeNull();

    await click(byTestId("tab-members"));
    await waitFor(() => byTestId("member-row-2"));
    expect(byTestId("add-member-form")).toBeNull();
    expect(byTestId("member-row-2")!.querySelector("select")).toBeNull();
    expect(byText("Remove", "button")).toBeNull();

    await click(byTestId("tab-labels"));
    await waitFor(() => byTestId("label-row-1"));
    expect(byTestId("add-label-form")).not.toBeNull();
    expect(byText("Edit", "button")).toBeNull();
    expect(byText("Delete", "button")).toBeNull();
  });

  it("gives a reviewer the review list but no editing", async () => {
    projectAs("reviewer");
    await renderApp("/projects/7?tab=settings");
    await waitFor(() => byTestId("clip-row-11")); // settings is not theirs: falls back to clips
    expect(byTestId("open-review")?.getAttribute("href")).toBe("/projects/7/review");
    expect(byTestId("upload-toggle")).toBeNull();
    await click(byTestId("tab-labels"));
    await waitFor(() => byTestId("label-row-1"));
    expect(byTestId("add-label-form")).toBeNull();
  });

  it("shows the server's last-manager guard when a manager demotes themself", async () => {
    server.on("PATCH", "/api/projects/7/members/1/", {
      status: 400,
      body: { message: "A project needs at least one manager.", extra: { user_id: 1 } },
    });
    await renderApp("/projects/7?tab=members");
    const row = await waitFor(() => byTestId("member-row-1"));
    await choose(row.querySelector("select"), "annotator");

    const alert = await waitFor(() => byText("A project needs at least one manager.", '[role="alert"]'));
    expect(alert).not.toBeNull();
    expect(server.callsTo("PATCH", "/api/projects/7/members/1/")[0].body).toEqual({ role: "annotator" });
  });

  it("adds a member by username with a role", async () => {
    server.on("POST", "/api/projects/7/members/", ({ body }) => {
      const { username } = body as { username: string };
      return username === "ghost"
        ? { status: 400, body: { message: "There is no user named 'ghost'.", extra: { field: "username" } } }
        : { status: 201, body: makeMember({ user_id: 3, username, role: "reviewer" }) };
    });
    await renderApp("/projects/7?tab=members");
    const form = await waitFor(() => byTestId("add-member-form"));
    await typeInto(form.querySelector("input"), "ghost");
    await choose(form.querySelector("select"), "reviewer");
    await submit(form);
    await waitFor(() => byText("There is no user named 'ghost'.", '[role="alert"]'));

    await typeInto(form.querySelector("input"), "rita");
    await submit(form);
    await waitFor(() => server.callsTo("POST", "/api/projects/7/members/").length === 2);
    expect(server.callsTo("POST", "/api/projects/7/members/")[1].body).toEqual({ username: "rita", role: "reviewer" });
  });
});

describe("review queue", () => {
  it("lists clips in the server's active-learning order with their scores", async () => {
    const queued = (id: number, name: string, score: number | null, accepted: number) => ({
      id,
      name,
      duration: 10,
      has_audio: true,
      num_frames: 10,
      proposal_count: 1,
      annotated_count: accepted,
      accepted_count: accepted,
      submitted_count: 0,
      rejected_count: 0,
      acquisition_score: score,
      acquisition_scored_at: score === null ? null : "2025-01-02T10:00:00Z",
    });
    server.on("GET", "/api/projects/7/review-queue/", {
      body: page([queued(21, "unsure.mp4", 0.8, 0), queued(22, "sure.mp4", 0.2, 4), queued(23, "new.mp4", null, 0)]),
    });
    await renderApp("/projects/7?tab=queue");
    await waitFor(() => byTestId("queue-row-23"));
    const rows = Array.from(document.querySelectorAll('table[aria-label="Review queue"] tbody tr'));
    expect(rows.map((r) => r.querySelector("a")?.textContent)).toEqual(["unsure.mp4", "sure.mp4", "new.mp4"]);
    expect(rows[0].textContent).toContain("0.8");
    expect(rows[1].textContent).toContain("4 / 10");
    expect(rows[2].textContent).toContain("not scored");
    expect(rows[0].querySelector("a")?.getAttribute("href")).toBe("/clips/21");
  });
});

describe("model versions", () => {
  it("puts metrics of versions side by side", async () => {
    server.on("GET", "/api/projects/7/model-versions/", {
      body: page([
        makeModelVersion({ id: 2, name: "student v1", kind: "student", metrics: { miou: 0.61, val: { f_score: 0.7 } } }),
        makeModelVersion({ id: 1, metrics: { miou: 0.5, val: { f_score: 0.72 } } }),
      ]),
    });
    await renderApp("/projects/7?tab=models");
    await waitFor(() => byTestId("model-col-2"));
    const table = document.querySelector('table[aria-label="Model metrics"]')!;
    const rows = Array.from(table.querySelectorAll("tbody tr")).map((tr) =>
      Array.from(tr.querySelectorAll("td")).map((td) => td.textContent),
    );
    expect(rows).toEqual([
      ["miou", "0.61", "0.5"],
      ["val.f_score", "0.7", "0.72"],
    ]);
    expect(table.querySelector("td.best")?.textContent).toBe("0.61");
  });
});
