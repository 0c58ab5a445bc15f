/**
 * (h) An administrator chooses the project's model configuration in Settings among the files of the model folder,
 * sees what it would run (kind, name, reason) before saving, and saves it; a manager sees which proposer runs and
 * why, read-only.
 *
 * env: BASE_URL, ADMIN, MANAGER, PASSWORD, PROJECT_ID, CONFIG (a listed configuration that runs OpenAVS),
 * BROKEN (a listed configuration that cannot be used), SCREENSHOT_DIR
 */
import { Api, check, env, runSpec, sel, signIn } from "./lib.mjs";

const text = async (page, testId) => ((await page.locator(sel(testId)).textContent()) ?? "").trim();

await runSpec("model_config", async ({ newPage, baseUrl, log }) => {
  const [admin, manager, password, projectId] = [env("ADMIN"), env("MANAGER"), env("PASSWORD"), env("PROJECT_ID")];
  const [config, broken] = [env("CONFIG"), env("BROKEN")];

  const page = await newPage();
  await signIn(page, baseUrl, admin, password);
  await page.goto(`${baseUrl}/projects/${projectId}?tab=settings`);
  await page.waitForSelector(sel("model-config-select"));
  const before = await page.locator(sel("model-config-current")).getAttribute("data-kind");
  check(before === "baseline", `the baseline runs before (got ${before})`);

  await page.selectOption(sel("model-config-select"), broken); // an invalid file: its error, no save
  await page.waitForSelector(`${sel("model-config-preview")} .form-error`);
  const problem = await text(page, "model-config-entry-error");
  check(problem.length > 0, "the invalid configuration shows its error");
  check(await page.locator(sel("model-config-save")).isDisabled(), "it cannot be saved");
  log(`invalid: ${problem.slice(0, 120)}`);

  await page.selectOption(sel("model-config-select"), config);
  await page.waitForSelector(`${sel("model-config-preview-facts")}[data-kind="openavs"]`);
  const preview = await text(page, "model-config-preview-facts");
  check(preview.includes("OpenAVS") && preview.includes("openavs("), `the preview names what would run: "${preview}"`);
  const api = await new Api(baseUrl).signIn(admin, password);
  check((await api.get(`/api/projects/${projectId}/`)).model_config === "", "previewing saves nothing");
  log(`preview: ${preview}`);

  await page.click(sel("model-config-save"));
  await page.waitForSelector(`${sel("model-config-current")}[data-kind="openavs"]`);
  const detail = await api.get(`/api/projects/${projectId}/`);
  check(detail.model_config.endsWith(`/${config}`), `saved: ${detail.model_config}`);
  check(detail.proposer.kind === "openavs", `the project now runs OpenAVS (${detail.proposer.name})`);
  log(`saved ${detail.model_config}`);

  const managerPage = await newPage();
  await signIn(managerPage, baseUrl, manager, password);
  await managerPage.goto(`${baseUrl}/projects/${projectId}?tab=settings`);
  await managerPage.waitForSelector(`${sel("model-config-current")}[data-kind="openavs"]`);
  const facts = await text(managerPage, "model-config-current");
  check(facts.includes(detail.proposer.name), `the manager sees which proposer runs: "${facts}"`);
  check((await text(managerPage, "model-config-mode")).startsWith("Read-only"), "read-only for the manager");
  check((await managerPage.locator(sel("model-config-select")).count()) === 0, "no choice for the manager");
  check((await managerPage.locator(sel("model-config-save")).count()) === 0, "no save for the manager");
  log(`manager sees: ${facts}`);
});
