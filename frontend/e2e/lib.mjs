/**
 * Shared helpers of the browser end-to-end specs (playwright-core driving Debian's Chromium; no browser
 * download). Each spec is a self-contained script run by tests/e2e/test_browser.py against a live Django
 * server seeded for it; it exits 0 when every check passed, 1 otherwise (with the reason, the browser's
 * console and a screenshot of every open page under SCREENSHOT_DIR).
 *
 * Environment: BASE_URL (e.g. http://127.0.0.1:40123), the spec's own ids and credentials,
 * SCREENSHOT_DIR (default var/e2e), CHROMIUM_PATH (default /usr/bin/chromium), E2E_TIMEOUT_MS.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
];

/** A required environment variable (a spec without its inputs fails at once, saying which). */
export function env(name, fallback) {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === "") throw new Error(`environment variable ${name} is required`);
  return value;
}

export function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
  });
}

/**
 * Run `body({ browser, newPage, baseUrl, log })` with a time bound; exit 0 on success, 1 on failure.
 * `newPage()` opens a page in a fresh context (its own cookies: one per signed-in user) of `viewport`.
 */
export async function runSpec(name, body, { viewport = { width: 1400, height: 900 } } = {}) {
  const baseUrl = env("BASE_URL").replace(/\/$/, "");
  const timeoutMs = Number(process.env.E2E_TIMEOUT_MS || 120000);
  const screenshots = process.env.SCREENSHOT_DIR || "var/e2e";
  const lines = [];
  const log = (text) => {
    lines.push(text);
    console.log(text);
  };
  const pages = [];
  let browser;
  let timer;
  let failed = false;
  try {
    browser = await launchBrowser();
    const newPage = async () => {
      const context = await browser.newContext({ viewport });
      const page = await context.newPage();
      page.setDefaultTimeout(20000);
      const tag = `page${pages.length + 1}`;
      page.on("console", (m) => {
        if (m.type() === "error" || m.type() === "warning") lines.push(`[${tag} console.${m.type()}] ${m.text()}`);
      });
      page.on("pageerror", (e) => lines.push(`[${tag} pageerror] ${e.message}`));
      page.on("response", (r) => {
        if (r.status() >= 400) lines.push(`[${tag} http ${r.status()}] ${r.request().method()} ${r.url()}`);
      });
      pages.push(page);
      return page;
    };
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${name} did not finish within ${timeoutMs} ms`)), timeoutMs);
    });
    await Promise.race([body({ browser, newPage, baseUrl, log }), timeout]);
    console.log(`PASS ${name}`);
  } catch (error) {
    failed = true;
    console.error(`FAIL ${name}: ${error?.stack || error}`);
    mkdirSync(screenshots, { recursive: true });
    for (const [k, page] of pages.entries()) {
      const file = path.join(screenshots, `${name}-page${k + 1}.png`);
      try {
        await page.screenshot({ path: file, fullPage: true, timeout: 5000 });
        console.error(`screenshot: ${file} (${page.url()})`);
      } catch (shotError) {
        console.error(`no screenshot of page${k + 1}: ${shotError.message}`);
      }
    }
    console.error("--- browser log ---");
    for (const line of lines) console.error(line);
  } finally {
    clearTimeout(timer);
    if (browser) await Promise.race([browser.close(), new Promise((r) => setTimeout(r, 5000))]);
  }
  process.exit(failed ? 1 : 0);
}

const sel = (testId) => `[data-testid="${testId}"]`;
export { sel };

/** Sign in through the sign-in page; resolves once the app has left /login. */
export async function signIn(page, baseUrl, username, password) {
  await page.goto(`${baseUrl}/login`);
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', password);
  await page.click(sel("sign-in"));
  await page.waitForURL((url) => !url.pathname.startsWith("/login"));
}

/** Open the clip annotator on a frame and wait for the page's own "interactive" signal. */
export async function openAnnotator(page, baseUrl, clipId, frameIndex, extra = "") {
  await page.goto(`${baseUrl}/clips/${clipId}?frame=${frameIndex}${extra}`);
  await waitReady(page);
}

export async function waitReady(page) {
  await page.waitForSelector(`${sel("annotator-root")}[data-ready="true"]`);
}

/** A point of the annotator canvas given as fractions of its box (0.5, 0.5: the centre). */
export async function canvasPoint(page, fx, fy) {
  const box = await page.locator(sel("annotator-canvas")).boundingBox();
  check(box !== null, "the annotator canvas is on the page");
  return { x: box.x + box.width * fx, y: box.y + box.height * fy };
}

/** A mouse stroke across the canvas through points given as fractions of its box. */
export async function stroke(page, points) {
  const [first, ...rest] = await Promise.all(points.map(([fx, fy]) => canvasPoint(page, fx, fy)));
  await page.mouse.move(first.x, first.y);
  await page.mouse.down();
  for (const p of rest) await page.mouse.move(p.x, p.y, { steps: 8 });
  await page.mouse.up();
}

export async function waitSaved(page) {
  await page.waitForFunction(
    (s) => document.querySelector(s)?.textContent?.includes("Saved"),
    sel("save-status"),
  );
}

/** The REST API with a token (checks behind the page's back). */
export class Api {
  constructor(baseUrl) {
    this.baseUrl = baseUrl;
    this.token = null;
  }

  async signIn(username, password) {
    const data = await this.request("POST", "/api/auth/token/", { username, password });
    this.token = data.token;
    return this;
  }

  async request(method, url, body, { expect = [200, 201, 204] } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.token) headers.Authorization = `Token ${this.token}`;
    const response = await fetch(`${this.baseUrl}${url}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!expect.includes(response.status)) {
      throw new Error(`${method} ${url} answered ${response.status}: ${text.slice(0, 500)}`);
    }
    return data;
  }

  get(url, options) {
    return this.request("GET", url, undefined, options);
  }

  put(url, body, options) {
    return this.request("PUT", url, body, options);
  }

  post(url, body, options) {
    return this.request("POST", url, body, options);
  }
}

/** Pixels set in a COCO RLE mask (compressed string counts, as the server stores them). */
export function rleArea(rle) {
  const counts = decodeCounts(rle.counts);
  let area = 0;
  for (let i = 1; i < counts.length; i += 2) area += counts[i];
  return area;
}

function decodeCounts(s) {
  // pycocotools' LEB128-like string: 6 bits per char (offset 48), continuation bit 0x20, sign bit 0x10,
  // counts from the third on are deltas from the count two before.
  const counts = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let k = 0;
    let more = 1;
    while (more) {
      const c = s.charCodeAt(p) - 48;
      x |= (c & 0x1f) << (5 * k);
      more = c & 0x20;
      p += 1;
      k += 1;
      if (!more && c & 0x10) x |= -1 << (5 * k);
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  return counts;
}
