/**
 * (g) Frames are numbered for people from 1, out of the clip's count, with their time window; URLs keep the API's
 * 0-based index. The third of five frames (`?frame=2`) is "Frame 3 of 5" (2.0–3.0 s at 1 fps) in the annotator and
 * in the reviewers' list, whose link opens that same frame.
 *
 * env: BASE_URL, USERNAME (a reviewer), PASSWORD, PROJECT_ID, CLIP_ID, ANNOTATION_ID (submitted, frame index 2),
 * SCREENSHOT_DIR
 */
import { check, env, openAnnotator, runSpec, sel, signIn } from "./lib.mjs";

const text = async (page, testId) => ((await page.locator(sel(testId)).textContent()) ?? "").trim();

await runSpec("frame_numbering", async ({ newPage, baseUrl, log }) => {
  const [username, password] = [env("USERNAME"), env("PASSWORD")];
  const [projectId, clipId, annotationId] = [env("PROJECT_ID"), env("CLIP_ID"), env("ANNOTATION_ID")];

  const page = await newPage();
  await signIn(page, baseUrl, username, password);
  await openAnnotator(page, baseUrl, clipId, 2);
  let indicator = await text(page, "frame-indicator");
  log(`annotator at ?frame=2: "${indicator}"`);
  check(indicator.startsWith("Frame 3 of 5"), `the third of five frames reads "Frame 3 of 5" (got "${indicator}")`);
  check(indicator.includes("2.0–3.0 s"), `with its time window (got "${indicator}")`);
  const thumb = await text(page, "frame-thumb-2");
  check(thumb.startsWith("3"), `its filmstrip thumbnail is numbered 3 (got "${thumb}")`);
  const title = await page.locator(sel("frame-thumb-2")).getAttribute("title");
  check(title.startsWith("Frame 3 of 5 (2.0–3.0 s)"), `the thumbnail's title names it so (got "${title}")`);

  await page.click(sel("next-frame"));
  await page.waitForURL((url) => url.searchParams.get("frame") === "3");
  indicator = await text(page, "frame-indicator");
  check(indicator.startsWith("Frame 4 of 5") && indicator.includes("3.0–4.0 s"), `next: "${indicator}"`);
  log(`next frame: "${indicator}", URL ${page.url()}`);

  await page.goto(`${baseUrl}/projects/${projectId}/review`);
  await page.waitForSelector(sel(`annotation-row-${annotationId}`));
  const cell = await text(page, `annotation-frame-${annotationId}`);
  log(`review list: "${cell}"`);
  check(cell === "Frame 3 of 5 · 2.0–3.0 s", `the review list names the frame alike (got "${cell}")`);
  await page.click(sel(`review-open-${annotationId}`));
  await page.waitForURL((url) => url.searchParams.get("frame") === "2" && url.searchParams.get("review") === "1");
  await page.waitForSelector(`${sel("annotator-root")}[data-ready="true"]`);
  indicator = await text(page, "frame-indicator");
  check(indicator.startsWith("Frame 3 of 5"), `the link opens the same frame (got "${indicator}")`);
});
