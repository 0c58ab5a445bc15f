/**
 * Time to interactive of the clip annotator (used by benchmarks/annotator_tti.py).
 *
 * Signs in once, then RUNS times opens /clips/CLIP_ID?frame=0 in a fresh browser context (no HTTP cache,
 * the session cookie carried over) and reads Performance timing: milliseconds from navigation start to
 * DOMContentLoaded, to the load event, and to the annotator root's `data-ready="true"` (set by the page
 * once the frame image is drawn and the tools are enabled; caught by a MutationObserver installed before
 * any page script). Prints one JSON object per run, then `{"done": true}`.
 *
 * env: BASE_URL, USERNAME, PASSWORD, CLIP_ID, RUNS (default 5), CHROMIUM_PATH
 */
import { env, launchBrowser, sel, signIn } from "./lib.mjs";

const READY_PROBE = () => {
  const done = (at) => {
    if (window.__avsReadyAt === undefined) window.__avsReadyAt = at;
  };
  const look = () => {
    if (document.querySelector('[data-testid="annotator-root"][data-ready="true"]')) done(performance.now());
  };
  new MutationObserver(look).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-ready"] });
};

const baseUrl = env("BASE_URL").replace(/\/$/, "");
const runs = Number(process.env.RUNS || 5);
const browser = await launchBrowser();
let code = 0;
try {
  const login = await browser.newContext();
  await signIn(await login.newPage(), baseUrl, env("USERNAME"), env("PASSWORD"));
  const storageState = await login.storageState();
  await login.close();
  for (let run = 0; run < runs; run += 1) {
    const context = await browser.newContext({ storageState, viewport: { width: 1400, height: 900 } });
    await context.addInitScript(READY_PROBE);
    const page = await context.newPage();
    await page.goto(`${baseUrl}/clips/${env("CLIP_ID")}?frame=0`);
    await page.waitForSelector(`${sel("annotator-root")}[data-ready="true"]`, { timeout: 60000 });
    await page.waitForFunction(() => window.__avsReadyAt !== undefined);
    const timing = await page.evaluate(() => {
      const [nav] = performance.getEntriesByType("navigation");
      const resources = performance.getEntriesByType("resource");
      return {
        ready_ms: window.__avsReadyAt,
        dom_content_loaded_ms: nav.domContentLoadedEventEnd,
        load_ms: nav.loadEventEnd,
        requests: resources.length + 1,
        transfer_kb: (nav.transferSize + resources.reduce((s, r) => s + (r.transferSize || 0), 0)) / 1024,
      };
    });
    console.log(JSON.stringify({ run, ...timing }));
    await context.close();
  }
  console.log(JSON.stringify({ done: true }));
} catch (error) {
  console.error(`tti failed: ${error?.stack || error}`);
  code = 1;
} finally {
  await Promise.race([browser.close(), new Promise((r) => setTimeout(r, 5000))]);
}
process.exit(code);
