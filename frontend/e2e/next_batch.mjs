/**
 * (f) A manager opens the review queue and picks the next batch of clips to label: the page lists the clips the
 * API picks, in its order, each with its score and reason, and "Start with …" opens the first in the annotator.
 *
 * env: BASE_URL, USERNAME (a manager), PASSWORD, PROJECT_ID, SCREENSHOT_DIR
 */
import { Api, check, env, runSpec, sel, signIn } from "./lib.mjs";

await runSpec("next_batch", async ({ newPage, baseUrl, log }) => {
  const [username, password, projectId] = [env("USERNAME"), env("PASSWORD"), env("PROJECT_ID")];

  const page = await newPage();
  await signIn(page, baseUrl, username, password);
  await page.goto(`${baseUrl}/projects/${projectId}?tab=queue`);
  await page.waitForSelector(sel("next-batch-pick"));
  await page.fill(sel("next-batch-size"), "2");
  await page.click(sel("next-batch-pick"));
  await page.waitForSelector(sel("next-batch-result"));
  const shown = await page
    .locator('[data-testid^="next-batch-clip-"]')
    .evaluateAll((items) => items.map((item) => Number(item.getAttribute("data-testid").split("-").pop())));

  const api = await new Api(baseUrl).signIn(username, password);
  const batch = await api.post(`/api/projects/${projectId}/queue/batch/`, { size: 2 });
  const picked = batch.clips.map((clip) => clip.id);
  log(`page: ${shown.join(", ")}; API: ${picked.join(", ")} (${batch.method})`);
  check(picked.length === 2, `the API picks 2 clips (got ${picked.length})`);
  check(JSON.stringify(shown) === JSON.stringify(picked), "the page lists the API's batch in its order");
  const first = await page.locator(sel(`next-batch-clip-${picked[0]}`)).textContent();
  check(first.includes(batch.clips[0].name) && first.includes("score"), `the first clip with its score: "${first}"`);
  if (batch.clips[0].reason) check(first.includes(batch.clips[0].reason), "the first clip says why");

  await page.click(sel("next-batch-start"));
  await page.waitForURL(`**/clips/${picked[0]}**`);
  log(`opened ${page.url()}`);
});
