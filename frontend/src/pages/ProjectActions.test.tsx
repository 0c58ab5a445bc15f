import { server, page } from "../hooks/testing/fakeServer"; // first: replaces fetch before the client exists
import { act } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Job } from "../hooks/studioApi";
import { JOB_POLL_MS } from "../hooks/useJobs";
import { makeClip, makeJob, makeMe, makeModelVersion, makeProjectDetail } from "../hooks/testing/fixtures";
import { byTestId, byText, choose, cleanup, click, renderApp, waitFor } from "../hooks/testing/render";

/** Manager actions of the project page: pre-annotate, export, evaluate. */

const BASELINE = {
  kind: "baseline" as const,
  name: "synchrony-baseline",
  reason: "No model configuration (AVS_MODEL_CONFIG is unset).",
};

function projectAs(role: string, proposer = BASELINE) {
  server.on("GET", "/api/projects/7/", { body: makeProjectDetail({ role, proposer }) });
}

/** The jobs endpoint answers with `state.jobs` (what the workers have done so far). */
function jobsServer() {
  const state: { jobs: Job[] } = { jobs: [] };
  server.on("GET", "/api/projects/7/jobs/", () => ({ body: page(state.jobs) }));
  return state;
}

const advance = (ms: number) => act(async () => void (await vi.advanceTimersByTimeAsync(ms)));
const clipCalls = () => server.callsTo("GET", "/api/projects/7/clips/");

beforeEach(() => {
  server.on("GET", "/api/auth/me/", { body: makeMe() });
  server.on("GET", "/api/projects/7/clips/", {
    body: page([makeClip(), makeClip({ id: 12, name: "rain.mp4", status: "processing" })]),
  });
  server.on("GET", "/api/projects/7/annotations/", { body: page([]) });
  server.on("GET", "/api/projects/7/model-versions/", { body: page([makeModelVersion({ metrics: {} })]) });
  projectAs("manager");
});

afterEach(() => {
  cleanup();
  server.reset();
  vi.useRealTimers();
});

describe("pre-annotate", () => {
  it("posts the selected ready clips, shows the job's progress and re-reads the clips when it ends", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const jobs = jobsServer();
    const queued = makeJob({ id: 200, kind: "preannotate", status: "queued", progress: 0, message: "", target: null });
    server.on("POST", "/api/projects/7/preannotate/", () => {
      jobs.jobs = [{ ...queued, status: "running", progress: 50, message: "1 of 2 clips" }];
      return { status: 202, body: queued };
    });
    await renderApp("/projects/7");
    await waitFor(() => byTestId("clip-row-12"));

    // Only ready clips can be picked.
    expect(byTestId<HTMLInputElement>("clip-select-12")!.disabled).toBe(true);
    await click(byTestId("clip-select-11"));
    expect(window.location.pathname).toBe("/projects/7"); // ticking does not open the clip
    expect(byTestId("action-preannotate")!.textContent).toContain("Pre-annotate 1 selected clip");

    await click(byTestId("action-preannotate"));
    await waitFor(() => server.callsTo("POST", "/api/projects/7/preannotate/").length === 1);
    expect(server.callsTo("POST", "/api/projects/7/preannotate/")[0].body).toEqual({ clips: [11] });

    const row = await waitFor(() => (byTestId("job-row-200")?.textContent?.includes("1 of 2 clips") ? byTestId("job-row-200") : null));
    expect(row.textContent).toContain("Pre-annotate");
    expect(row.querySelector('[role="progressbar"]')?.getAttribute("aria-valuenow")).toBe("50");
    expect(byTestId("action-preannotate")!.textContent).toContain("all ready clips"); // selection used up

    const clipReads = clipCalls().length;
    jobs.jobs = [{ ...queued, status: "succeeded", progress: 100, message: "2 clips pre-annotated" }];
    await advance(JOB_POLL_MS);
    await waitFor(() => byText("Running jobs", "h2") === null);
    await waitFor(() => clipCalls().length > clipReads);
  });

  it("pre-annotates every ready clip when none is selected, and shows the server's refusal", async () => {
    jobsServer();
    server.on("POST", "/api/projects/7/preannotate/", {
      status: 400,
      body: { message: "The project has no ready clip to pre-annotate.", extra: {} },
    });
    await renderApp("/projects/7");
    await click(await waitFor(() => byTestId("action-preannotate")));
    await waitFor(() => byText("The project has no ready clip to pre-annotate.", '[role="alert"]'));
    expect(server.callsTo("POST", "/api/projects/7/preannotate/")[0].body).toEqual({});
  });

  it("says plainly that the weight-free baseline runs, and why", async () => {
    jobsServer();
    await renderApp("/projects/7");
    const status = await waitFor(() => byTestId("proposer-status"));
    expect(status.textContent).toBe(
      "Proposer: weight-free baseline — No model configuration (AVS_MODEL_CONFIG is unset).",
    );
  });

  it("names the OpenAVS configuration when OpenAVS runs", async () => {
    jobsServer();
    projectAs("manager", { kind: "openavs", name: "openavs(audio_tagging=clap)", reason: null } as never);
    await renderApp("/projects/7");
    const status = await waitFor(() => byTestId("proposer-status"));
    expect(status.textContent).toBe("Proposer: OpenAVS (openavs(audio_tagging=clap))");
  });
});

describe("export", () => {
  it("posts the chosen options and offers the archive once the export job has succeeded", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const jobs = jobsServer();
    const queued = makeJob({
      id: 300,
      kind: "export",
      status: "queued",
      progress: 0,
      message: "Queued for export.",
      target: { type: "datasets.export", id: 5 },
    });
    let attempts = 0;
    server.on("POST", "/api/projects/7/exports/", () => {
      attempts += 1;
      if (attempts === 1) {
        return {
          status: 400,
          body: { message: 'Project "Street sounds" has no accepted annotations to export.', extra: {} },
        };
      }
      jobs.jobs = [{ ...queued, status: "running", progress: 30, message: "Writing masks" }];
      return { status: 202, body: queued };
    });
    await renderApp("/projects/7");
    await click(await waitFor(() => byTestId("action-export")));
    const dialog = await waitFor(() => byTestId("export-dialog"));
    expect(dialog.getAttribute("role")).toBe("dialog");

    await choose(byTestId("export-format"), "avsbench");
    await choose(byTestId("export-protocol"), "ms3");
    await click(byTestId("export-start"));
    await waitFor(() => byText("has no accepted annotations to export", '[role="alert"]'));
    expect(server.callsTo("POST", "/api/projects/7/exports/")[0].body).toEqual({
      format: "avsbench",
      include_submitted: false,
      protocol: "ms3",
    });

    await click(byTestId("export-include-submitted"));
    await click(byTestId("export-start"));
    await waitFor(() => server.callsTo("POST", "/api/projects/7/exports/").length === 2);
    expect(server.callsTo("POST", "/api/projects/7/exports/")[1].body).toEqual({
      format: "avsbench",
      include_submitted: true,
      protocol: "ms3",
    });
    expect(byText("has no accepted annotations to export", '[role="alert"]')).toBeNull();
    await waitFor(() => byTestId("export-job")?.textContent?.includes("Writing masks"));
    expect(byTestId("export-download-300")).toBeNull(); // not before it has succeeded

    jobs.jobs = [{ ...queued, status: "succeeded", progress: 100, message: "3 clips, 30 frames" }];
    await advance(JOB_POLL_MS);
    const link = await waitFor(() => byTestId<HTMLAnchorElement>("export-download-300"));
    expect(link.getAttribute("href")).toBe("/api/exports/300/download/");

    // The jobs table offers the same download.
    await click(byText("Close", "button"));
    expect(byTestId("export-dialog")).toBeNull();
    await click(byTestId("tab-jobs"));
    const row = await waitFor(() => byTestId("job-row-300"));
    expect(row.querySelector('[data-testid="export-download-300"]')?.getAttribute("href")).toBe(
      "/api/exports/300/download/",
    );
  });

  it("sends no protocol for COCO and JSON", async () => {
    jobsServer();
    server.on("POST", "/api/projects/7/exports/", {
      status: 202,
      body: makeJob({ id: 301, kind: "export", status: "queued", progress: 0, target: null }),
    });
    await renderApp("/projects/7");
    await click(await waitFor(() => byTestId("action-export")));
    await choose(byTestId("export-format"), "coco");
    expect(byTestId("export-protocol")).toBeNull();
    await click(byTestId("export-start"));
    await waitFor(() => server.callsTo("POST", "/api/projects/7/exports/").length === 1);
    expect(server.callsTo("POST", "/api/projects/7/exports/")[0].body).toEqual({
      format: "coco",
      include_submitted: false,
    });
  });
});

describe("evaluate", () => {
  it("posts the model version and shows its metrics once the evaluation has finished", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const jobs = jobsServer();
    let evaluated = false;
    server.on("GET", "/api/projects/7/model-versions/", () => ({
      body: page([
        makeModelVersion({ id: 2, name: "student v1", kind: "student", metrics: {} }),
        makeModelVersion({
          id: 1,
          kind: "baseline",
          name: "synchrony-baseline",
          metrics: evaluated ? { evaluation: { all: { miou: 0.42, f_score: 0.5 } } } : {},
        }),
      ]),
    }));
    const queued = makeJob({
      id: 400,
      kind: "evaluate",
      status: "queued",
      progress: 0,
      message: "Queued: 3 clips, split all.",
      target: { type: "learning.modelversion", id: 1 },
    });
    server.on("POST", "/api/projects/7/evaluate/", () => {
      jobs.jobs = [{ ...queued, status: "running", progress: 60 }];
      return { status: 202, body: queued };
    });
    await renderApp("/projects/7?tab=models");
    await waitFor(() => byTestId("model-col-1"));
    expect(byText("No metrics recorded yet", "td")).not.toBeNull();

    await click(byTestId("action-evaluate-1"));
    await waitFor(() => server.callsTo("POST", "/api/projects/7/evaluate/").length === 1);
    expect(server.callsTo("POST", "/api/projects/7/evaluate/")[0].body).toMatchObject({
      model_version: 1,
      split: "all",
    });
    const button = await waitFor(() =>
      byTestId<HTMLButtonElement>("action-evaluate-1")?.textContent?.includes("Evaluating") ? byTestId<HTMLButtonElement>("action-evaluate-1") : null,
    );
    expect(button.disabled).toBe(true);
    expect(byTestId<HTMLButtonElement>("action-evaluate-2")!.disabled).toBe(false);

    evaluated = true;
    jobs.jobs = [{ ...queued, status: "succeeded", progress: 100, message: "mIoU 0.42" }];
    await advance(JOB_POLL_MS);
    await waitFor(() => byText("evaluation.all.miou", "td"));
    const table = document.querySelector('table[aria-label="Model metrics"]')!;
    const miou = Array.from(table.querySelectorAll("tbody tr")).find((tr) => tr.textContent?.includes("evaluation.all.miou"))!;
    expect(Array.from(miou.querySelectorAll("td")).map((td) => td.textContent)).toEqual(["evaluation.all.miou", "—", "0.42"]);
    expect(byTestId("action-evaluate-1")!.textContent).toBe("Evaluate");
  });

  it("shows the server's reason when an evaluation cannot start", async () => {
    jobsServer();
    server.on("POST", "/api/projects/7/evaluate/", {
      status: 400,
      body: { message: "No ready clip has accepted annotations to evaluate against.", extra: {} },
    });
    await renderApp("/projects/7?tab=models");
    await click(await waitFor(() => byTestId("action-evaluate-1")));
    await waitFor(() => byText("No ready clip has accepted annotations to evaluate against.", '[role="alert"]'));
  });
});

describe("who sees these actions", () => {
  for (const role of ["annotator", "reviewer"]) {
    it(`hides pre-annotate, export and evaluate from the ${role}`, async () => {
      jobsServer();
      projectAs(role);
      await renderApp("/projects/7");
      await waitFor(() => byTestId("clip-row-11"));
      expect(byTestId("action-preannotate")).toBeNull();
      expect(byTestId("proposer-status")).toBeNull();
      expect(byTestId("clip-select-11")).toBeNull();
      expect(byTestId("action-export")).toBeNull();

      await click(byTestId("tab-models"));
      await waitFor(() => byTestId("model-col-1"));
      expect(byTestId("action-evaluate-1")).toBeNull();
    });
  }

  it("shows them to an admin", async () => {
    jobsServer();
    projectAs("admin");
    await renderApp("/projects/7");
    await waitFor(() => byTestId("clip-row-11"));
    expect(byTestId("action-preannotate")).not.toBeNull();
    expect(byTestId("action-export")).not.toBeNull();
  });
});
