/**
 * (e) A manager opens the Models tab and starts a self-training round; the round appears with its
 * status (the test server runs tasks eagerly: the round has trained and been judged by the time the
 * start request answers), its held-out figures beside the proposer's, and the API agrees.
 *
 * env: BASE_URL, USERNAME (a manager), PASSWORD, PROJECT_ID, SCREENSHOT_DIR
 */
import { Api, check, env, runSpec, sel, signIn } from "./lib.mjs";

const ROUND_TIMEOUT_MS = 90000; // the start request trains a tiny student and judges it before answering

await runSpec("training_round", async ({ newPage, baseUrl, log }) => {
  const [username, password, projectId] = [env("USERNAME"), env("PASSWORD"), env("PROJECT_ID")];

  const page = await newPage();
  await signIn(page, baseUrl, username, password);
  await page.goto(`${baseUrl}/projects/${projectId}?tab=models`);
  await page.waitForSelector(sel("round-start"));
  check((await page.locator('[data-testid^="round-"][data-status]').count()) === 0, "no round before the start");

  await page.selectOption(sel("round-student"), "compact");
  await page.click(sel("round-start"));
  const card = page.locator('article[data-testid^="round-"][data-status]').first();
  await card.waitFor({ timeout: ROUND_TIMEOUT_MS });
  await page.waitForFunction(
    () => {
      const status = document.querySelector('article[data-testid^="round-"]')?.getAttribute("data-status");
      return status && status !== "queued" && status !== "running";
    },
    undefined,
    { timeout: ROUND_TIMEOUT_MS },
  );
  const status = await card.getAttribute("data-status");
  const text = await card.textContent();
  log(`round on the page: ${status}: ${text}`);

  const api = await new Api(baseUrl).signIn(username, password);
  const rounds = (await api.get(`/api/projects/${projectId}/training-rounds/`)).results;
  check(rounds.length === 1, `the API lists one round (got ${rounds.length})`);
  const [round] = rounds;
  check((await card.getAttribute("data-testid")) === `round-${round.id}`, "the card is the API's round");
  check(round.status === status, `the page shows the API's status (${round.status})`);
  check(round.status === "succeeded", `the round succeeded (got ${round.status}: ${round.error || round.reason})`);
  check(text.includes("Compact AVS student"), "the card names the student");
  await page.waitForSelector(sel(`round-heldout-${round.id}`));
  const heldout = await page.locator(sel(`round-heldout-${round.id}`)).textContent();
  check(heldout.includes("mIoU") && heldout.includes(round.base_proposer.name), "held-out figures beside the proposer's");
  if (round.reason) {
    const reason = await page.locator(sel(`round-reason-${round.id}`)).textContent();
    check(reason === round.reason, "the page says why the student was (not) promoted");
  }
  log(`round ${round.id}: ${round.reason}`);
});
