import { server, page } from "../../../hooks/testing/fakeServer"; // first: replaces fetch before the client exists
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { LearningSettings } from "../../../hooks/studioApi";
import {
  makeAcquisitionStrategy,
  makeClip,
  makeLearningSettings,
  makeMe,
  makeModelVersion,
  makeProjectDetail,
} from "../../../hooks/testing/fixtures";
import { byTestId, byText, choose, cleanup, click, renderApp, submit, typeInto, waitFor } from "../../../hooks/testing/render";

/** The learning settings: edited by managers in the Settings tab, read-only for everybody in the Models tab. */

function learningServer(settings: LearningSettings = makeLearningSettings()) {
  server.on("GET", "/api/projects/7/learning-settings/", { body: settings });
}

const input = (name: string) => document.querySelector<HTMLInputElement>(`[data-testid="learning-form"] [name="${name}"]`);
const patches = () => server.callsTo("PATCH", "/api/projects/7/learning-settings/");

beforeEach(() => {
  server.on("GET", "/api/auth/me/", { body: makeMe() });
  server.on("GET", "/api/projects/7/", { body: makeProjectDetail({ role: "manager" }) });
  server.on("GET", "/api/projects/7/jobs/", { body: page([]) });
  server.on("GET", "/api/projects/7/clips/", { body: page([makeClip()]) });
  server.on("GET", "/api/projects/7/annotations/", { body: page([]) });
  server.on("GET", "/api/projects/7/model-versions/", { body: page([makeModelVersion()]) });
  server.on("GET", "/api/projects/7/training-rounds/", { body: page([]) });
  server.on("GET", "/api/projects/7/acquisition-strategy/", { body: makeAcquisitionStrategy() });
  learningServer();
});

afterEach(() => {
  cleanup();
  server.reset();
});

describe("self-training settings", () => {
  it("shows the server's validation message under the refused field", async () => {
    const message = "Ensure this value is less than or equal to 0.9.";
    server.on("PATCH", "/api/projects/7/learning-settings/", {
      status: 400,
      body: { message: `heldout_fraction: ${message}`, extra: { fields: { heldout_fraction: [message] } } },
    });
    await renderApp("/projects/7?tab=settings");
    await waitFor(() => input("heldout_fraction"));

    await typeInto(input("heldout_fraction"), "0.95");
    await submit(byTestId("learning-form"));
    await waitFor(() => patches().length === 1);
    expect(patches()[0].body).toEqual({ heldout_fraction: 0.95 }); // only what changed
    await waitFor(() => byText(`heldout_fraction: ${message}`, ".form-error"));
    const field = input("heldout_fraction")!.closest(".field")!;
    expect(field.classList.contains("field-invalid")).toBe(true);
    expect(field.querySelector(".field-error")?.textContent).toBe(message);
  });

  it("locks the split once a round ran and saves thresholds and the trigger without touching it", async () => {
    learningServer(makeLearningSettings({ split_locked: true, student_config: { epochs: 4 } }));
    let saved: LearningSettings | undefined;
    server.on("PATCH", "/api/projects/7/learning-settings/", ({ body }) => {
      saved = makeLearningSettings({ split_locked: true, ...(body as Partial<LearningSettings>) });
      return { body: saved };
    });
    await renderApp("/projects/7?tab=settings");
    await waitFor(() => input("heldout_fraction"));
    expect(input("heldout_fraction")!.disabled).toBe(true);
    expect(input("split_seed")!.disabled).toBe(true);
    expect(byText("Locked: rounds were trained and judged on this split.")).not.toBeNull();

    await typeInto(input("pseudo_low"), "0.2");
    await typeInto(input("pseudo_high"), "0.8");
    await typeInto(input("auto_round_after"), "25");
    await submit(byTestId("learning-form"));
    await waitFor(() => byText("Saved.", ".ok"));
    expect(patches()[0].body).toEqual({
      auto_round_after: 25,
      student_config: { epochs: 4, pseudo_low: 0.2, pseudo_high: 0.8 },
    });
    expect(input("pseudo_low")!.value).toBe("0.2");
  });

  it("shows the server's refusal of a split change", async () => {
    const message = "The split cannot change any more (split_seed): training rounds of this project were trained and judged on it.";
    server.on("PATCH", "/api/projects/7/learning-settings/", { status: 409, body: { message, extra: { field: "split_seed" } } });
    await renderApp("/projects/7?tab=settings");
    await typeInto(await waitFor(() => input("split_seed")), "3");
    await submit(byTestId("learning-form"));
    await waitFor(() => byText(message, ".form-error"));
    expect(input("split_seed")!.closest(".field")!.querySelector(".field-error")?.textContent).toBe(message);
  });

  for (const role of ["annotator", "reviewer"]) {
    it(`shows the ${role} the settings read-only in the Models tab`, async () => {
      server.on("GET", "/api/projects/7/", { body: makeProjectDetail({ role }) });
      learningServer(makeLearningSettings({ student_config: { pseudo_low: 0.25 }, auto_round_after: 40 }));
      await renderApp("/projects/7?tab=models");
      await waitFor(() => input("pseudo_low"));
      expect(input("pseudo_low")!.value).toBe("0.25");
      expect(input("auto_round_after")!.value).toBe("40");
      const fieldset = byTestId("learning-form")!.querySelector("fieldset")!;
      expect(fieldset.disabled).toBe(true);
      expect(byTestId("save-learning")).toBeNull();
      expect(byTestId("save-strategy")).toBeNull();
      expect(byTestId("strategy-form")!.querySelector("fieldset")!.disabled).toBe(true);
      expect(byTestId("strategy-form")!.querySelector<HTMLInputElement>('[name="diverse"]')!.checked).toBe(true);
    });
  }
});

describe("acquisition strategy", () => {
  it("puts the chosen strategy and shows the server's message when it refuses one", async () => {
    server.on("PUT", "/api/projects/7/acquisition-strategy/", {
      status: 400,
      body: { message: "strategy.weights.entropy must be a non-negative number", extra: { setting: "strategy.weights" } },
    });
    await renderApp("/projects/7?tab=settings");
    const select = await waitFor(() => byTestId<HTMLSelectElement>("strategy-name"));
    expect(select.value).toBe("combined");
    expect(select.closest(".field")!.textContent).toContain("top-k pixel entropy × 0.35");

    await choose(select, "entropy");
    await click(byTestId("save-strategy"));
    await waitFor(() => byText("strategy.weights.entropy must be a non-negative number", ".form-error"));
    expect(server.callsTo("PUT", "/api/projects/7/acquisition-strategy/")[0].body).toEqual({
      strategy: { name: "entropy", diverse: true },
      rescore: true,
    });
  });
});
