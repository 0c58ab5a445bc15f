/**
 * A manager adds videos from storage: the project page lists the new videos of the bucket location, "Import" makes
 * them clips (shown in the clips table), and the listing then shows them in the project with nothing left to import.
 *
 * env: BASE_URL, USERNAME (a manager), PASSWORD, PROJECT_ID, SCREENSHOT_DIR
 */
import { check, env, runSpec, sel, signIn } from "./lib.mjs";

await runSpec("storage_import", async ({ newPage, baseUrl, log }) => {
  const [username, password, projectId] = [env("USERNAME"), env("PASSWORD"), env("PROJECT_ID")];

  const page = await newPage();
  await signIn(page, baseUrl, username, password);
  await page.goto(`${baseUrl}/projects/${projectId}`);
  await page.click(sel("storage-toggle"));
  await page.waitForSelector(sel("storage-objects"));
  const rows = await page.locator(sel("storage-object")).allTextContents();
  log(`listed: ${rows.join(" | ")}`);
  check(rows.length === 2 && rows.every((row) => row.endsWith("new")), "two new videos are listed");
  check((await page.textContent(sel("storage-import"))) === "Import 2 new videos", "the button offers 2 videos");

  await page.click(sel("storage-import"));
  await page.waitForFunction(
    (s) => document.querySelector(s)?.textContent === "Import 0 new videos",
    sel("storage-import"),
    { timeout: 60_000 },
  );
  const after = await page.locator(sel("storage-object")).allTextContents();
  log(`after: ${after.join(" | ")}`);
  check(after.every((row) => row.endsWith("in project")), "both videos are in the project now");
  check(await page.isDisabled(sel("storage-import")), "nothing is left to import");
  await page.waitForSelector('[data-testid^="clip-row-"]');
  const clips = await page.locator('[data-testid^="clip-row-"]').allTextContents();
  log(`clips: ${clips.join(" | ")}`);
  check(clips.length === 2, `the clips table shows the 2 imported clips (got ${clips.length})`);
});
