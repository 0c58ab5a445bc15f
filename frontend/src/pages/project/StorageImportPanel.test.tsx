import { server, page } from "../../hooks/testing/fakeServer"; // first: replaces fetch before the client exists
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { BucketObject, BucketObjectList } from "../../hooks/studioApi";
import { makeJob, makeMe, makeProjectDetail } from "../../hooks/testing/fixtures";
import { byTestId, click, cleanup, renderApp, waitFor } from "../../hooks/testing/render";

const SOURCE = "s3://raw-videos/team";

function object(key: string, status: BucketObject["status"], clip_id: number | null = null): BucketObject {
  return {
    key,
    name: key.split("/").pop()!,
    size_bytes: 2_000_000,
    last_modified: "2026-01-02T10:00:00Z",
    status,
    clip_id,
    error: status === "failed" ? "broken.mp4 is not a video file PyAV can read." : "",
  };
}

function listing(objects: BucketObject[], overrides: Partial<BucketObjectList> = {}): BucketObjectList {
  return {
    sources: [SOURCE],
    url: SOURCE,
    objects,
    new_count: objects.filter((o) => o.status !== "in_project").length,
    truncated: false,
    ...overrides,
  };
}

beforeEach(() => {
  server.on("GET", "/api/auth/me/", { body: makeMe() });
  server.on("GET", "/api/projects/7/clips/", { body: page([]) });
  server.on("GET", "/api/projects/7/jobs/", { body: page([]) });
});

afterEach(() => {
  cleanup();
  server.reset();
});

describe("add videos from storage", () => {
  it("lists the new videos of the bucket and imports them; listed again they are in the project", async () => {
    server.on("GET", "/api/projects/7/", { body: makeProjectDetail({ role: "manager" }) });
    let imported = false;
    server.on("GET", "/api/projects/7/storage/objects/", () => ({
      body: imported
        ? listing([object("team/a.mp4", "in_project", 11), object("team/sub/b.mp4", "in_project", 12)])
        : listing([object("team/a.mp4", "in_project", 11), object("team/sub/b.mp4", "new")]),
    }));
    const job = makeJob({ id: 500, kind: "import", status: "queued", progress: 0, message: "", target: null });
    server.on("POST", "/api/projects/7/storage/import/", () => {
      imported = true;
      server.on("GET", "/api/projects/7/jobs/", {
        body: page([{ ...job, status: "succeeded", progress: 100, message: "1 new, 0 already in the project, 0 failed." }]),
      });
      return { status: 202, body: job };
    });
    await renderApp("/projects/7");

    await click(await waitFor(() => byTestId("storage-toggle")));
    await waitFor(() => byTestId("storage-objects"));
    const rows = Array.from(document.querySelectorAll('[data-testid="storage-object"]'));
    expect(rows.map((row) => row.textContent)).toEqual(["team/a.mp41.9 MBin project", "team/sub/b.mp41.9 MBnew"]);
    const button = byTestId<HTMLButtonElement>("storage-import")!;
    expect(button.textContent).toBe("Import 1 new video");
    expect(byTestId<HTMLInputElement>("storage-url")!.value).toBe(SOURCE);

    await click(button);
    const calls = server.callsTo("POST", "/api/projects/7/storage/import/");
    expect(calls.length).toBe(1);
    expect(calls[0].body).toEqual({ url: SOURCE });
    await waitFor(() => byTestId("storage-job")?.textContent?.includes("1 new, 0 already in the project"));
    await waitFor(() => byTestId<HTMLButtonElement>("storage-import")?.textContent === "Import 0 new videos");
    expect(byTestId<HTMLButtonElement>("storage-import")!.disabled).toBe(true);
    const statuses = Array.from(document.querySelectorAll('[data-testid="storage-object"] [data-status]'));
    expect(statuses.map((badge) => badge.textContent)).toEqual(["in project", "in project"]);
  });

  it("says when import from storage is off", async () => {
    server.on("GET", "/api/projects/7/", { body: makeProjectDetail({ role: "manager" }) });
    server.on("GET", "/api/projects/7/storage/objects/", {
      body: listing([], { sources: [], url: null, new_count: 0 }),
    });
    await renderApp("/projects/7");
    await click(await waitFor(() => byTestId("storage-toggle")));
    const off = await waitFor(() => byTestId("storage-off"));
    expect(off.textContent).toContain("AVS_IMPORT_BUCKETS");
    expect(byTestId("storage-import")).toBeNull();
  });

  it("shows the server's reason when the bucket cannot be listed", async () => {
    server.on("GET", "/api/projects/7/", { body: makeProjectDetail({ role: "manager" }) });
    server.on("GET", "/api/projects/7/storage/objects/", {
      status: 503,
      body: { message: "The bucket raw-videos could not be reached (...); check AVS_S3_ENDPOINT_URL.", extra: {} },
    });
    await renderApp("/projects/7");
    await click(await waitFor(() => byTestId("storage-toggle")));
    const alert = await waitFor(() => byTestId("storage-panel")?.querySelector('[role="alert"]'));
    expect(alert!.textContent).toContain("The bucket raw-videos could not be reached");
  });

  it("is not offered to annotators", async () => {
    server.on("GET", "/api/projects/7/", { body: makeProjectDetail({ role: "annotator" }) });
    await renderApp("/projects/7");
    await waitFor(() => byTestId("tab-clips"));
    expect(byTestId("storage-toggle")).toBeNull();
    expect(server.callsTo("GET", "/api/projects/7/storage/objects/").length).toBe(0);
  });
});
