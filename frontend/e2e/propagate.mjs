/**
 * Mask propagation from the annotator (tiny random SAM 2 video tracker): paint a mask on frame 0,
 * propagate it forward to the clip's end, see the job finish, the filmstrip mark the propagated frames
 * and the overlay draw the tracked masks on the following frames; accept the range, reload, and find the
 * annotations saved on those frames (in the page and through the API).
 *
 * EXPECT_SILENT=none: the dog sounds on every frame (the test's audio settings), the range is accepted as is.
 * EXPECT_SILENT=all: the dog is visible but silent on every following frame: each is marked "silent here", the
 * range accept leaves them all out (nothing stored) until "include silent frames" is ticked.
 *
 * env: BASE_URL, USERNAME, PASSWORD, CLIP_ID, NUM_FRAMES, EXPECT_SILENT (none | all), SCREENSHOT_DIR
 */
import { Api, check, env, openAnnotator, runSpec, sel, signIn, stroke, waitReady } from "./lib.mjs";

const thumb = (k) => sel(`frame-thumb-${k}`);
const waitText = (page, selector, text) =>
  page.waitForFunction(([s, t]) => document.querySelector(s)?.textContent?.includes(t), [selector, text]);

await runSpec("propagate", async ({ newPage, baseUrl, log }) => {
  const [username, password, clipId] = [env("USERNAME"), env("PASSWORD"), env("CLIP_ID")];
  const frames = Number(env("NUM_FRAMES"));
  const expectSilent = env("EXPECT_SILENT");
  check(["none", "all"].includes(expectSilent), `EXPECT_SILENT is none or all (got ${expectSilent})`);
  const following = Array.from({ length: frames - 1 }, (_, k) => k + 1);
  const page = await newPage();
  await signIn(page, baseUrl, username, password);
  await openAnnotator(page, baseUrl, clipId, 0);

  await page.fill(sel("label-input"), "dog");
  await page.press(sel("label-input"), "Enter");
  await page.click(sel("tool-brush"));
  await stroke(page, [
    [0.35, 0.4],
    [0.5, 0.5],
    [0.65, 0.6],
  ]);
  await page.waitForSelector(`${sel("instance-0")}[data-selected="true"]`);
  check((await page.textContent(sel("propagate-selected"))) === "1 selected", "the painted instance is selected for propagation");
  check((await page.inputValue(sel("propagate-end"))) === String(frames), "forward propagation runs to the clip's last frame by default");
  log("painted a dog on frame 1 (unsaved is fine), selected");

  const started = page.waitForResponse((r) => r.url().endsWith(`/api/clips/${clipId}/propagations/`) && r.request().method() === "POST");
  await page.click(sel("propagate-start"));
  const start = await started;
  check(start.status() === 202, `the propagation was accepted for processing (got ${start.status()})`);
  const propagationId = (await start.json()).id;
  await page.waitForSelector(`${sel("propagation-status")}[data-status="succeeded"]`, { timeout: 90000 });
  await page.waitForSelector(`${sel("propagation-review")}[data-propagation="${propagationId}"]`);
  log(`propagation #${propagationId} succeeded: ${await page.textContent(sel("propagation-status"))}`);

  check((await page.getAttribute(thumb(0), "data-propagated")) === "false", "the source frame is not marked as propagated");
  for (const k of following) {
    check((await page.getAttribute(thumb(k), "data-propagated")) === "true", `frame ${k + 1} is marked as propagated on the filmstrip`);
  }
  const silent = await page.locator('[data-testid^="frame-thumb-"][data-silent="true"]').count();
  const checks = await page.locator('[data-testid^="frame-thumb-"][data-check="true"]').count();
  check(silent === (expectSilent === "all" ? following.length : 0), `${silent} frames are marked silent here (expected: ${expectSilent})`);
  log(`filmstrip: ${following.length} frames propagated, ${silent} silent here, ${checks} to check`);

  for (const k of following) {
    await page.click(thumb(k));
    await page.waitForURL((url) => url.searchParams.get("frame") === String(k));
    await waitReady(page);
    await page.waitForSelector(sel("proposal-instance-0"));
    check((await page.locator(sel("proposal-instance-0")).textContent()).includes("dog"), `the overlay lists the tracked dog on frame ${k + 1}`);
    const title = await page.getAttribute(thumb(k), "title");
    check(title.includes("propagated"), `frame ${k + 1}'s thumbnail says it was propagated (${title})`);
    if (expectSilent === "all") {
      check(title.includes("silent here: dog"), `frame ${k + 1}'s thumbnail says the dog is silent here (${title})`);
      check((await page.locator(sel(`frame-silent-${k}`)).count()) === 1, `frame ${k + 1} carries the silent marker`);
      await page.waitForSelector(sel("propagation-silent-here"));
      check(await page.isDisabled(sel("propagation-accept-frame")), `accept on frame ${k + 1} waits for "include silent frames"`);
    }
  }
  log("the overlay shows the tracked mask on every following frame");

  const acceptRange = async () => {
    const accepting = page.waitForResponse((r) => r.url().endsWith(`/api/propagations/${propagationId}/accept/`));
    await page.click(sel("propagation-accept-range"));
    const accept = await accepting;
    check(accept.status() === 200, `the range accept answered ${accept.status()}`);
    await page.waitForSelector(`${sel("busy")}`, { state: "detached" });
    return accept.json();
  };
  const api = await new Api(baseUrl).signIn(username, password);
  const annotated = async () => (await api.get(`/api/clips/${clipId}/annotations/?page_size=500`)).results.filter((a) => a.frame_index > 0);

  if (expectSilent === "all") {
    const none = await acceptRange();
    check(none.accepted.length === 0, `silent frames are not accepted by default (accepted ${JSON.stringify(none.accepted.map((a) => a.frame_index))})`);
    check(none.skipped.every((s) => s.reason === "silent") && none.skipped.length === following.length, "every frame was left out as silent");
    await waitText(page, sel("notice"), `${following.length} silent frames left out`);
    check((await annotated()).length === 0, "nothing was stored on the silent frames");
    log(`default accept: ${await page.textContent(sel("notice"))}`);
    await page.check(sel("propagation-include-silent"));
    log("ticked include silent frames");
  }
  const result = await acceptRange();
  const accepted = result.accepted.map((a) => a.frame_index).sort((a, b) => a - b);
  check(JSON.stringify(accepted) === JSON.stringify(following), `every following frame was accepted (got ${accepted}, skipped ${JSON.stringify(result.skipped)})`);
  await waitText(page, sel("notice"), `Accepted the propagation on ${following.length} frames`);
  check((await page.getAttribute(thumb(following[0]), "data-status")) === "draft", "the accepted frames show as drafts");
  log(`accepted the range: frames ${accepted.map((k) => k + 1).join(", ")}`);

  await page.reload();
  await waitReady(page);
  for (const k of following) {
    check((await page.getAttribute(thumb(k), "data-status")) === "draft", `frame ${k + 1} is annotated after the reload`);
    await page.click(thumb(k));
    await page.waitForURL((url) => url.searchParams.get("frame") === String(k));
    await waitReady(page);
    await page.waitForSelector(sel("instance-0"));
    check((await page.getAttribute(sel("instance-0"), "data-label")) === "dog", `frame ${k + 1} has the propagated dog after the reload`);
  }
  log("after reloading, every following frame has its saved dog");

  const stored = await annotated();
  for (const k of following) {
    const annotation = stored.find((a) => a.frame_index === k);
    check(annotation && annotation.instances.some((i) => i.label === "dog"), `the API has the dog on frame ${k + 1}`);
  }
  log(`the API has the dog on ${stored.length} following frames`);
});
