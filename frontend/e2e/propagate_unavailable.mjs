/**
 * Without a configured tracker, the Propagate action shows the server's reason where the action is;
 * the annotator keeps working (the painted mask is still there and saves).
 *
 * env: BASE_URL, USERNAME, PASSWORD, CLIP_ID, SCREENSHOT_DIR
 */
import { check, env, openAnnotator, runSpec, sel, signIn, stroke, waitSaved } from "./lib.mjs";

await runSpec("propagate_unavailable", async ({ newPage, baseUrl, log }) => {
  const [username, password, clipId] = [env("USERNAME"), env("PASSWORD"), env("CLIP_ID")];
  const page = await newPage();
  await signIn(page, baseUrl, username, password);
  await openAnnotator(page, baseUrl, clipId, 0);
  await page.click(sel("tool-brush"));
  await stroke(page, [
    [0.4, 0.45],
    [0.6, 0.55],
  ]);
  await page.waitForSelector(`${sel("instance-0")}[data-selected="true"]`);

  const started = page.waitForResponse((r) => r.url().endsWith(`/api/clips/${clipId}/propagations/`) && r.request().method() === "POST");
  await page.keyboard.press("t"); // the Propagate shortcut
  const answer = await started;
  check(answer.status() === 503, `without a tracker the server answers 503 (got ${answer.status()})`);
  const reason = (await answer.json()).message;
  await page.waitForSelector(sel("propagation-error"));
  const shown = (await page.textContent(sel("propagation-error"))).trim();
  check(shown === reason, `the panel shows the server's reason (shown: "${shown}", server: "${reason}")`);
  log(`shown: ${shown}`);

  check((await page.locator(sel("propagation-status")).count()) === 0, "no job is shown as running");
  check((await page.locator('[data-testid^="instance-"][data-label]').count()) === 1, "the painted mask is still there");
  await page.click(sel("save"));
  await waitSaved(page);
  log("the annotator keeps working: the mask saved");
});
