/**
 * The README's screenshots (`make screenshots`, scripts/screenshots.py): the main screens of the seeded demo,
 * each captured once what it is about is on the page, at 1280×800.
 *
 *   project.png    the manager's project page: clips, and a pre-annotation job running
 *   annotator.png  the annotator on an untouched frame: the proposal's masks over the frame, the waveform below
 *   review.png     the reviewer's list of submitted frames
 *   models.png     the Models tab: a finished training round (held-out figures, loss curve), the model versions
 *
 * env: BASE_URL, OUT_DIR, PASSWORD (of the demo users), PROJECT_ID, CLIP_ID, FRAME_INDEX, ROUND_ID, SUBMITTED
 * (how many frames wait for review), SCREENSHOT_DIR (failures)
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { check, env, openAnnotator, runSpec, sel, signIn } from "./lib.mjs";

const VIEWPORT = { width: 1280, height: 800 };

await runSpec(
  "screenshots",
  async ({ newPage, baseUrl, log }) => {
    const out = env("OUT_DIR");
    const password = env("PASSWORD");
    const [projectId, clipId, frameIndex, roundId] = [env("PROJECT_ID"), env("CLIP_ID"), env("FRAME_INDEX"), env("ROUND_ID")];
    const submitted = Number(env("SUBMITTED"));
    mkdirSync(out, { recursive: true });

    const shoot = async (page, name) => {
      // Let images, canvases and fonts settle; animations are stopped for the capture.
      await page.evaluate(() => document.fonts.ready);
      await page.waitForTimeout(400);
      const file = path.join(out, `${name}.png`);
      await page.screenshot({ path: file, animations: "disabled" });
      log(`${name}: ${file}`);
    };

    const manager = await newPage();
    await signIn(manager, baseUrl, "manager", password);
    await manager.goto(`${baseUrl}/projects/${projectId}`);
    const running = manager.locator('section[aria-label="Running jobs"]');
    await running.waitFor();
    check((await running.textContent()).includes("Pre-annotate"), "the running pre-annotation job is listed");
    await manager.waitForSelector('[data-testid^="clip-row-"]');
    await shoot(manager, "project");

    const annotator = await newPage();
    await signIn(annotator, baseUrl, "annotator", password);
    await openAnnotator(annotator, baseUrl, clipId, frameIndex);
    await annotator.waitForSelector(`${sel("waveform")}[data-duration]`);
    await annotator.waitForSelector(`${sel("waveform")} canvas`); // drawn by wavesurfer (in its shadow root)
    await annotator.waitForSelector(sel("proposal-instance-0"));
    check(await annotator.locator(sel("proposal-toggle")).isChecked(), "the proposal overlay is on");
    await shoot(annotator, "annotator");

    const reviewer = await newPage();
    await signIn(reviewer, baseUrl, "reviewer", password);
    await reviewer.goto(`${baseUrl}/projects/${projectId}/review`);
    await reviewer.waitForSelector('[data-testid^="annotation-row-"]');
    const rows = await reviewer.locator('[data-testid^="annotation-row-"]').count();
    check(rows === submitted, `the review page lists the ${submitted} submitted frames (got ${rows})`);
    await shoot(reviewer, "review");

    await manager.goto(`${baseUrl}/projects/${projectId}?tab=models`);
    await manager.waitForSelector(`article${sel(`round-${roundId}`)}[data-status="succeeded"]`);
    await manager.waitForSelector(sel(`round-heldout-${roundId}`));
    await manager.waitForSelector('[data-testid^="model-col-"]');
    // From the training rounds down: the round, its held-out figures and loss curve, then the model versions.
    await manager
      .locator('section[aria-label="Training rounds"]')
      .evaluate((panel) => {
        const bar = document.querySelector("header.topbar")?.getBoundingClientRect().height ?? 0; // stays on top
        window.scrollTo(0, panel.getBoundingClientRect().top + window.scrollY - bar - 12);
      });
    await shoot(manager, "models");
  },
  { viewport: VIEWPORT },
);
