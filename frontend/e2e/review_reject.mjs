/**
 * (c) A reviewer rejects a submitted frame with a comment; the annotator then sees the comment on it.
 *
 * env: BASE_URL, REVIEWER, ANNOTATOR, PASSWORD, CLIP_ID, FRAME_ID (frame 0, submitted), SCREENSHOT_DIR
 */
import { Api, check, env, openAnnotator, runSpec, sel, signIn } from "./lib.mjs";

await runSpec("review_reject", async ({ newPage, baseUrl, log }) => {
  const [reviewer, annotator, password] = [env("REVIEWER"), env("ANNOTATOR"), env("PASSWORD")];
  const [clipId, frameId] = [env("CLIP_ID"), env("FRAME_ID")];
  const comment = `The dog's tail is missing (${Date.now()})`;

  const reviewerPage = await newPage();
  await signIn(reviewerPage, baseUrl, reviewer, password);
  await openAnnotator(reviewerPage, baseUrl, clipId, 0, "&review=1");
  await reviewerPage.waitForSelector(sel("review-panel"));
  await reviewerPage.click(sel("review-reject"));
  await reviewerPage.waitForSelector(sel("review-error")); // a rejection needs a comment
  await reviewerPage.fill(sel("review-comment-input"), comment);
  await reviewerPage.click(sel("review-reject"));
  await reviewerPage.waitForFunction(
    (s) => document.querySelector(s)?.textContent?.includes("rejected"),
    sel("frame-status"),
  );
  log("reviewer rejected the frame");

  const api = await new Api(baseUrl).signIn(annotator, password);
  const annotation = await api.get(`/api/frames/${frameId}/annotation/`);
  check(annotation.status === "rejected", `the API says rejected (got ${annotation.status})`);
  check(annotation.latest_review?.comment === comment, "the API has the reviewer's comment");

  const annotatorPage = await newPage();
  await signIn(annotatorPage, baseUrl, annotator, password);
  await openAnnotator(annotatorPage, baseUrl, clipId, 0);
  const banner = annotatorPage.locator(sel("review-comment"));
  await banner.waitFor();
  const text = await banner.textContent();
  check(text.includes(comment), `the annotator sees the comment (banner: "${text}")`);
  check(text.includes(reviewer), "the banner names the reviewer");
  check((await annotatorPage.locator(sel("review-panel")).count()) === 0, "annotators get no review buttons");
  log("annotator sees the comment");
});
