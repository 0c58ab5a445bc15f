/**
 * (a) An annotator signs in, opens a clip from the project page, names a label, paints a mask with the
 * brush, trims it with the eraser, submits it, reloads, and finds it persisted: in the page and through
 * the API. On the way: the keyboard help overlay and the filmstrip.
 *
 * env: BASE_URL, USERNAME, PASSWORD, PROJECT_ID, CLIP_ID, FRAME_ID (frame 0 of the clip), SCREENSHOT_DIR
 */
import { Api, check, env, rleArea, runSpec, sel, signIn, stroke, waitReady, waitSaved } from "./lib.mjs";

const HOOKS = [
  "annotator-canvas",
  "tool-brush",
  "tool-eraser",
  "tool-polygon",
  "tool-sam",
  "tool-sam-negative",
  "save-status",
  "save",
  "submit",
  "label-input",
  "frame-thumb-0",
  "frame-thumb-1",
];

const instanceArea = async (page, i) => Number((await page.getAttribute(`${sel(`instance-${i}`)} .ann-instance-area`, "title")).split(" ")[0]);

await runSpec("annotate_brush", async ({ newPage, baseUrl, log }) => {
  const [username, password] = [env("USERNAME"), env("PASSWORD")];
  const [projectId, clipId, frameId] = [env("PROJECT_ID"), env("CLIP_ID"), env("FRAME_ID")];
  const page = await newPage();

  await signIn(page, baseUrl, username, password);
  log("signed in");
  await page.click(sel(`project-link-${projectId}`));
  await page.click(`${sel(`clip-row-${clipId}`)} a[href$="/clips/${clipId}"]`);
  await page.waitForURL((url) => url.pathname === `/clips/${clipId}`);
  await waitReady(page);
  const missing = [];
  for (const hook of HOOKS) if ((await page.locator(sel(hook)).count()) === 0) missing.push(hook);
  check(missing.length === 0, `the annotator has every agreed data-testid hook; missing: ${missing.join(", ")}`);
  log("annotator open, hooks present");

  await page.keyboard.press("?");
  await page.waitForSelector(sel("help-overlay"));
  await page.keyboard.press("Escape");
  await page.waitForSelector(sel("help-overlay"), { state: "detached" });
  log("help overlay opens with ? and closes with Escape");

  await page.click(sel("frame-thumb-1"));
  await page.waitForURL((url) => url.searchParams.get("frame") === "1");
  await waitReady(page);
  await page.click(sel("frame-thumb-0"));
  await page.waitForURL((url) => url.searchParams.get("frame") === "0");
  await waitReady(page);
  log("filmstrip moves between frames");

  await page.fill(sel("label-input"), "barking dog");
  await page.press(sel("label-input"), "Enter");
  await page.click(sel("tool-brush"));
  await stroke(page, [
    [0.4, 0.45],
    [0.5, 0.5],
    [0.6, 0.55],
  ]);
  await page.waitForSelector(sel("instance-0"));
  check((await page.getAttribute(sel("instance-0"), "data-label")) === "barking dog", "the new instance has the typed label");
  const painted = await instanceArea(page, 0);
  await page.click(sel("tool-eraser"));
  await stroke(page, [
    [0.55, 0.3],
    [0.55, 0.7],
  ]);
  const erased = await instanceArea(page, 0);
  check(erased > 0 && erased < painted, `the eraser removed part of the mask (${painted} -> ${erased} px)`);
  log(`painted ${painted} px, ${erased} px left after erasing`);

  await page.click(sel("submit"));
  await waitSaved(page);
  await page.waitForFunction((s) => document.querySelector(s)?.textContent?.includes("submitted"), sel("frame-status"));
  log("submitted");

  await page.reload();
  await waitReady(page);
  await page.waitForSelector(sel("instance-0"));
  check((await page.locator('[data-testid^="instance-"][data-label]').count()) === 1, "one instance after reload");
  check((await page.getAttribute(sel("instance-0"), "data-label")) === "barking dog", "the label survived the reload");
  check((await instanceArea(page, 0)) === erased, "the mask survived the reload");
  check((await page.textContent(sel("frame-status"))).includes("submitted"), "the frame is still submitted after reload");
  log("persisted in the page");

  const api = await new Api(baseUrl).signIn(username, password);
  const annotation = await api.get(`/api/frames/${frameId}/annotation/`);
  check(annotation.status === "submitted", `the API says submitted (got ${annotation.status})`);
  check(annotation.instances.length === 1, `the API has one instance (got ${annotation.instances.length})`);
  check(annotation.instances[0].label === "barking dog", "the API has the label");
  const area = rleArea(annotation.instances[0].mask);
  check(area === erased, `the stored mask is the painted one (API ${area} px, page ${erased} px)`);
  check(annotation.author?.username === username, "the annotator is the author");
  log(`persisted in the API: version ${annotation.version}, mask area ${area} px`);
});
