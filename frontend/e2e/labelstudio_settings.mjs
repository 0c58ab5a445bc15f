/**
 * (i) A manager connects the project to Label Studio in Settings: enters the URL and the API token, saves, and sees
 * the connection (the token only as "set", never its value); "Push now" starts a sync job, which fails because no
 * Label Studio answers at that URL, and the page shows the API's readable error (job and connection's last error).
 *
 * env: BASE_URL, USERNAME (a manager), PASSWORD, PROJECT_ID, LS_URL (where nothing listens), LS_TOKEN, SCREENSHOT_DIR
 */
import { Api, check, env, runSpec, sel, signIn } from "./lib.mjs";

const text = async (page, testId) => ((await page.locator(sel(testId)).textContent()) ?? "").trim();

await runSpec("labelstudio_settings", async ({ newPage, baseUrl, log }) => {
  const [username, password, projectId] = [env("USERNAME"), env("PASSWORD"), env("PROJECT_ID")];
  const [lsUrl, lsToken] = [env("LS_URL"), env("LS_TOKEN")];
  const api = await new Api(baseUrl).signIn(username, password);

  const page = await newPage();
  await signIn(page, baseUrl, username, password);
  await page.goto(`${baseUrl}/projects/${projectId}?tab=settings`);
  await page.waitForSelector(sel("ls-form"));
  const state = async () => page.locator(sel("ls-state")).getAttribute("data-state");
  check((await state()) === "not_set", "not set up before");
  check((await text(page, "ls-token-state")) === "not set", "no token before");
  check(await page.locator(sel("ls-push")).isDisabled(), "nothing to push to before");
  const mlUrl = await text(page, "ls-ml-url");
  check(mlUrl.includes("/ls/"), `the ML-backend URL to paste into Label Studio is shown: "${mlUrl}"`);

  await page.fill(`${sel("ls-form")} input[name="url"]`, lsUrl);
  await page.fill(`${sel("ls-form")} input[name="token"]`, lsToken);
  await page.click(sel("ls-save"));
  await page.waitForFunction((s) => document.querySelector(s)?.textContent?.trim() === "set", sel("ls-token-state"));
  check((await text(page, "ls-url")) === lsUrl, "the saved URL is shown");
  check((await state()) === "not_pushed", `set up, not pushed yet (got ${await state()})`);
  check((await page.inputValue(`${sel("ls-form")} input[name="token"]`)) === "", "the token field is emptied");
  check(!(await page.content()).includes(lsToken), "the token's value is nowhere on the page");
  const saved = await api.get(`/api/projects/${projectId}/labelstudio/`);
  check(saved.url === lsUrl && saved.has_token === true, `the API has the URL and a token: ${JSON.stringify(saved)}`);
  check(!JSON.stringify(saved).includes(lsToken), "the API never answers with the token");
  log(`saved: ${saved.url}, token set, ML backend ${saved.ml_backend_url}`);

  await page.click(sel("ls-push"));
  await page.waitForSelector(`${sel("ls-job")}[data-status="failed"]`, { timeout: 60000 });
  const shownError = ((await page.locator(`${sel("ls-job")} [role="alert"]`).textContent()) ?? "").trim();
  await page.waitForSelector(sel("ls-last-error"));
  const lastError = await text(page, "ls-last-error");

  const after = await api.get(`/api/projects/${projectId}/labelstudio/`);
  check(after.latest_job && after.latest_job.kind === "labelstudio", "the push ran as a Label Studio job");
  check(after.latest_job.status === "failed", `the job failed (got ${after.latest_job.status})`);
  const jobId = await page.locator(sel("ls-job")).getAttribute("data-job-id");
  check(jobId === String(after.latest_job.id), "the page follows the API's latest job");
  check(shownError.length > 0 && shownError === (after.latest_job.error || after.latest_job.message).trim(),
    `the page shows the job's readable error: "${shownError}"`);
  check(!shownError.includes("Traceback") && !shownError.includes("\n"), "one readable line, no traceback");
  check(after.last_error && lastError.includes(after.last_error.trim()), `the connection's last error is shown: "${lastError}"`);
  check(!(await page.locator(sel("ls-push")).isDisabled()), "push can be retried");
  check((await state()) === "not_pushed", "a failed push connects nothing");
  log(`push failed as expected: ${shownError}`);
});
