import { server, page } from "../hooks/testing/fakeServer"; // first: replaces fetch before the client exists
import { afterEach, describe, expect, it } from "vitest";
import { makeMe, makeProject, makeProjectDetail } from "../hooks/testing/fixtures";
import { byTestId, byText, cleanup, click, renderApp, submit, typeInto, waitFor } from "../hooks/testing/render";

afterEach(() => {
  cleanup();
  server.reset();
});

const unauthenticated = { status: 401, body: { message: "Authentication credentials were not provided.", extra: {} } };

function projectRoutes() {
  server.on("GET", "/api/projects/:id/", { body: makeProjectDetail() });
  server.on("GET", "/api/projects/:id/clips/", { body: page([]) });
  server.on("GET", "/api/projects/:id/jobs/", { body: page([]) });
}

describe("sign-in", () => {
  it("sends a signed-out visitor to /login and back to the page they asked for", async () => {
    let signedIn = false;
    server.on("GET", "/api/auth/me/", () => (signedIn ? { body: makeMe() } : unauthenticated));
    server.on("POST", "/api/auth/login/", ({ body }) => {
      signedIn = true;
      return { body: { ...makeMe(), username: (body as { username: string }).username } };
    });
    projectRoutes();

    await renderApp("/projects/7?tab=clips");

    const username = await waitFor(() => document.querySelector('input[name="username"]'));
    expect(window.location.pathname).toBe("/login");
    expect(new URLSearchParams(window.location.search).get("next")).toBe("/projects/7?tab=clips");

    await typeInto(username, "ann");
    await typeInto(document.querySelector('input[name="password"]'), "secret");
    await submit(byTestId("sign-in")!.closest("form"));

    await waitFor(() => byText("Street sounds", "h1"));
    expect(window.location.pathname).toBe("/projects/7");
    expect(server.callsTo("POST", "/api/auth/login/")[0].body).toEqual({ username: "ann", password: "secret" });
    expect(byTestId("current-user")?.textContent).toContain("Ann Otator");
  });

  it("shows the server's message on bad credentials and stays on the form", async () => {
    server.on("GET", "/api/auth/me/", unauthenticated);
    server.on("POST", "/api/auth/login/", {
      status: 400,
      body: { message: "Wrong username or password.", extra: {} },
    });

    await renderApp("/login");
    await typeInto(await waitFor(() => document.querySelector('input[name="username"]')), "ann");
    await typeInto(document.querySelector('input[name="password"]'), "nope");
    await click(byTestId("sign-in"));

    const error = await waitFor(() => byTestId("sign-in-error"));
    expect(error.textContent).toBe("Wrong username or password.");
    expect(window.location.pathname).toBe("/login");
    expect((document.querySelector('input[name="password"]') as HTMLInputElement).value).toBe("");
  });

  it("ignores an off-site ?next= after signing in", async () => {
    let signedIn = false;
    server.on("GET", "/api/auth/me/", () => (signedIn ? { body: makeMe() } : unauthenticated));
    server.on("POST", "/api/auth/login/", () => {
      signedIn = true;
      return { body: makeMe() };
    });
    server.on("GET", "/api/projects/", { body: page([makeProject()]) });

    await renderApp("/login?next=//evil.example/");
    await typeInto(await waitFor(() => document.querySelector('input[name="username"]')), "ann");
    await typeInto(document.querySelector('input[name="password"]'), "secret");
    await click(byTestId("sign-in"));

    await waitFor(() => byTestId("project-link-7"));
    expect(window.location.pathname).toBe("/");
  });

  it("signs out from the top bar", async () => {
    let signedIn = true;
    server.on("GET", "/api/auth/me/", () => (signedIn ? { body: makeMe() } : unauthenticated));
    server.on("POST", "/api/auth/logout/", () => {
      signedIn = false;
      return { status: 204 };
    });
    projectRoutes();

    await renderApp("/projects/7");
    await click(await waitFor(() => byTestId("sign-out")));

    await waitFor(() => document.querySelector('input[name="username"]'));
    expect(window.location.pathname + window.location.search).toBe("/login");
    expect(server.callsTo("POST", "/api/auth/logout/")).toHaveLength(1);
  });

  it("sends the user to sign in, then back, when the session expires mid-work", async () => {
    server.on("GET", "/api/auth/me/", { body: makeMe() });
    server.on("GET", "/api/projects/", unauthenticated);

    await renderApp("/?q=birds");
    await waitFor(() => document.querySelector('input[name="username"]'));
    expect(window.location.pathname).toBe("/login");
    expect(new URLSearchParams(window.location.search).get("next")).toBe("/?q=birds");
  });

  it("offers a retry when the server cannot be reached", async () => {
    server.offline = true;
    await renderApp("/");
    const banner = await waitFor(() => document.querySelector('[role="alert"]'));
    expect(banner.textContent).toContain("Cannot reach the server");

    server.offline = false;
    server.on("GET", "/api/auth/me/", { body: makeMe() });
    server.on("GET", "/api/projects/", { body: page([makeProject()]) });
    await click(byText("Retry", "button"));
    await waitFor(() => byTestId("project-link-7"));
  });
});
