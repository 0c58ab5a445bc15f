import { server, page } from "../../hooks/testing/fakeServer"; // first: replaces fetch before the client exists
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Job, LabelStudioConnection } from "../../hooks/studioApi";
import {
  makeAcquisitionStrategy,
  makeClip,
  makeJob,
  makeLearningSettings,
  makeMe,
  makeProjectDetail,
} from "../../hooks/testing/fixtures";
import { byTestId, byText, choose, cleanup, click, renderApp, submit, typeInto, waitFor } from "../../hooks/testing/render";

/** The Label Studio connection in the Settings tab: managers set it up, push and pull, and read what happened. */

const ML_URL = "https://avs.example.org/ls/";

function connection(overrides: Partial<LabelStudioConnection> = {}): LabelStudioConnection {
  return {
    connected: false,
    url: null,
    ls_project_id: null,
    ls_project_url: null,
    has_token: false,
    import_status: "submitted",
    ml_backend_url: ML_URL,
    last_push_at: null,
    last_pull_at: null,
    last_error: "",
    counts: {},
    latest_job: null,
    conflicts: [],
    ...overrides,
  };
}

const SET_UP = connection({ url: "http://ls.example.org:8080", has_token: true }); // saved, never pushed

function lsJob(overrides: Partial<Job> = {}): Job {
  return makeJob({ id: 300, kind: "labelstudio", status: "queued", progress: 0, message: "", target: null, ...overrides });
}

const field = (name: string) => document.querySelector<HTMLInputElement>(`[data-testid="ls-form"] [name="${name}"]`);
const text = (testId: string) => byTestId(testId)?.textContent ?? "";

beforeEach(() => {
  server.on("GET", "/api/auth/me/", { body: makeMe() });
  server.on("GET", "/api/projects/7/", { body: makeProjectDetail({ role: "manager" }) });
  server.on("GET", "/api/projects/7/jobs/", { body: page([]) });
  server.on("GET", "/api/projects/7/clips/", { body: page([makeClip()]) });
  server.on("GET", "/api/projects/7/annotations/", { body: page([]) });
  server.on("GET", "/api/projects/7/learning-settings/", { body: makeLearningSettings() });
  server.on("GET", "/api/projects/7/acquisition-strategy/", { body: makeAcquisitionStrategy() });
  server.on("GET", "/api/projects/7/labelstudio/", { body: connection() });
});

afterEach(() => {
  cleanup();
  server.reset();
});

describe("Label Studio connection", () => {
  it("saves the URL and the token, which is then only shown as set, never sent back", async () => {
    let stored = connection();
    server.on("GET", "/api/projects/7/labelstudio/", () => ({ body: stored }));
    server.on("PUT", "/api/projects/7/labelstudio/", ({ body }) => {
      const input = body as { url: string; token?: string; import_status: "submitted" | "accepted" };
      stored = connection({
        url: input.url,
        has_token: stored.has_token || Boolean(input.token),
        import_status: input.import_status,
      });
      return { body: stored };
    });
    await renderApp("/projects/7?tab=settings");
    await waitFor(() => field("url"));
    expect(byTestId("ls-state")!.dataset.state).toBe("not_set");
    expect(text("ls-token-state")).toBe("not set");
    expect(text("ls-ml-url")).toContain(ML_URL);
    expect(byTestId<HTMLButtonElement>("ls-push")!.disabled).toBe(true); // nothing to push to yet

    await typeInto(field("url"), "http://ls.example.org:8080");
    await typeInto(field("token"), "secret-token");
    await choose(document.querySelector('[data-testid="ls-form"] select'), "accepted");
    await submit(byTestId("ls-form"));
    await waitFor(() => text("ls-token-state") === "set");

    const puts = server.callsTo("PUT", "/api/projects/7/labelstudio/");
    expect(puts.map((c) => c.body)).toEqual([
      { url: "http://ls.example.org:8080", token: "secret-token", import_status: "accepted" },
    ]);
    expect(byTestId("ls-state")!.dataset.state).toBe("not_pushed"); // connected once pushed
    expect(text("ls-url")).toBe("http://ls.example.org:8080");
    expect(field("token")!.value).toBe(""); // the secret leaves the page once saved
    expect(field("token")!.placeholder).toContain("leave empty to keep");
    expect(byTestId<HTMLButtonElement>("ls-push")!.disabled).toBe(false);

    // Saving again without typing a token keeps it: the request carries none.
    await submit(byTestId("ls-form"));
    await waitFor(() => server.callsTo("PUT", "/api/projects/7/labelstudio/").length === 2);
    expect(server.callsTo("PUT", "/api/projects/7/labelstudio/")[1].body).toEqual({
      url: "http://ls.example.org:8080",
      import_status: "accepted",
    });
  });

  it("shows the server's refusal of a bad URL under the form", async () => {
    server.on("PUT", "/api/projects/7/labelstudio/", {
      status: 400,
      body: { message: "url: Enter a valid URL.", extra: { fields: { url: ["Enter a valid URL."] } } },
    });
    await renderApp("/projects/7?tab=settings");
    await typeInto(await waitFor(() => field("url")), "http://nowhere");
    await submit(byTestId("ls-form"));
    await waitFor(() => byText("url: Enter a valid URL.", '[data-testid="ls-form"] [role="alert"]'));
    expect(text("ls-token-state")).toBe("not set");
  });

  it("pushes now, follows the job and shows its readable failure and the connection's last error", async () => {
    let stored = SET_UP;
    const failed = lsJob({
      status: "failed",
      progress: 0,
      error: "Cannot reach Label Studio at http://ls.example.org:8080: connection refused. Check the URL.",
    });
    let jobs: Job[] = [];
    server.on("GET", "/api/projects/7/labelstudio/", () => ({ body: stored }));
    server.on("GET", "/api/projects/7/jobs/", () => ({ body: page(jobs) }));
    server.on("POST", "/api/projects/7/labelstudio/push/", () => {
      jobs = [failed]; // the worker takes it and fails at once
      stored = { ...SET_UP, last_error: failed.error!, latest_job: failed };
      return { status: 202, body: { job: lsJob() } };
    });
    await renderApp("/projects/7?tab=settings");
    await click(await waitFor(() => byTestId<HTMLButtonElement>("ls-push")));

    const shown = await waitFor(() => (byTestId("ls-job")?.dataset.status === "failed" ? byTestId("ls-job") : null));
    expect(shown.getAttribute("data-job-id")).toBe("300");
    expect(shown.querySelector('[role="alert"]')!.textContent).toBe(failed.error);
    await waitFor(() => byTestId("ls-last-error"));
    expect(text("ls-last-error")).toBe(`Last sync failed: ${failed.error}`);
    expect(server.callsTo("POST", "/api/projects/7/labelstudio/push/")).toHaveLength(1);
    expect(byTestId<HTMLButtonElement>("ls-push")!.disabled).toBe(false); // it can be retried
  });

  it("shows a pushed project: its link, counts, times and conflicts; pull is offered", async () => {
    const done = lsJob({ status: "succeeded", progress: 100, finished_at: "2025-01-02T10:00:00Z" });
    server.on("GET", "/api/projects/7/labelstudio/", {
      body: {
        ...SET_UP,
        connected: true,
        ls_project_id: 42,
        ls_project_url: "http://ls.example.org:8080/projects/42/data",
        last_push_at: "2025-01-02T09:59:00Z",
        counts: { tasks: 5, predictions: 4, annotations_imported: 3, conflicts: 1 },
        latest_job: done,
        conflicts: [
          {
            ls_annotation_id: 501,
            clip_id: 12,
            clip_name: "drums.mp4",
            frame_index: 3,
            detail: "Frame 3 was edited in AVS Studio since it was imported; not applied.",
            updated_at: "2025-01-02T09:58:00Z",
          },
        ],
      },
    });
    let pulled: Job | null = null;
    server.on("POST", "/api/projects/7/labelstudio/pull/", () => {
      pulled = lsJob({ id: 301, status: "running", progress: 50, message: "Importing annotations" });
      return { status: 202, body: { job: pulled } };
    });
    server.on("GET", "/api/projects/7/jobs/", () => ({ body: page(pulled ? [pulled, done] : [done]) }));
    await renderApp("/projects/7?tab=settings");
    const link = await waitFor(() => byTestId("ls-project")?.querySelector("a"));
    expect(link.getAttribute("href")).toBe("http://ls.example.org:8080/projects/42/data");
    expect(text("ls-counts")).toContain("5 tasks · 4 predictions · 3 annotations imported");
    expect(text("ls-conflicts")).toBe("1 conflicts");
    const conflict = byTestId("ls-conflict-list")!.querySelector("a")!;
    expect(conflict.getAttribute("href")).toBe("/clips/12?frame=3"); // opens the frame in the annotator
    expect(conflict.textContent).toBe("drums.mp4, frame 4");
    expect(text("ls-last-pull")).toBe("never");
    expect(byTestId("ls-last-error")).toBeNull();
    expect(byTestId("ls-state")!.dataset.state).toBe("connected");
    expect(byTestId("ls-job")!.getAttribute("data-status")).toBe("succeeded");

    await click(byTestId("ls-pull"));
    await waitFor(() => byTestId("ls-job")?.getAttribute("data-job-id") === "301");
    expect(text("ls-job")).toContain("Importing annotations");
    expect(byTestId<HTMLButtonElement>("ls-push")!.disabled).toBe(true); // one sync at a time
  });

  it("is not shown to members who cannot manage the project", async () => {
    server.on("GET", "/api/projects/7/", { body: makeProjectDetail({ role: "annotator" }) });
    await renderApp("/projects/7?tab=settings");
    await waitFor(() => byTestId("clip-row-11"));
    expect(byTestId("labelstudio")).toBeNull();
    expect(server.callsTo("GET", "/api/projects/7/labelstudio/")).toHaveLength(0);
  });
});
