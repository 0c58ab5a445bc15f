import { server, page } from "../../hooks/testing/fakeServer"; // first: replaces fetch before the client exists
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { WorkerHealth } from "../../hooks/studioApi";
import { makeJob, makeMe, makeProjectDetail } from "../../hooks/testing/fixtures";
import { byTestId, cleanup, renderApp, waitFor } from "../../hooks/testing/render";

const NO_TRAINING = "No worker serves the `training` queue: start one with `deploy/start-worker.sh training`.";

function health(overrides: Partial<WorkerHealth> = {}): WorkerHealth {
  return {
    checked_at: "2025-01-02T10:00:00Z",
    probe_seconds: 1.0,
    mode: "workers",
    broker: { kind: "redis", reachable: true, error: "" },
    inspect_error: "",
    workers: [{ name: "inference@gpu-1", queues: ["inference"] }],
    queues: [
      { name: "ingest", length: 0, length_note: "", workers: [], served: false, waiting_reason: "No worker serves the `ingest` queue." },
      { name: "inference", length: 3, length_note: "", workers: ["inference@gpu-1"], served: true, waiting_reason: null },
      { name: "training", length: 1, length_note: "", workers: [], served: false, waiting_reason: NO_TRAINING },
    ],
    ...overrides,
  };
}

beforeEach(() => {
  server.on("GET", "/api/auth/me/", { body: makeMe() });
  server.on("GET", "/api/projects/7/clips/", { body: page([]) });
  server.on("GET", "/api/projects/7/jobs/", {
    body: page([
      makeJob({ id: 300, kind: "train", status: "queued", progress: 0, message: "", target: null, waiting_reason: NO_TRAINING }),
      makeJob({ id: 301, kind: "preannotate", status: "queued", progress: 0, message: "", target: null }),
    ]),
  });
});

afterEach(() => {
  cleanup();
  server.reset();
});

describe("workers on the jobs tab", () => {
  it("shows managers the alive workers and queues, and why a queued job waits", async () => {
    server.on("GET", "/api/projects/7/", { body: makeProjectDetail({ role: "manager" }) });
    server.on("GET", "/api/workers/", { body: health() });
    await renderApp("/projects/7?tab=jobs");

    const waiting = await waitFor(() => byTestId("job-waiting-300"));
    expect(waiting.textContent).toContain("No worker serves the `training` queue");
    expect(byTestId("job-waiting-301")).toBeNull(); // a worker serves inference: no warning

    await waitFor(() => byTestId("workers-alive"));
    expect(byTestId("workers-alive")!.textContent).toBe("1 alive");
    expect(byTestId("worker-queue-inference")!.textContent).toBe("inference: 1 worker, 3 waiting");
    expect(byTestId("worker-queue-training")!.textContent).toBe("training: no worker, 1 waiting");
    expect(byTestId("worker-queue-training")!.className).toBe("worker-queue-unserved");
  });

  it("says the broker is unreachable instead of listing queues", async () => {
    server.on("GET", "/api/projects/7/", { body: makeProjectDetail({ role: "admin" }) });
    server.on("GET", "/api/workers/", {
      body: health({
        broker: { kind: "redis", reachable: false, error: "broker unreachable (redis): Connection refused." },
        workers: [],
      }),
    });
    await renderApp("/projects/7?tab=jobs");
    const line = await waitFor(() => byTestId("workers-line")?.querySelector('[role="alert"]'));
    expect(line!.textContent).toContain("broker unreachable (redis)");
    expect(byTestId("workers-alive")).toBeNull();
  });

  it("is not shown to annotators (and the workers are not asked)", async () => {
    server.on("GET", "/api/projects/7/", { body: makeProjectDetail({ role: "annotator" }) });
    await renderApp("/projects/7?tab=jobs");
    await waitFor(() => byTestId("job-waiting-300"));
    expect(byTestId("workers-line")).toBeNull();
    expect(server.callsTo("GET", "/api/workers/").length).toBe(0);
  });
});
