import { server, page } from "../hooks/testing/fakeServer"; // first: replaces fetch before the client exists
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeMe, makeProject, makeProjectDetail } from "../hooks/testing/fixtures";
import { byTestId, byText, cleanup, click, renderApp, submit, typeInto, waitFor } from "../hooks/testing/render";

beforeEach(() => {
  server.on("GET", "/api/auth/me/", { body: makeMe() });
});

afterEach(() => {
  cleanup();
  server.reset();
});

describe("projects page", () => {
  it("lists the user's projects with links, roles and clip progress", async () => {
    server.on("GET", "/api/projects/", {
      body: page([
        makeProject(),
        makeProject({
          id: 8,
          name: "Orchestra",
          role: "reviewer",
          clip_counts: { total: 10, uploaded: 1, processing: 0, ready: 7, failed: 2 },
        }),
      ]),
    });

    await renderApp("/");
    const link = await waitFor(() => byTestId<HTMLAnchorElement>("project-link-8"));
    expect(link.textContent).toBe("Orchestra");
    expect(link.getAttribute("href")).toBe("/projects/8");
    expect(byTestId("project-link-7")?.getAttribute("href")).toBe("/projects/7");

    const row = byTestId("project-row-8")!;
    expect(row.textContent).toContain("Reviewer");
    expect(row.textContent).toContain("7 / 10");
    expect(row.textContent).toContain("2 failed");
    expect(row.querySelector('[role="progressbar"]')?.getAttribute("aria-valuenow")).toBe("70");
  });

  it("searches projects on the server", async () => {
    server.on("GET", "/api/projects/", ({ query }) => ({
      body: page(query.get("search") === "orch" ? [makeProject({ id: 8, name: "Orchestra" })] : [makeProject()]),
    }));

    await renderApp("/");
    await waitFor(() => byTestId("project-link-7"));
    await typeInto(document.querySelector('input[aria-label="Search projects"]'), "orch");

    await waitFor(() => byTestId("project-link-8"));
    expect(byTestId("project-link-7")).toBeNull();
    expect(server.callsTo("GET", "/api/projects/").at(-1)!.query.get("search")).toBe("orch");
  });

  it("creates a project with labels and opens it", async () => {
    server.on("GET", "/api/projects/", { body: page([]) });
    server.on("POST", "/api/projects/", ({ body }) => ({
      status: 201,
      body: makeProjectDetail({ id: 42, name: (body as { name: string }).name }),
    }));
    server.on("GET", "/api/projects/42/", { body: makeProjectDetail({ id: 42, name: "Birds" }) });
    server.on("GET", "/api/projects/42/clips/", { body: page([]) });
    server.on("GET", "/api/projects/42/jobs/", { body: page([]) });

    await renderApp("/");
    await waitFor(() => byText("No projects yet."));
    await click(byTestId("new-project"));

    const form = document.querySelector('form[aria-label="New project"]')!;
    await typeInto(form.querySelector('input[name="name"]'), "Birds");
    await typeInto(form.querySelector('textarea[name="description"]'), "Garden birds");
    await typeInto(form.querySelector('input[name="fps"]'), "2");
    await typeInto(form.querySelector('input[aria-label="Label 1"]'), "robin");
    await click(byText("+ Add label", "button"));
    await typeInto(form.querySelector('input[aria-label="Label 2"]'), "wren");
    await typeInto(form.querySelector('input[aria-label="Colour of label 2"]'), "#123456");
    await submit(form);

    await waitFor(() => byText("Birds", "h1"));
    expect(window.location.pathname).toBe("/projects/42");
    expect(server.callsTo("POST", "/api/projects/")[0].body).toEqual({
      name: "Birds",
      description: "Garden birds",
      fps: 2,
      labels: [
        { name: "robin", color: "#e6194b" },
        { name: "wren", color: "#123456" },
      ],
    });
  });

  it("shows the server's message when creation is refused", async () => {
    server.on("GET", "/api/projects/", { body: page([]) });
    server.on("POST", "/api/projects/", {
      status: 400,
      body: { message: "fps: Ensure this value is less than or equal to 60.0.", extra: { fields: {} } },
    });

    await renderApp("/");
    await click(await waitFor(() => byTestId("new-project")));
    const form = document.querySelector('form[aria-label="New project"]')!;
    await typeInto(form.querySelector('input[name="name"]'), "Too fast");
    await submit(form);

    const error = await waitFor(() => form.querySelector('[role="alert"]'));
    expect(error.textContent).toBe("fps: Ensure this value is less than or equal to 60.0.");
    expect(window.location.pathname).toBe("/");
  });
});
