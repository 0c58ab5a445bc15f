import { describe, expect, it } from "vitest";
import { decodeRle, encodeRle } from "../model/rle";
import { settle } from "../model/testing/fakeScheduler";
import { PROPAGATION_POLL_MS } from "./session";
import { disc, FakeServer, open } from "./testing/fakeServer";

/** Open the clip, paint a dog on frame 0 (selected) and propagate it forward to the clip's end. */
async function propagated(server = new FakeServer()) {
  const opened = await open(server);
  const { session, scheduler } = opened;
  session.applyEdit([{ instanceId: null, mask: disc(4, 4, 2) }]);
  await session.startPropagation();
  for (let k = 0; k < 3; k++) {
    scheduler.advance(PROPAGATION_POLL_MS);
    await settle();
  }
  return opened;
}

describe("mask propagation in the annotator", () => {
  it("propagates the selected unsaved masks, follows the job, then shows the result in the overlay and the filmstrip", async () => {
    const server = new FakeServer();
    const { session, scheduler, snap } = await open(server);
    session.applyEdit([{ instanceId: null, mask: disc(4, 4, 2) }]);
    expect(snap().selectedIds).toHaveLength(1);
    expect(snap().propagateEnd).toBe(2); // the clip's end by default

    await session.startPropagation();
    expect(server.puts).toHaveLength(0); // the frame's state as it is, saved or not
    expect(server.propagationStarts).toHaveLength(1);
    const start = server.propagationStarts[0];
    expect(start).toMatchObject({ frame_index: 0, direction: "forward", end_frame_index: 2 });
    expect(start.instances.map((i) => i.label)).toEqual(["dog"]);
    expect(decodeRle(start.instances[0].mask).data).toEqual(disc(4, 4, 2).data);
    expect(snap().propagationRun).toMatchObject({ id: 300, status: "queued" });

    scheduler.advance(PROPAGATION_POLL_MS);
    await settle();
    expect(snap().propagationRun).toMatchObject({ status: "running", progress: 0.5 });
    expect(snap().propagationId).toBeNull();

    scheduler.advance(PROPAGATION_POLL_MS);
    await settle();
    expect(snap().propagationRun!.status).toBe("succeeded");
    expect(snap().propagationId).toBe(300);
    expect(snap().proposalId).toBeNull(); // the overlay shows the propagation now
    expect(snap().frameMarks.map((m) => m.propagated)).toEqual([false, true, true]);
    expect(snap().notice!.text).toMatch(/^Propagated to 2 frames/);
    session.nextFrame();
    expect(snap().overlayInstances.map((i) => i.label)).toEqual(["dog"]);
    expect(scheduler.pending).toBeLessThanOrEqual(1); // polling stopped (only frame 0's autosave is left)

    session.setProposal(77);
    expect(snap().propagationId).toBeNull();
    expect(snap().overlayInstances).toHaveLength(0); // the proposal has nothing on frame 1
  });

  it("without a tracker the action shows the server's reason and nothing runs", async () => {
    const server = new FakeServer();
    server.tracker = false;
    const { session, snap } = await open(server);
    session.applyEdit([{ instanceId: null, mask: disc(4, 4, 2) }]);
    await session.startPropagation();
    expect(snap().propagationError).toMatch(/^Propagation is not available: .*models\.tracker.*AVS_MODEL_CONFIG/);
    expect(snap().propagationRun).toBeNull();
    expect(snap().phase).toBe("ready");
  });

  it("explains what is missing before asking the server", async () => {
    const server = new FakeServer();
    const { session, snap } = await open(server);
    await session.startPropagation();
    expect(snap().propagationError).toMatch(/^Select the instance\(s\) to propagate/);
    session.applyEdit([{ instanceId: null, mask: disc(4, 4, 2) }]);
    session.setPropagateDirection("backward");
    expect(snap().propagateEnd).toBe(0);
    await session.startPropagation();
    expect(snap().propagationError).toBe("This is the first frame: nothing precedes it to propagate to.");
    session.setPropagateDirection("forward");
    session.setPropagateEnd(1);
    await session.startPropagation();
    expect(server.propagationStarts.map((s) => s.end_frame_index)).toEqual([1]);
  });

  it("propagates backward from a later frame", async () => {
    const server = new FakeServer();
    const { session, scheduler, snap } = await open(server, 2);
    session.applyEdit([{ instanceId: null, mask: disc(4, 4, 2) }]);
    session.setPropagateDirection("backward");
    await session.startPropagation();
    expect(server.propagationStarts[0]).toMatchObject({ frame_index: 2, direction: "backward", end_frame_index: 0 });
    for (let k = 0; k < 2; k++) {
      scheduler.advance(PROPAGATION_POLL_MS);
      await settle();
    }
    expect(snap().frameMarks.map((m) => [m.propagated, m.source])).toEqual([
      [true, false],
      [true, false],
      [false, true],
    ]);
    await session.acceptPropagationRange();
    expect(snap().statuses).toEqual(["draft", "draft", "draft"]);
  });

  it("a failed job shows its error", async () => {
    const server = new FakeServer();
    server.failWith = "the tracker ran out of memory";
    const { snap } = await propagated(server);
    expect(snap().propagationRun).toMatchObject({ status: "failed", error: "the tracker ran out of memory" });
    expect(snap().propagationId).toBeNull();
  });

  it("marks silent and uncertain frames; accepting on a frame takes sounding masks only, saved and undone like an edit", async () => {
    const server = new FakeServer();
    server.silentFrames.add(2);
    server.lowConfidenceFrames.add(1);
    const { session, scheduler, snap } = await propagated(server);
    expect(snap().frameMarks.map((m) => m.check)).toEqual([false, true, false]);
    expect(snap().frameMarks.map((m) => m.silentLabels)).toEqual([[], [], ["dog"]]);

    session.nextFrame();
    session.acceptPropagationFrame();
    expect(snap().doc!.instances.map((i) => [i.label, i.trackOf])).toEqual([["dog", "300:0"]]);
    session.acceptPropagationFrame(); // again: the same track's instance is replaced, not doubled
    expect(snap().doc!.instances).toHaveLength(1);
    scheduler.advance(1500);
    await settle();
    expect(server.annotations.get(101)!.instances.map((i) => i.label)).toEqual(["dog"]);
    session.undo();
    session.undo();
    expect(snap().doc!.instances).toHaveLength(0);

    session.nextFrame(); // frame 2: the dog is visible but silent
    session.acceptPropagationFrame();
    expect(snap().doc!.instances).toHaveLength(0);
    expect(snap().notice!.text).toMatch(/Only silent instances here/);
    session.setIncludeSilent(true);
    session.acceptPropagationFrame();
    expect(snap().doc!.instances).toHaveLength(1);
  });

  it("accepts the range against the known versions, leaves silent frames out, and one undo restores every frame", async () => {
    const server = new FakeServer();
    server.store(101, [{ label: "cat", mask: encodeRle(disc(12, 8, 2)) }]);
    server.silentFrames.add(2);
    const { session, scheduler, snap } = await propagated(server);
    await session.acceptPropagationRange();
    expect(server.propagationAccepts).toEqual([{ frame_indexes: null, include_silent: false, base_versions: { "1": 1, "2": null } }]);
    expect(snap().statuses).toEqual(["draft", "draft", "none"]); // frame 0 autosaved meanwhile; frame 2 silent
    expect(snap().notice!.text).toBe("Accepted the propagation on 1 frame; 1 silent frame left out. Undo (Ctrl+Z) restores what they had.");
    session.setFrame(1);
    expect(snap().doc!.instances.map((i) => i.label)).toEqual(["cat", "dog"]);
    expect(snap().save.kind).toBe("saved");

    session.setFrame(0);
    expect(snap().canUndo).toBe(true);
    session.undo(); // one step, whatever frame is shown
    session.setFrame(1);
    expect(snap().doc!.instances.map((i) => i.label)).toEqual(["cat"]);
    scheduler.advance(1500);
    await settle();
    expect(server.puts.at(-1)).toMatchObject({ frameId: 101, version: 2 });
    expect(server.annotations.get(101)!.instances.map((i) => i.label)).toEqual(["cat"]);
    session.redo();
    expect(snap().doc!.instances.map((i) => i.label)).toEqual(["cat", "dog"]);
  });

  it("a range where the object never sounds is left out until silent frames are included", async () => {
    const server = new FakeServer();
    server.silentFrames.add(1).add(2);
    const { session, snap } = await propagated(server);
    await session.acceptPropagationRange();
    expect(snap().notice!.text).toBe("Nothing accepted; 2 silent frames left out (tick “include silent frames” to accept them).");
    expect([server.annotations.has(101), server.annotations.has(102)]).toEqual([false, false]);
    session.undo(); // no empty range step: undo takes back frame 1's stroke
    expect(snap().doc!.instances).toHaveLength(0);
    session.redo();
    session.setIncludeSilent(true);
    await session.acceptPropagationRange();
    expect(server.propagationAccepts.at(-1)!.include_silent).toBe(true);
    expect(snap().statuses).toEqual(["draft", "draft", "draft"]);
  });

  it("a stale frame stops the range accept, is named and reloaded; accepting again then works", async () => {
    const server = new FakeServer();
    server.store(101, [{ label: "cat", mask: encodeRle(disc(12, 8, 2)) }]);
    const { session, snap } = await propagated(server);
    server.store(101, [{ label: "their cat", mask: encodeRle(disc(12, 8, 3)) }]); // someone else, version 2
    await session.acceptPropagationRange();
    expect(snap().staleFrames).toEqual([1]);
    expect(snap().notice).toMatchObject({ kind: "error" });
    expect(snap().notice!.text).toMatch(/^Nothing was accepted: frame 2 changed on the server/);
    expect(server.annotations.has(102)).toBe(false); // all or nothing
    session.setFrame(1);
    expect(snap().doc!.instances.map((i) => i.label)).toEqual(["their cat"]);

    await session.acceptPropagationRange();
    expect(server.propagationAccepts.at(-1)!.base_versions).toEqual({ "1": 2, "2": null });
    expect(snap().staleFrames).toEqual([]);
    expect(snap().doc!.instances.map((i) => i.label)).toEqual(["their cat", "dog"]);
    expect(server.annotations.get(102)!.instances.map((i) => i.label)).toEqual(["dog"]);
  });

  it("a range accept refused for another reason (e.g. a frame locked by a reviewer) shows the server's message", async () => {
    const server = new FakeServer();
    const { session, snap } = await propagated(server);
    server.store(102, [], { status: "accepted" });
    await session.refreshAnnotations();
    await session.acceptPropagationRange();
    expect(snap().notice).toMatchObject({ kind: "error", text: "Nothing was accepted: frames 2 were accepted by a reviewer." });
    expect(snap().staleFrames).toEqual([]);
  });

  it("an edit after the range accept is what the next undo takes back", async () => {
    const { session, snap } = await propagated();
    await session.acceptPropagationRange();
    session.setFrame(2);
    session.applyEdit([{ instanceId: null, mask: disc(10, 6, 2) }]);
    session.undo();
    expect(snap().doc!.instances.map((i) => i.label)).toEqual(["dog"]); // the accepted mask stays
    session.setFrame(1);
    expect(snap().doc!.instances).toHaveLength(1);
  });
});
