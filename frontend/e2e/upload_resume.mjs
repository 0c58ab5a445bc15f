/**
 * A manager uploads a real clip through the web app's resumable (tus) upload while the network misbehaves:
 * one PATCH is dropped (the client retries from the offset the server stored), then the page is reloaded in the
 * middle of a PATCH and the same file is chosen again: the upload continues from the server's offset (the upload
 * URL was kept in localStorage) instead of starting over. The clip is ingested and listed.
 *
 * env: BASE_URL, USERNAME (a manager), PASSWORD, PROJECT_ID, VIDEO (a file path), CHUNK (the server's chunk size,
 * smaller than the file), SCREENSHOT_DIR
 */
import { basename } from "node:path";
import { statSync } from "node:fs";
import { Api, check, env, runSpec, sel, signIn } from "./lib.mjs";

await runSpec("upload_resume", async ({ newPage, baseUrl, log }) => {
  const [username, password, projectId, video] = [env("USERNAME"), env("PASSWORD"), env("PROJECT_ID"), env("VIDEO")];
  const chunk = Number(env("CHUNK"));
  const size = statSync(video).size;
  check(size > 3 * chunk, `the clip (${size} bytes) spans more than three chunks of ${chunk}`);

  const page = await newPage();
  await signIn(page, baseUrl, username, password);

  // Every tus request, in order; the second PATCH is dropped, the third held until the page is reloaded.
  const requests = [];
  let patches = 0;
  let releaseHeld;
  const held = new Promise((resolve) => {
    releaseHeld = resolve;
  });
  await page.route("**/api/uploads/**", async (route) => {
    const request = route.request();
    const method = request.method();
    const offset = request.headers()["upload-offset"];
    if (method === "PATCH") patches += 1;
    const entry = { method, offset: offset === undefined ? null : Number(offset), fate: "sent" };
    requests.push(entry);
    if (method === "PATCH" && patches === 2) {
      entry.fate = "dropped";
      await route.abort("connectionreset");
    } else if (method === "PATCH" && patches === 3) {
      entry.fate = "held";
      releaseHeld(route);
    } else {
      await route.continue();
    }
  });

  const chooseFile = async () => {
    await page.goto(`${baseUrl}/projects/${projectId}`);
    await page.click(sel("upload-toggle"));
    await page.setInputFiles(sel("upload-input"), video);
  };
  await chooseFile();
  const heldRoute = await held;
  log(`before the reload: ${JSON.stringify(requests)}`);
  await page.reload(); // the held PATCH dies with the page
  await heldRoute.abort("aborted").catch(() => undefined);
  const beforeReload = requests.length;
  await chooseFile();

  const api = await new Api(baseUrl).signIn(username, password);
  const name = basename(video);
  let clip;
  for (let attempt = 0; attempt < 200 && !clip; attempt += 1) {
    const found = await api.get(`/api/projects/${projectId}/clips/?search=${encodeURIComponent(name)}`);
    clip = found.results.find((c) => c.name === name && c.status === "ready");
    if (!clip) await page.waitForTimeout(250);
  }
  log(`requests: ${JSON.stringify(requests)}`);
  check(clip, `the clip ${name} is ingested and ready`);
  check(clip.size_bytes === size, `the clip has all ${size} bytes (${clip.size_bytes})`);
  await page.waitForSelector(sel(`clip-row-${clip.id}`));
  await page.screenshot({ path: `${process.env.SCREENSHOT_DIR || "var/e2e"}/upload_resume-done.png` });

  const posts = requests.filter((r) => r.method === "POST");
  check(posts.length === 1, `one upload was created, not ${posts.length}: resumes go on with it`);
  const patchOffsets = requests.filter((r) => r.method === "PATCH").map((r) => r.offset);
  check(
    JSON.stringify(patchOffsets) === JSON.stringify([0, chunk, chunk, chunk, 2 * chunk, 3 * chunk]),
    `PATCH offsets: the dropped and the held second chunk are sent again from the server's offset (${patchOffsets})`,
  );
  const dropped = requests.findIndex((r) => r.fate === "dropped");
  check(requests[dropped + 1].method === "HEAD", "after the dropped PATCH the client asks the server for its offset");
  const afterReload = requests.slice(beforeReload).filter((r) => r.method !== "OPTIONS");
  check(
    afterReload[0].method === "HEAD" && afterReload[1].method === "PATCH" && afterReload[1].offset === chunk,
    "after the reload the same file resumes from the server's offset (HEAD, then PATCH at one chunk)",
  );
  const stored = await page.evaluate(() => Object.keys(localStorage).filter((key) => key.startsWith("tus::")));
  check(stored.length === 0, `the finished upload's URL is no longer kept (${stored})`);
});
