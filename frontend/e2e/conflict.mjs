/**
 * (d) A save based on a stale version shows the conflict dialog: the annotation is changed through the
 * API behind the page's back, then the page saves its own edit. Reloading takes the server's copy.
 *
 * env: BASE_URL, USERNAME, PASSWORD, CLIP_ID, FRAME_ID (frame 0), SCREENSHOT_DIR
 */
import { Api, check, env, openAnnotator, runSpec, sel, signIn, stroke, waitSaved } from "./lib.mjs";

await runSpec("conflict", async ({ newPage, baseUrl, log }) => {
  const [username, password, clipId, frameId] = [env("USERNAME"), env("PASSWORD"), env("CLIP_ID"), env("FRAME_ID")];
  const page = await newPage();
  await signIn(page, baseUrl, username, password);
  await openAnnotator(page, baseUrl, clipId, 0);

  await page.click(sel("tool-brush"));
  await stroke(page, [
    [0.3, 0.3],
    [0.4, 0.4],
  ]);
  await page.click(sel("save"));
  await waitSaved(page);
  const api = await new Api(baseUrl).signIn(username, password);
  const saved = await api.get(`/api/frames/${frameId}/annotation/`);
  log(`page saved version ${saved.version}`);

  // Someone else saves the frame meanwhile: their version replaces the page's instance with theirs.
  const theirs = await api.put(`/api/frames/${frameId}/annotation/`, {
    version: saved.version,
    instances: [{ ...saved.instances[0], label: "their label" }],
  });
  log(`behind the page's back: version ${theirs.version}`);

  await page.click(sel("instance-new"));
  await stroke(page, [
    [0.6, 0.6],
    [0.7, 0.7],
  ]);
  await page.click(sel("save"));
  const dialog = page.locator(sel("conflict-dialog"));
  await dialog.waitFor();
  check((await page.locator(sel("conflict-reload")).count()) === 1, "the dialog offers to reload");
  check((await page.locator(sel("conflict-overwrite")).count()) === 1, "the dialog offers to overwrite");
  log("conflict dialog shown");

  await page.click(sel("conflict-reload"));
  await dialog.waitFor({ state: "detached" });
  await page.waitForFunction(() => document.querySelectorAll('[data-testid^="instance-"][data-label]').length === 1);
  const label = await page.getAttribute(sel("instance-0"), "data-label");
  check(label === "their label", `after reloading the page shows their annotation (label "${label}")`);
  const stored = await api.get(`/api/frames/${frameId}/annotation/`);
  check(stored.version === theirs.version, "the stale save stored nothing");
  log("reloaded their version; nothing of the stale save was stored");
});
