/**
 * (b) A positive SAM click on the canvas adds an instance from the server's mask; a second click on the
 * same frame is answered from the cached image embedding.
 *
 * env: BASE_URL, USERNAME, PASSWORD, CLIP_ID, FRAME_ID (frame 0), SCREENSHOT_DIR
 */
import { Api, canvasPoint, check, env, openAnnotator, rleArea, runSpec, sel, signIn, waitSaved } from "./lib.mjs";

await runSpec("sam_click", async ({ newPage, baseUrl, log }) => {
  const [username, password, clipId, frameId] = [env("USERNAME"), env("PASSWORD"), env("CLIP_ID"), env("FRAME_ID")];
  const page = await newPage();
  await signIn(page, baseUrl, username, password);
  await openAnnotator(page, baseUrl, clipId, 0);
  check((await page.locator('[data-testid^="instance-"][data-label]').count()) === 0, "the frame starts without instances");

  await page.click(sel("tool-sam"));
  const samAnswer = () => page.waitForResponse((r) => r.url().endsWith(`/api/frames/${frameId}/sam/`) && r.request().method() === "POST");
  const centre = await canvasPoint(page, 0.5, 0.5);
  const [first] = await Promise.all([samAnswer(), page.mouse.click(centre.x, centre.y)]);
  check(first.status() === 200, `the SAM endpoint answered ${first.status()}`);
  const firstBody = await first.json();
  check(firstBody.cached === false, "the first click embeds the frame");
  await page.waitForSelector(sel("instance-0"));
  log(`positive click -> instance 0 (score ${firstBody.score.toFixed(3)}, mask area ${rleArea(firstBody.mask)} px)`);

  const near = await canvasPoint(page, 0.45, 0.45);
  const [second] = await Promise.all([samAnswer(), page.mouse.click(near.x, near.y)]);
  check(second.status() === 200 && (await second.json()).cached === true, "a second click reuses the embedding");
  check((await page.locator('[data-testid^="instance-"][data-label]').count()) === 1, "refining clicks keep one instance");
  log("second click answered from the cached embedding");

  await page.click(sel("save"));
  await waitSaved(page);
  const api = await new Api(baseUrl).signIn(username, password);
  const annotation = await api.get(`/api/frames/${frameId}/annotation/`);
  check(annotation.instances.length === 1, "the SAM instance was saved");
  log(`saved: version ${annotation.version}`);
});
